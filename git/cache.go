package git

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net"
	neturl "net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	gosync "sync"

	"github.com/go-git/go-billy/v5/osfs"
	gogit "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/cache"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/transport"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	gitssh "github.com/go-git/go-git/v5/plumbing/transport/ssh"
	"github.com/go-git/go-git/v5/storage/filesystem"
	"github.com/go-git/go-git/v5/storage/memory"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// Credentials for a repository: over HTTPS a username and password (or a
// token as the password); over SSH a private key and the known_hosts lines
// the server's key must match (required: an unknown or changed host key is
// refused). They never appear in errors.
type Credentials struct {
	Username, Password string
	SSHPrivateKey      []byte
	KnownHosts         []byte
}

// ErrHostKey is returned when an SSH server's key is unknown or wrong.
var ErrHostKey = errors.New("SSH host key not in known_hosts")

// authFor builds the transport auth for cred; for SSH it writes the
// known_hosts lines to a content-addressed private file in the cache (the
// knownhosts package reads files), so cred itself is never modified.
func (c *Cache) authFor(cred *Credentials) (transport.AuthMethod, error) {
	if cred == nil || (cred.Username == "" && cred.Password == "" && len(cred.SSHPrivateKey) == 0) {
		return nil, nil
	}
	if len(cred.SSHPrivateKey) == 0 {
		user := cred.Username
		if user == "" {
			user = "git" // token-only: most providers accept any user name
		}
		return &githttp.BasicAuth{Username: user, Password: cred.Password}, nil
	}
	if len(cred.KnownHosts) == 0 {
		return nil, fmt.Errorf("%w: known_hosts is required for SSH", ErrHostKey)
	}
	sum := sha256.Sum256(cred.KnownHosts)
	file := filepath.Join(c.opts.Dir, "known_hosts-"+hex.EncodeToString(sum[:8]))
	if _, err := os.Stat(file); err != nil {
		// Content-addressed, written once by rename: readers never see a
		// partly written file.
		tmp, err := os.CreateTemp(c.opts.Dir, "known_hosts-*.tmp")
		if err != nil {
			return nil, fmt.Errorf("known_hosts: %w", err)
		}
		_, werr := tmp.Write(cred.KnownHosts)
		cerr := tmp.Close()
		if err := errors.Join(werr, cerr, os.Rename(tmp.Name(), file)); err != nil {
			os.Remove(tmp.Name())
			return nil, fmt.Errorf("known_hosts: %w", err)
		}
	}
	return sshAuth(cred, file)
}

func sshAuth(c *Credentials, knownHostsFile string) (transport.AuthMethod, error) {
	user := c.Username
	if user == "" {
		user = "git"
	}
	keys, err := gitssh.NewPublicKeys(user, c.SSHPrivateKey, "")
	if err != nil {
		return nil, fmt.Errorf("SSH private key: %w", err)
	}
	cb, err := knownhosts.New(knownHostsFile)
	if err != nil {
		return nil, fmt.Errorf("known_hosts: %w", err)
	}
	keys.HostKeyCallback = func(host string, remote net.Addr, key ssh.PublicKey) error {
		if err := cb(host, remote, key); err != nil {
			return fmt.Errorf("%w: %s presented %s %s: %v", ErrHostKey, host, key.Type(), ssh.FingerprintSHA256(key), err)
		}
		return nil
	}
	return keys, nil
}

// CacheOptions configure a Cache.
type CacheOptions struct {
	// Dir holds one bare repository per remote.
	Dir string
	// MaxRepoBytes caps the disk a repository may use (default 1 GiB).
	MaxRepoBytes int64
	// AllowHTTP permits plain http:// remotes (https and ssh always are).
	AllowHTTP bool
}

// Cache keeps one shallow bare clone per remote on local disk, shared by
// every App of that repository. Polls are cheap: Resolve asks the remote
// which commit a ref names (ls-remote) and Fetch downloads only when that
// commit is not already here.
type Cache struct {
	opts  CacheOptions
	mu    gosync.Mutex
	repos map[string]*cachedRepo
}

type cachedRepo struct {
	mu  gosync.Mutex // one fetch at a time per repository
	dir string
	l   *Local
}

// NewCache returns a cache rooted at opts.Dir.
func NewCache(opts CacheOptions) (*Cache, error) {
	if opts.MaxRepoBytes <= 0 {
		opts.MaxRepoBytes = 1 << 30
	}
	if err := os.MkdirAll(opts.Dir, 0o700); err != nil {
		return nil, err
	}
	return &Cache{opts: opts, repos: map[string]*cachedRepo{}}, nil
}

var commitHash = regexp.MustCompile(`^[0-9a-f]{40}$`)

