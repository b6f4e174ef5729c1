package git

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"strings"
	"testing"

	"github.com/go-git/go-git/v5/plumbing"
	"golang.org/x/crypto/ssh"

	"github.com/plumbhq/plumb/internal/gittest"
)

func newCacheFixture(t *testing.T) (*gittest.Server, *gittest.Repo, *Cache) {
	t.Helper()
	srv, err := gittest.NewServer(gittest.Options{Username: "plumb", Password: "pa55-w0rd-xyz"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	repo, err := srv.CreateRepo("mono")
	if err != nil {
		t.Fatal(err)
	}
	cache, err := NewCache(CacheOptions{Dir: t.TempDir(), AllowHTTP: true})
	if err != nil {
		t.Fatal(err)
	}
	return srv, repo, cache
}

var goodCred = &Credentials{Username: "plumb", Password: "pa55-w0rd-xyz"}

func TestCacheResolveRefs(t *testing.T) {
	ctx := context.Background()
	_, repo, cache := newCacheFixture(t)
	c1, err := repo.Commit("main", gittest.Files(map[string]string{"a/x.yaml": "1"}), "one")
	if err != nil {
		t.Fatal(err)
	}
	c2, err := repo.Update("main", gittest.Files(map[string]string{"a/x.yaml": "2"}), nil, "two")
	if err != nil {
		t.Fatal(err)
	}
	if err := repo.Tag("v1", c1); err != nil {
		t.Fatal(err)
	}
	if err := repo.AnnotatedTag("v2", c1, "release v2"); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		ref  string
		want Revision
	}{
		{"main", Revision{Ref: "refs/heads/main", Commit: c2}},
		{"", Revision{Ref: "refs/heads/main", Commit: c2}},
		{"v1", Revision{Ref: "refs/tags/v1", Commit: c1}},
		{"refs/tags/v1", Revision{Ref: "refs/tags/v1", Commit: c1}},
		{"v2", Revision{Ref: "refs/tags/v2", Commit: c1}},
		{c1, Revision{Commit: c1}},
	}
	for _, tt := range tests {
		t.Run("ref "+tt.ref, func(t *testing.T) {
			got, err := cache.Resolve(ctx, repo.URL, tt.ref, goodCred)
			if err != nil || got != tt.want {
				t.Errorf("Resolve(%q) = %+v, %v; want %+v", tt.ref, got, err, tt.want)
			}
		})
	}
	// An annotated tag's commit can be fetched.
	if rev, err := cache.Resolve(ctx, repo.URL, "v2", goodCred); err != nil || cache.Fetch(ctx, repo.URL, rev, goodCred) != nil {
		t.Errorf("annotated tag: %+v, %v", rev, err)
	}
	// A commit hash is still checked against the remote's access control.
	if _, err := cache.Resolve(ctx, repo.URL, c1, &Credentials{Username: "plumb", Password: "wrong"}); err == nil {
		t.Error("a commit hash resolved with credentials the remote refuses")
	}
	if _, err := cache.Resolve(ctx, repo.URL, "nope", goodCred); err == nil || !strings.Contains(err.Error(), `ref "nope" not found`) {
		t.Errorf("unknown ref: %v", err)
	}
	_, err = cache.Resolve(ctx, strings.Replace(repo.URL, "http://", "http://plumb:pa55-w0rd-xyz@", 1), "main", &Credentials{Username: "plumb", Password: "wrong-pass"})
	if err == nil || strings.Contains(err.Error(), "pa55-w0rd-xyz") || strings.Contains(err.Error(), "wrong-pass") {
		t.Errorf("bad credentials: err %v (must fail without showing a password)", err)
	}
}

func TestCacheFetchesOnlyWhatChanged(t *testing.T) {
	ctx := context.Background()
	srv, repo, cache := newCacheFixture(t)
	if _, err := repo.Commit("main", gittest.Files(map[string]string{"apps/a/cm.yaml": "a1", "apps/b/cm.yaml": "b1"}), "one"); err != nil {
		t.Fatal(err)
	}
	if _, err := repo.Update("main", gittest.Files(map[string]string{"apps/a/cm.yaml": "a2"}), nil, "two"); err != nil {
		t.Fatal(err)
	}
	rev, err := cache.Resolve(ctx, repo.URL, "main", goodCred)
	if err != nil {
		t.Fatal(err)
	}
	if err := cache.Fetch(ctx, repo.URL, rev, goodCred); err != nil {
		t.Fatal(err)
	}
	l, err := cache.Local(repo.URL, rev)
	if err != nil {
		t.Fatal(err)
	}
	head, _ := l.repo.CommitObject(plumbing.NewHash(rev.Commit))
	if _, err := l.repo.CommitObject(head.ParentHashes[0]); err == nil {
		t.Error("the fetch was not shallow: the parent commit is in the cache")
	}
	before := srv.Requests()
	if err := cache.Fetch(ctx, repo.URL, rev, goodCred); err != nil {
		t.Fatal(err)
	}
	if n := srv.Requests() - before; n != 0 {
		t.Errorf("fetching a commit already cached made %d requests", n)
	}
	hash := func(commit string, paths ...string) string {
		t.Helper()
		h, err := l.ContentHash(commit, paths)
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	treeA, treeB := hash(rev.Commit, "apps/a/"), hash(rev.Commit, "apps/b")

	// A commit that touches only b.
	if _, err := repo.Update("main", gittest.Files(map[string]string{"apps/b/cm.yaml": "b2"}), nil, "three"); err != nil {
		t.Fatal(err)
	}
	rev2, err := cache.Resolve(ctx, repo.URL, "main", goodCred)
	if err != nil || rev2.Commit == rev.Commit {
		t.Fatalf("resolve after a push: %+v, %v", rev2, err)
	}
	if err := cache.Fetch(ctx, repo.URL, rev2, goodCred); err != nil {
		t.Fatal(err)
	}
	treeA2, treeB2 := hash(rev2.Commit, "apps/a/"), hash(rev2.Commit, "apps/b")
	if treeA2 != treeA || treeB2 == treeB {
		t.Errorf("content hashes: a %s->%s (want same), b %s->%s (want changed)", treeA, treeA2, treeB, treeB2)
	}
	if hash(rev2.Commit, "apps/b/cm.yaml") == hash(rev.Commit, "apps/b/cm.yaml") {
		t.Error("a changed file kept its content hash")
	}
	if hash(rev2.Commit, "apps/none") == hash(rev2.Commit, "apps/other") {
		t.Error("two missing paths hash alike: the path must be part of the digest")
	}
}

func TestCacheSizeCap(t *testing.T) {
	ctx := context.Background()
	_, repo, _ := newCacheFixture(t)
	if _, err := repo.Commit("main", gittest.Files(map[string]string{"big.txt": strings.Repeat("incompressible? no, but big enough ", 2000)}), "big"); err != nil {
		t.Fatal(err)
	}
	cache, err := NewCache(CacheOptions{Dir: t.TempDir(), MaxRepoBytes: 512, AllowHTTP: true})
	if err != nil {
		t.Fatal(err)
	}
	rev, err := cache.Resolve(ctx, repo.URL, "main", goodCred)
	if err != nil {
		t.Fatal(err)
	}
	if err := cache.Fetch(ctx, repo.URL, rev, goodCred); !errors.Is(err, ErrTooLarge) {
		t.Errorf("fetch over the cap: %v", err)
	}
}

func TestCacheOverSSHWithKnownHosts(t *testing.T) {
	ctx := context.Background()
	srv, repo, cache := newCacheFixture(t)
	c1, err := repo.Commit("main", gittest.Files(map[string]string{"apps/a/cm.yaml": "a1"}), "one")
	if err != nil {
		t.Fatal(err)
	}
	_, clientKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := ssh.NewSignerFromKey(clientKey)
	if err != nil {
		t.Fatal(err)
	}
	pemKey, err := ssh.MarshalPrivateKey(clientKey, "")
	if err != nil {
		t.Fatal(err)
	}
	sshSrv, err := srv.ServeSSH(signer.PublicKey())
	if err != nil {
		t.Fatal(err)
	}
	defer sshSrv.Close()
	url := "ssh://git@" + sshSrv.Addr + "/mono.git"
	cred := &Credentials{SSHPrivateKey: pem.EncodeToMemory(pemKey), KnownHosts: sshSrv.KnownHosts()}

	rev, err := cache.Resolve(ctx, url, "main", cred)
	if err != nil || rev.Commit != c1 {
		t.Fatalf("resolve over SSH: %+v, %v", rev, err)
	}
	if err := cache.Fetch(ctx, url, rev, cred); err != nil {
		t.Fatalf("fetch over SSH: %v", err)
	}

	// A different host key under the same name is refused, clearly.
	other, _, _ := ed25519.GenerateKey(rand.Reader)
	otherPub, _ := ssh.NewPublicKey(other)
	host := strings.SplitN(string(sshSrv.KnownHosts()), " ", 2)[0]
	wrong := &Credentials{SSHPrivateKey: cred.SSHPrivateKey, KnownHosts: []byte(host + " " + string(ssh.MarshalAuthorizedKey(otherPub)))}
	if _, err := cache.Resolve(ctx, url, "main", wrong); !errors.Is(err, ErrHostKey) || !strings.Contains(err.Error(), "SHA256:") {
		t.Errorf("wrong host key: %v, want ErrHostKey with the presented fingerprint", err)
	}
	if _, err := cache.Resolve(ctx, url, "main", &Credentials{SSHPrivateKey: cred.SSHPrivateKey}); !errors.Is(err, ErrHostKey) {
		t.Errorf("no known_hosts: %v, want ErrHostKey", err)
	}
}

// An App pinned to an older commit shares the cache with Apps that track
// the branch (a shallow fetch): the pinned commit must still be found.
func TestCacheCommitRefAfterShallowBranchFetch(t *testing.T) {
	ctx := context.Background()
	_, repo, cache := newCacheFixture(t)
	old, err := repo.Commit("main", gittest.Files(map[string]string{"a": "1"}), "old")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := repo.Update("main", gittest.Files(map[string]string{"a": "2"}), nil, "new"); err != nil {
		t.Fatal(err)
	}
	branch, err := cache.Resolve(ctx, repo.URL, "main", goodCred)
	if err != nil {
		t.Fatal(err)
	}
	if err := cache.Fetch(ctx, repo.URL, branch, goodCred); err != nil {
		t.Fatal(err)
	}
	pinned, err := cache.Resolve(ctx, repo.URL, old, goodCred)
	if err != nil {
		t.Fatal(err)
	}
	if err := cache.Fetch(ctx, repo.URL, pinned, goodCred); err != nil {
		t.Fatalf("pinned commit after a shallow fetch: %v", err)
	}
	l, _ := cache.Local(repo.URL, pinned)
	if h, err := l.ContentHash(old, []string{"."}); err != nil || h == "" {
		t.Errorf("tree of the pinned commit: %q, %v", h, err)
	}
}
