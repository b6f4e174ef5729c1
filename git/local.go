package git

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	gosync "sync"

	gogit "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// ErrTooLarge is returned when an export would exceed its byte cap.
var ErrTooLarge = errors.New("repository content over the size cap")

// Local is a repository already on disk (a CI checkout, a developer's clone).
type Local struct {
	repo *gogit.Repository
	// measured holds the commits whose trees passed checkTree.
	mu       gosync.Mutex
	measured map[string]bool
}

// OpenLocal opens the repository at dir (a work tree or a bare repository)
// or the work tree that contains dir.
func OpenLocal(dir string) (*Local, error) {
	r, err := gogit.PlainOpen(dir)
	if errors.Is(err, gogit.ErrRepositoryNotExists) {
		r, err = gogit.PlainOpenWithOptions(dir, &gogit.PlainOpenOptions{DetectDotGit: true})
	}
	if err != nil {
		return nil, fmt.Errorf("%s: open repository: %w", dir, err)
	}
	return &Local{repo: r}, nil
}

// RemoteURL returns the URL of the named remote, or "" when there is none.
func (l *Local) RemoteURL(name string) string {
	r, err := l.repo.Remote(name)
	if err != nil || len(r.Config().URLs) == 0 {
		return ""
	}
	return r.Config().URLs[0]
}

// Resolve turns a branch, tag, remote branch, commit or expression such as
// HEAD~1 into a commit hash.
func (l *Local) Resolve(rev string) (string, error) {
	h, err := l.repo.ResolveRevision(plumbing.Revision(rev))
	if err != nil {
		return "", fmt.Errorf("revision %q: %w", rev, err)
	}
	return h.String(), nil
}

func (l *Local) tree(commit string) (*object.Tree, error) {
	c, err := l.repo.CommitObject(plumbing.NewHash(commit))
	if err != nil {
		return nil, fmt.Errorf("commit %s: %w", commit, err)
	}
	t, err := c.Tree()
	if err != nil {
		return nil, err
	}
	l.mu.Lock()
	done := l.measured[commit]
	l.mu.Unlock()
	if !done {
		if err := l.checkTree(commit, t); err != nil {
			return nil, err
		}
		l.mu.Lock()
		if l.measured == nil {
			l.measured = map[string]bool{}
		}
		l.measured[commit] = true
		l.mu.Unlock()
	}
	return t, nil
}

// ChangedFiles lists the paths (old and new names) that differ between two
// commits.
func (l *Local) ChangedFiles(ctx context.Context, base, head string) ([]string, error) {
	bt, err := l.tree(base)
	if err != nil {
		return nil, err
	}
	ht, err := l.tree(head)
	if err != nil {
		return nil, err
	}
	changes, err := object.DiffTreeWithOptions(ctx, bt, ht, &object.DiffTreeOptions{})
	if err != nil {
		return nil, fmt.Errorf("diff %s..%s: %w", short(base), short(head), err)
	}
	seen := map[string]bool{}
	var out []string
	for _, c := range changes {
		for _, name := range []string{c.From.Name, c.To.Name} {
			if name != "" && !seen[name] {
				seen[name] = true
				out = append(out, name)
			}
		}
	}
	return out, nil
}

// ReadFile returns one file of a commit.
func (l *Local) ReadFile(commit, name string) ([]byte, error) {
	t, err := l.tree(commit)
	if err != nil {
		return nil, err
	}
	f, err := t.File(name)
	if err != nil {
		return nil, fmt.Errorf("%s at %s: %w", name, short(commit), err)
	}
	s, err := f.Contents()
	return []byte(s), err
}

// Files lists the regular files of a commit whose names match keep.
func (l *Local) Files(commit string, keep func(string) bool) ([]string, error) {
	t, err := l.tree(commit)
	if err != nil {
		return nil, err
	}
	var out []string
	err = t.Files().ForEach(func(f *object.File) error {
		if f.Mode.IsRegular() && keep(f.Name) {
			out = append(out, f.Name)
		}
		return nil
	})
	return out, err
}

// Export writes the tree of commit into dir (which must exist and be
// empty): regular files, executables and symlinks as they are in Git (render
// refuses symlinks that leave the tree). maxBytes caps what is written.
func (l *Local) Export(ctx context.Context, commit, dir string, maxBytes int64) error {
	t, err := l.tree(commit)
	if err != nil {
		return err
	}
	// Every write goes through os.Root: a symlink written earlier in the
	// export (or a case-insensitive filesystem folding names) cannot send a
	// later file outside dir.
	root, err := os.OpenRoot(dir)
	if err != nil {
		return err
	}
	defer root.Close()
	var written int64
	return t.Files().ForEach(func(f *object.File) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		if slices.Contains(strings.Split(f.Name, "/"), "..") || filepath.IsAbs(f.Name) {
			return fmt.Errorf("%s: unsafe path in tree", f.Name)
		}
		written += f.Size
		if written > maxBytes {
			return fmt.Errorf("export %s: %w (%d bytes)", short(commit), ErrTooLarge, maxBytes)
		}
		dst := filepath.FromSlash(f.Name)
		if d := filepath.Dir(dst); d != "." {
			if err := root.MkdirAll(d, 0o755); err != nil {
				return fmt.Errorf("%s: %w", f.Name, err)
			}
		}
		r, err := f.Reader()
		if err != nil {
			return err
		}
		defer r.Close()
		if f.Mode == filemode.Symlink {
			target, err := io.ReadAll(r)
			if err != nil {
				return err
			}
			return root.Symlink(string(target), dst)
		}
		perm := os.FileMode(0o644)
		if f.Mode == filemode.Executable {
			perm = 0o755
		}
		out, err := root.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_EXCL, perm)
		if err != nil {
			return err
		}
		if _, err := io.Copy(out, r); err != nil {
			out.Close()
			return err
		}
		return out.Close()
	})
}

func short(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	return h
}