// Revision is what a ref names on the remote at one moment.
type Revision struct {
	// Ref is the full ref name (refs/heads/main, refs/tags/v1); empty when
	// the App names a commit.
	Ref string
	// Commit is the commit hash.
	Commit string
}

// Resolve asks the remote (ls-remote) which commit ref names now: a branch,
// a tag, a full ref name, "" for the remote's default branch, or a full
// commit hash, which is returned without asking.
//
// The remote is asked even for a commit hash: the cache is shared by every
// App of a repository, and an App must not reach cached content with
// credentials that the remote would refuse.
func (c *Cache) Resolve(ctx context.Context, url, ref string, cred *Credentials) (Revision, error) {
	if err := CheckURL(url, c.opts.AllowHTTP); err != nil {
		return Revision{}, err
	}
	auth, err := c.authFor(cred)
	if err != nil {
		return Revision{}, fmt.Errorf("%s: %w", Redact(url), err)
	}
	remote := gogit.NewRemote(memory.NewStorage(), &config.RemoteConfig{Name: "origin", URLs: []string{url}})
	refs, err := remote.ListContext(ctx, &gogit.ListOptions{Auth: auth, PeelingOption: gogit.AppendPeeled})
	if err != nil {
		return Revision{}, fmt.Errorf("%s: ls-remote: %w", Redact(url), scrubErr(err, url, cred))
	}
	if commitHash.MatchString(ref) {
		return Revision{Commit: ref}, nil
	}
	byName := map[plumbing.ReferenceName]*plumbing.Reference{}
	for _, r := range refs {
		byName[r.Name()] = r
	}
	var candidates []plumbing.ReferenceName
	switch {
	case ref == "":
		head, ok := byName[plumbing.HEAD]
		if !ok || head.Type() != plumbing.SymbolicReference {
			return Revision{}, fmt.Errorf("%s: the remote names no default branch; set a ref", Redact(url))
		}
		candidates = []plumbing.ReferenceName{head.Target()}
	case strings.HasPrefix(ref, "refs/"):
		candidates = []plumbing.ReferenceName{plumbing.ReferenceName(ref)}
	default:
		// As git rev-parse: a tag wins over a branch of the same name.
		candidates = []plumbing.ReferenceName{plumbing.NewTagReferenceName(ref), plumbing.NewBranchReferenceName(ref)}
	}
	for _, n := range candidates {
		r, ok := byName[n]
		if !ok || r.Type() != plumbing.HashReference {
			continue
		}
		// An annotated tag is listed twice; "^{}" is the commit it tags.
		if peeled, ok := byName[plumbing.ReferenceName(n.String()+"^{}")]; ok {
			r = peeled
		}
		return Revision{Ref: n.String(), Commit: r.Hash().String()}, nil
	}
	return Revision{}, fmt.Errorf("%s: ref %q not found on the remote", Redact(url), ref)
}

// Fetch makes sure rev's commit is in the cache, downloading nothing when it
// already is. A branch or tag is fetched shallow and alone, without other
// tags; a bare commit hash needs the full history of the remote's branches.
func (c *Cache) Fetch(ctx context.Context, url string, rev Revision, cred *Credentials) error {
	if err := CheckURL(url, c.opts.AllowHTTP); err != nil {
		return err
	}
	cr, err := c.repo(url, rev.Ref == "")
	if err != nil {
		return err
	}
	auth, err := c.authFor(cred)
	if err != nil {
		return fmt.Errorf("%s: %w", Redact(url), err)
	}
	cr.mu.Lock()
	defer cr.mu.Unlock()
	if cr.has(rev.Commit) {
		return nil
	}
	opts := &gogit.FetchOptions{RemoteURL: url, Auth: auth, Tags: gogit.NoTags, Force: true, Depth: 1}
	if rev.Ref == "" {
		opts.Depth = 0
		opts.RefSpecs = []config.RefSpec{"+refs/heads/*:refs/heads/*"}
	} else {
		opts.RefSpecs = []config.RefSpec{config.RefSpec("+" + rev.Ref + ":" + rev.Ref)}
	}
	err = cr.l.repo.FetchContext(ctx, opts)
	if err != nil && !errors.Is(err, gogit.NoErrAlreadyUpToDate) {
		return fmt.Errorf("%s: fetch %s: %w", Redact(url), rev.Ref, scrubErr(err, url, cred))
	}
	if size := dirSize(cr.dir); size > c.opts.MaxRepoBytes {
		c.drop(cr)
		return fmt.Errorf("%s: %w: %d bytes on disk, cap %d", Redact(url), ErrTooLarge, size, c.opts.MaxRepoBytes)
	}
	if !cr.has(rev.Commit) {
		return fmt.Errorf("%s: commit %s not found after fetching %s", Redact(url), short(rev.Commit), rev.Ref)
	}
	return nil
}

