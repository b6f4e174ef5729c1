package render

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"

	"sigs.k8s.io/kustomize/kyaml/filesys"
)

// ErrOutsideRepository is returned for any path that leaves the checkout:
// "..", absolute paths elsewhere, and symlinks that are absolute or point
// outside the root.
var ErrOutsideRepository = errors.New("path leaves the repository")

// ErrLimit is returned when a render exceeds one of its caps.
var ErrLimit = errors.New("render limit exceeded")

// checkoutFS is the one way render reads files. It is rooted at a checkout
// with os.Root, which refuses ".." escapes, absolute symlinks and symlinks
// that resolve outside the root at the system-call level (no check-then-use
// race), and it counts bytes against the per-file and per-render caps.
type checkoutFS struct {
	root *os.Root
	abs  string // absolute, cleaned path of the root on disk
	// gitDir is the root's .git directory when it has one (a CLI render
	// of a work tree; the controller's exports have none).
	gitDir string
	limits Limits
	read   atomic.Int64
}

func openCheckout(dir string, limits Limits) (*checkoutFS, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	abs = filepath.Clean(abs)
	r, err := os.OpenRoot(abs)
	if err != nil {
		return nil, fmt.Errorf("open checkout: %w", err)
	}
	c := &checkoutFS{root: r, abs: abs, limits: limits}
	if st, err := os.Lstat(filepath.Join(abs, ".git")); err == nil && st.IsDir() {
		c.gitDir = filepath.Join(abs, ".git")
	}
	return c, nil
}

// intoGit says whether rel is, or resolves into, a .git directory: a
// repository's configuration holds credentials (a CI token), and no render
// reads it, however a symlink points there.
func (c *checkoutFS) intoGit(rel string) bool {
	for _, part := range strings.Split(rel, "/") {
		if part == ".git" {
			return true
		}
	}
	if c.gitDir == "" {
		return false
	}
	real, err := filepath.EvalSymlinks(filepath.Join(c.abs, filepath.FromSlash(rel)))
	return err == nil && (real == c.gitDir || strings.HasPrefix(real, c.gitDir+string(filepath.Separator)))
}

// isYAMLName says a file is YAML by its name: every file Kustomize, Helm
// values and plain directories parse as YAML (JSON is YAML too).
func isYAMLName(p string) bool {
	switch path.Ext(p) {
	case ".yaml", ".yml", ".json":
		return true
	}
	return path.Base(p) == "Kustomization"
}

func (c *checkoutFS) Close() error { return c.root.Close() }

// rel maps a path (absolute on disk, or relative to the root) to a path
// relative to the root, refusing anything outside it.
func (c *checkoutFS) rel(p string) (string, error) {
	if !filepath.IsAbs(p) {
		p = filepath.Join(c.abs, p)
	}
	p = filepath.Clean(p)
	if p == c.abs {
		return ".", nil
	}
	if !strings.HasPrefix(p, c.abs+string(filepath.Separator)) {
		return "", fmt.Errorf("%s: %w", c.display(p), ErrOutsideRepository)
	}
	return filepath.ToSlash(p[len(c.abs)+1:]), nil
}

// display names a path for error messages: relative to the repository root
// when inside it, as given otherwise (never the checkout's temp directory).
func (c *checkoutFS) display(p string) string {
	if filepath.IsAbs(p) && strings.HasPrefix(p, c.abs+string(filepath.Separator)) {
		return filepath.ToSlash(p[len(c.abs)+1:])
	}
	return p
}

// wrapErr turns os.Root's "path escapes from parent" into ErrOutsideRepository.
func (c *checkoutFS) wrapErr(rel string, err error) error {
	if err == nil {
		return nil
	}
	if strings.Contains(err.Error(), "path escapes from parent") {
		return fmt.Errorf("%s: %w (absolute symlink, or a symlink or \"..\" that points outside)", rel, ErrOutsideRepository)
	}
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return fmt.Errorf("%s: %w", rel, pe.Err)
	}
	return fmt.Errorf("%s: %w", rel, err)
}

