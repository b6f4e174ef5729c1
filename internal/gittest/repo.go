package gittest

import (
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	gosync "sync"
	"time"

	gogit "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// Repo is one bare repository on a Server.
type Repo struct {
	// Name without ".git".
	Name string
	// Dir is the bare repository on disk.
	Dir string
	// URL to clone from.
	URL string

	mu   gosync.Mutex
	repo *gogit.Repository
}

// File is one entry of a commit's tree.
type File struct {
	Content string
	// Mode is filemode.Regular when zero; filemode.Executable and
	// filemode.Symlink (Content is the link target) are also allowed.
	Mode filemode.FileMode
}

// Tree maps slash-separated paths to files.
type Tree map[string]File

// Files builds a Tree of regular files from path → content.
func Files(m map[string]string) Tree {
	t := make(Tree, len(m))
	for p, c := range m {
		t[p] = File{Content: c}
	}
	return t
}

// Commit makes a commit on branch whose tree is exactly t, with the branch's
// current tip (if any) as parent, and returns its hash.
func (r *Repo) Commit(branch string, t Tree, message string) (string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	entries := map[string]treeEntry{}
	for p, f := range t {
		e, err := r.writeBlob(f)
		if err != nil {
			return "", fmt.Errorf("gittest: %s: %w", p, err)
		}
		entries[p] = e
	}
	return r.commit(branch, entries, message)
}

// Update makes a commit on branch from its current tree with the files in
// set written and the paths in remove deleted.
func (r *Repo) Update(branch string, set Tree, remove []string, message string) (string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	entries, err := r.currentEntries(branch)
	if err != nil {
		return "", err
	}
	for _, p := range remove {
		if _, ok := entries[p]; !ok {
			return "", fmt.Errorf("gittest: remove %s: not in branch %s", p, branch)
		}
		delete(entries, p)
	}
	for p, f := range set {
		e, err := r.writeBlob(f)
		if err != nil {
			return "", fmt.Errorf("gittest: %s: %w", p, err)
		}
		entries[p] = e
	}
	return r.commit(branch, entries, message)
}

// CommitDir makes a commit on branch whose tree is the directory dir on disk
// (regular files, executables and symlinks; the .git directory is skipped).
func (r *Repo) CommitDir(branch, dir, message string) (string, error) {
	t := Tree{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		if d.IsDir() {
			if d.Name() == ".git" {
				return filepath.SkipDir
			}
			return nil
		}
		key := filepath.ToSlash(rel)
		switch {
		case d.Type()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			t[key] = File{Content: target, Mode: filemode.Symlink}
		case d.Type().IsRegular():
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			info, err := d.Info()
			if err != nil {
				return err
			}
			mode := filemode.Regular
			if info.Mode()&0o111 != 0 {
				mode = filemode.Executable
			}
			t[key] = File{Content: string(b), Mode: mode}
		}
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("gittest: read %s: %w", dir, err)
	}
	return r.Commit(branch, t, message)
}

// SetBranch points branch at commit, creating or moving it.
func (r *Repo) SetBranch(branch, commit string) error {
	return r.repo.Storer.SetReference(plumbing.NewHashReference(plumbing.NewBranchReferenceName(branch), plumbing.NewHash(commit)))
}

// DeleteBranch removes branch.
func (r *Repo) DeleteBranch(branch string) error {
	return r.repo.Storer.RemoveReference(plumbing.NewBranchReferenceName(branch))
}

// Tag points the lightweight tag name at commit, creating or moving it.
func (r *Repo) Tag(name, commit string) error {
	return r.repo.Storer.SetReference(plumbing.NewHashReference(plumbing.NewTagReferenceName(name), plumbing.NewHash(commit)))
}

// AnnotatedTag creates an annotated tag object name pointing at commit.
func (r *Repo) AnnotatedTag(name, commit, message string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	sig := &object.Signature{Name: "plumb test", Email: "test@plumb.invalid", When: time.Now()}
	_, err := r.repo.CreateTag(name, plumbing.NewHash(commit), &gogit.CreateTagOptions{Tagger: sig, Message: message})
	return err
}

// Head returns the commit branch points at.
func (r *Repo) Head(branch string) (string, error) {
	ref, err := r.repo.Reference(plumbing.NewBranchReferenceName(branch), true)
	if err != nil {
		return "", fmt.Errorf("gittest: branch %s: %w", branch, err)
	}
	return ref.Hash().String(), nil
}

type treeEntry struct {
	mode filemode.FileMode
	hash plumbing.Hash
}

func (r *Repo) writeBlob(f File) (treeEntry, error) {
	mode := f.Mode
	if mode == 0 {
		mode = filemode.Regular
	}
	obj := r.repo.Storer.NewEncodedObject()
	obj.SetType(plumbing.BlobObject)
	w, err := obj.Writer()
	if err != nil {
		return treeEntry{}, err
	}
	if _, err := w.Write([]byte(f.Content)); err != nil {
		return treeEntry{}, err
	}
	if err := w.Close(); err != nil {
		return treeEntry{}, err
	}
	h, err := r.repo.Storer.SetEncodedObject(obj)
	return treeEntry{mode: mode, hash: h}, err
}

func (r *Repo) currentEntries(branch string) (map[string]treeEntry, error) {
	entries := map[string]treeEntry{}
	ref, err := r.repo.Reference(plumbing.NewBranchReferenceName(branch), true)
	if err == plumbing.ErrReferenceNotFound {
		return entries, nil
	}
	if err != nil {
		return nil, err
	}
	c, err := r.repo.CommitObject(ref.Hash())
	if err != nil {
		return nil, err
	}
	tree, err := c.Tree()
	if err != nil {
		return nil, err
	}
	err = tree.Files().ForEach(func(f *object.File) error {
		entries[f.Name] = treeEntry{mode: f.Mode, hash: f.Hash}
		return nil
	})
	return entries, err
}

func (r *Repo) commit(branch string, entries map[string]treeEntry, message string) (string, error) {
	for p := range entries {
		if p == "" || strings.HasPrefix(p, "/") || path.Clean(p) != p {
			return "", fmt.Errorf("gittest: invalid path %q", p)
		}
	}
	root, err := r.writeTree(entries)
	if err != nil {
		return "", err
	}
	var parents []plumbing.Hash
	if ref, err := r.repo.Reference(plumbing.NewBranchReferenceName(branch), true); err == nil {
		parents = append(parents, ref.Hash())
	}
	sig := object.Signature{Name: "plumb test", Email: "test@plumb.invalid", When: time.Now()}
	c := &object.Commit{Author: sig, Committer: sig, Message: message, TreeHash: root, ParentHashes: parents}
	obj := r.repo.Storer.NewEncodedObject()
	if err := c.Encode(obj); err != nil {
		return "", err
	}
	h, err := r.repo.Storer.SetEncodedObject(obj)
	if err != nil {
		return "", err
	}
	if err := r.SetBranch(branch, h.String()); err != nil {
		return "", err
	}
	return h.String(), nil
}

// writeTree writes the tree objects for entries (paths relative to this
// tree) bottom-up and returns the root tree's hash.
func (r *Repo) writeTree(entries map[string]treeEntry) (plumbing.Hash, error) {
	files := map[string]treeEntry{}
	subdirs := map[string]map[string]treeEntry{}
	for p, e := range entries {
		dir, rest, nested := strings.Cut(p, "/")
		if !nested {
			files[p] = e
			continue
		}
		if subdirs[dir] == nil {
			subdirs[dir] = map[string]treeEntry{}
		}
		subdirs[dir][rest] = e
	}
	var tree object.Tree
	for name, e := range files {
		tree.Entries = append(tree.Entries, object.TreeEntry{Name: name, Mode: e.mode, Hash: e.hash})
	}
	for name, sub := range subdirs {
		h, err := r.writeTree(sub)
		if err != nil {
			return plumbing.ZeroHash, err
		}
		tree.Entries = append(tree.Entries, object.TreeEntry{Name: name, Mode: filemode.Dir, Hash: h})
	}
	// Git orders tree entries by name, comparing directories as if their
	// name ended in "/".
	key := func(e object.TreeEntry) string {
		if e.Mode == filemode.Dir {
			return e.Name + "/"
		}
		return e.Name
	}
	sort.Slice(tree.Entries, func(i, j int) bool { return key(tree.Entries[i]) < key(tree.Entries[j]) })
	obj := r.repo.Storer.NewEncodedObject()
	if err := tree.Encode(obj); err != nil {
		return plumbing.ZeroHash, err
	}
	return r.repo.Storer.SetEncodedObject(obj)
}

func newSymbolicHEAD(branch string) *plumbing.Reference {
	return plumbing.NewSymbolicReference(plumbing.HEAD, plumbing.NewBranchReferenceName(branch))
}