// Has reports whether rev's commit is already in the cache, that is whether
// Fetch would download nothing.
func (c *Cache) Has(url string, rev Revision) bool {
	cr, err := c.repo(url, rev.Ref == "")
	if err != nil {
		return false
	}
	cr.mu.Lock()
	defer cr.mu.Unlock()
	return cr.has(rev.Commit)
}

// Local returns the cached repository that holds rev (after Fetch), for
// ContentHash and Export.
func (c *Cache) Local(url string, rev Revision) (*Local, error) {
	cr, err := c.repo(url, rev.Ref == "")
	if err != nil {
		return nil, err
	}
	return cr.l, nil
}

// repo returns the cached clone of url: shallow for branches and tags, or
// full for Apps pinned to a commit. They are kept apart because go-git
// cannot deepen a shallow clone, so a pinned older commit would never
// arrive in a repository that a branch-tracking App fetched shallow.
func (c *Cache) repo(url string, full bool) (*cachedRepo, error) {
	key, err := NormalizeURL(url)
	if err != nil {
		return nil, err
	}
	if full {
		key += "#full"
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if cr, ok := c.repos[key]; ok {
		return cr, nil
	}
	sum := sha256.Sum256([]byte(key))
	dir := filepath.Join(c.opts.Dir, hex.EncodeToString(sum[:8]))
	// go-git's default object cache holds up to 96 MiB per repository; a
	// controller serving many repositories keeps a small one each (a render
	// reads each blob once per revision anyway).
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("%s: cache: %w", Redact(url), err)
	}
	st := filesystem.NewStorage(osfs.New(dir), cache.NewObjectLRU(8*cache.MiByte))
	r, err := gogit.Open(st, nil)
	if errors.Is(err, gogit.ErrRepositoryNotExists) {
		r, err = gogit.Init(st, nil)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: cache: %w", Redact(url), err)
	}
	// go-git fetches through a configured remote; the URL given to each
	// fetch overrides it, so the stored one carries no credentials.
	if _, err := r.Remote("origin"); errors.Is(err, gogit.ErrRemoteNotFound) {
		if _, err := r.CreateRemote(&config.RemoteConfig{Name: "origin", URLs: []string{withoutUserinfo(url)}}); err != nil {
			return nil, fmt.Errorf("%s: cache: %w", Redact(url), err)
		}
	}
	cr := &cachedRepo{dir: dir, l: &Local{repo: r}}
	c.repos[key] = cr
	return cr, nil
}

// drop forgets an oversized repository. Its directory is renamed away
// first, so a new entry for the same URL starts from an empty directory
// while anyone still holding the old one sees it disappear whole.
func (c *Cache) drop(cr *cachedRepo) {
	c.mu.Lock()
	for k, v := range c.repos {
		if v == cr {
			delete(c.repos, k)
		}
	}
	c.mu.Unlock()
	gone := cr.dir + ".removed"
	if err := os.Rename(cr.dir, gone); err == nil {
		_ = os.RemoveAll(gone)
	}
}

func (cr *cachedRepo) has(commit string) bool {
	_, err := cr.l.repo.CommitObject(plumbing.NewHash(commit))
	return err == nil
}

// ContentHash digests what paths hold in commit: the git object hash of
// each (a directory's tree, a file's blob; "-" for a path the commit lacks),
// so equal digests mean identical content under every path. Paths are
// slash-separated and relative to the root; "", "." and "/" mean the root,
// and a trailing "/" is ignored (render.Inputs writes directories so). A
// render cache keys on the digest of a render's inputs.
func (l *Local) ContentHash(commit string, paths []string) (string, error) {
	t, err := l.tree(commit)
	if err != nil {
		return "", err
	}
	h := sha256.New()
	for _, raw := range paths {
		p := strings.Trim(filepath.ToSlash(filepath.Clean(raw)), "/")
		id := "-"
		switch e, err := t.FindEntry(p); {
		case p == "" || p == ".":
			id = t.Hash.String()
		case err == nil:
			id = e.Hash.String()
		case !errors.Is(err, object.ErrEntryNotFound) && !errors.Is(err, object.ErrDirectoryNotFound):
			return "", fmt.Errorf("%s at %s: %w", p, short(commit), err)
		}
		fmt.Fprintf(h, "%s\x00%s\n", p, id)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func dirSize(dir string) int64 {
	var n int64
	_ = filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if info, err := d.Info(); err == nil {
				n += info.Size()
			}
		}
		return nil
	})
	return n
}

func withoutUserinfo(raw string) string {
	u, err := neturl.Parse(strings.TrimSpace(raw))
	if err != nil {
		return redactUnparsable(raw)
	}
	u.User = nil
	return u.String()
}