// readFile reads a file relative to the root (or absolute inside it),
// enforcing the caps.
func (c *checkoutFS) readFile(p string) ([]byte, error) {
	rel, err := c.rel(p)
	if err != nil {
		return nil, err
	}
	if c.intoGit(rel) {
		return nil, fmt.Errorf("%s: refused: it is, or leads into, a .git directory (which holds credentials)", rel)
	}
	// Non-blocking, so that a FIFO or device opens at once and is refused
	// below instead of waiting for a writer that never comes.
	f, err := c.root.OpenFile(rel, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, c.wrapErr(rel, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, c.wrapErr(rel, err)
	}
	if st.IsDir() {
		return nil, fmt.Errorf("%s: is a directory", rel)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: not a regular file (%s)", rel, st.Mode().Type())
	}
	if st.Size() > c.limits.MaxFileBytes {
		return nil, fmt.Errorf("%s: %d bytes is over the %d-byte file limit: %w", rel, st.Size(), c.limits.MaxFileBytes, ErrLimit)
	}
	if total := c.read.Add(st.Size()); total > c.limits.MaxTotalBytes {
		return nil, fmt.Errorf("%s: reading it brings the render to %d bytes, over the %d-byte limit: %w", rel, total, c.limits.MaxTotalBytes, ErrLimit)
	}
	b := make([]byte, st.Size())
	if _, err := io.ReadFull(f, b); err != nil {
		return nil, c.wrapErr(rel, err)
	}
	if isYAMLName(rel) {
		if err := CheckExpansion(rel, b, c.limits.MaxFileBytes); err != nil {
			return nil, err
		}
	}
	return b, nil
}

func (c *checkoutFS) stat(p string) (fs.FileInfo, error) {
	rel, err := c.rel(p)
	if err != nil {
		return nil, err
	}
	st, err := c.root.Stat(rel)
	return st, c.wrapErr(rel, err)
}

// readDir lists a directory (relative names), following in-root symlinks.
func (c *checkoutFS) readDir(p string) ([]fs.DirEntry, error) {
	rel, err := c.rel(p)
	if err != nil {
		return nil, err
	}
	ents, err := fs.ReadDir(c.root.FS(), rel)
	return ents, c.wrapErr(rel, err)
}

// kustomizeFS adapts checkoutFS to Kustomize's filesystem. Kustomize sees
// the checkout at its real absolute path, so its own load restrictions and
// messages work unchanged, and every access still goes through os.Root.
// Builds never write to the repository, so writes are refused. When remote
// bases are allowed, Kustomize clones them into its own temporary
// directories ("kustomize-*"); those, and only those, are served too, each
// through its own os.Root.
type kustomizeFS struct {
	c           *checkoutFS
	allowClones bool
	clones      map[string]*checkoutFS
}

var errReadOnly = errors.New("the repository is read-only during a render")

// pick returns the confined filesystem that holds p.
func (k *kustomizeFS) pick(p string) (*checkoutFS, error) {
	if !k.allowClones || !filepath.IsAbs(p) {
		return k.c, nil
	}
	p = filepath.Clean(p)
	tmp := filepath.Clean(os.TempDir()) + string(filepath.Separator)
	if !strings.HasPrefix(p, tmp+"kustomize-") {
		return k.c, nil
	}
	dir, _, _ := strings.Cut(p[len(tmp):], string(filepath.Separator))
	if c, ok := k.clones[dir]; ok {
		return c, nil
	}
	c, err := openCheckout(tmp+dir, k.c.limits)
	if err != nil {
		return nil, err
	}
	if k.clones == nil {
		k.clones = map[string]*checkoutFS{}
	}
	k.clones[dir] = c
	return c, nil
}

// resolve returns the filesystem holding p and p relative to its root.
func (k *kustomizeFS) resolve(p string) (*checkoutFS, string, error) {
	c, err := k.pick(p)
	if err != nil {
		return nil, "", err
	}
	rel, err := c.rel(p)
	if err != nil {
		return nil, "", err
	}
	return c, rel, nil
}

func (k *kustomizeFS) close() {
	for _, c := range k.clones {
		c.Close()
	}
}

func (k *kustomizeFS) Create(string) (filesys.File, error) { return nil, errReadOnly }
func (k *kustomizeFS) Mkdir(string) error                  { return errReadOnly }
func (k *kustomizeFS) MkdirAll(string) error               { return errReadOnly }
func (k *kustomizeFS) WriteFile(string, []byte) error      { return errReadOnly }

// RemoveAll is only allowed on Kustomize's own clones, which it cleans up.
func (k *kustomizeFS) RemoveAll(p string) error {
	c, err := k.pick(p)
	if err != nil {
		return err
	}
	if c == k.c {
		return errReadOnly
	}
	return os.RemoveAll(p)
}

func (k *kustomizeFS) Open(p string) (filesys.File, error) {
	c, rel, err := k.resolve(p)
	if err != nil {
		return nil, err
	}
	if c.intoGit(rel) {
		return nil, fmt.Errorf("%s: refused: it is, or leads into, a .git directory (which holds credentials)", rel)
	}
	f, err := c.root.Open(rel)
	if err != nil {
		return nil, c.wrapErr(rel, err)
	}
	return f, nil
}

func (k *kustomizeFS) stat(p string) (fs.FileInfo, error) {
	c, err := k.pick(p)
	if err != nil {
		return nil, err
	}
	return c.stat(p)
}

func (k *kustomizeFS) IsDir(p string) bool {
	st, err := k.stat(p)
	return err == nil && st.IsDir()
}

func (k *kustomizeFS) Exists(p string) bool {
	_, err := k.stat(p)
	return err == nil
}

func (k *kustomizeFS) ReadDir(p string) ([]string, error) {
	c, err := k.pick(p)
	if err != nil {
		return nil, err
	}
	ents, err := c.readDir(p)
	if err != nil {
		return nil, err
	}
	names := make([]string, len(ents))
	for i, e := range ents {
		names[i] = e.Name()
	}
	return names, nil
}

func (k *kustomizeFS) ReadFile(p string) ([]byte, error) {
	c, err := k.pick(p)
	if err != nil {
		return nil, err
	}
	return c.readFile(p)
}

// abs is the on-disk path of a path relative to c's root.
func (c *checkoutFS) absPath(rel string) string {
	if rel == "." {
		return c.abs
	}
	return filepath.Join(c.abs, filepath.FromSlash(rel))
}

// CleanedAbs splits a path into a confirmed directory and a file name, as
// the on-disk implementation does, but without leaving the root.
func (k *kustomizeFS) CleanedAbs(p string) (filesys.ConfirmedDir, string, error) {
	c, rel, err := k.resolve(p)
	if err != nil {
		return "", "", err
	}
	st, err := c.root.Stat(rel)
	if err != nil {
		return "", "", c.wrapErr(rel, err)
	}
	if st.IsDir() {
		return filesys.ConfirmedDir(c.absPath(rel)), "", nil
	}
	return filesys.ConfirmedDir(c.absPath(path.Dir(rel))), path.Base(rel), nil
}

func (k *kustomizeFS) Glob(pattern string) ([]string, error) {
	c, rel, err := k.resolve(pattern)
	if err != nil {
		return nil, err
	}
	matches, err := fs.Glob(c.root.FS(), rel)
	if err != nil {
		return nil, c.wrapErr(rel, err)
	}
	for i, m := range matches {
		matches[i] = c.absPath(m)
	}
	return matches, nil
}

func (k *kustomizeFS) Walk(p string, fn filepath.WalkFunc) error {
	c, rel, err := k.resolve(p)
	if err != nil {
		return err
	}
	return fs.WalkDir(c.root.FS(), rel, func(name string, d fs.DirEntry, err error) error {
		if err != nil {
			return fn(c.absPath(name), nil, c.wrapErr(name, err))
		}
		info, err := d.Info()
		return fn(c.absPath(name), info, err)
	})
}
