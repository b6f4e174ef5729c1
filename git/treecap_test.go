package git

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	gogit "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/storage"
)

// treeBomb commits, in the repository at dir, a tree of levels levels each
// naming the one below ten times, over one small file: 10^levels paths
// from levels+2 objects. It returns the commit.
func treeBomb(t *testing.T, r *gogit.Repository, levels int) string {
	t.Helper()
	put := func(o interface {
		Encode(plumbing.EncodedObject) error
	}, s storage.Storer) plumbing.Hash {
		obj := s.NewEncodedObject()
		if err := o.Encode(obj); err != nil {
			t.Fatal(err)
		}
		h, err := s.SetEncodedObject(obj)
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	blob := r.Storer.NewEncodedObject()
	blob.SetType(plumbing.BlobObject)
	w, _ := blob.Writer()
	_, _ = w.Write([]byte("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n"))
	w.Close()
	h, err := r.Storer.SetEncodedObject(blob)
	if err != nil {
		t.Fatal(err)
	}
	mode := filemode.Regular
	for i := 0; i <= levels; i++ {
		tree := &object.Tree{}
		for j := 0; j < 10; j++ {
			tree.Entries = append(tree.Entries, object.TreeEntry{Name: string(rune('a'+j)) + ".yaml", Mode: mode, Hash: h})
		}
		if mode == filemode.Dir {
			for j := range tree.Entries {
				tree.Entries[j].Name = strings.TrimSuffix(tree.Entries[j].Name, ".yaml")
			}
		}
		h, mode = put(tree, r.Storer), filemode.Dir
	}
	sig := object.Signature{Name: "t", Email: "t@example.com", When: time.Unix(0, 0)}
	return put(&object.Commit{Author: sig, Committer: sig, Message: "bomb", TreeHash: h}, r.Storer).String()
}

// A git tree bomb (17 objects, 10^9 paths) is refused, naming the cap,
// before any path is walked: by export, change listing and file listing.
func TestTreeBombRefused(t *testing.T) {
	dir := t.TempDir()
	r, err := gogit.PlainInit(dir, true)
	if err != nil {
		t.Fatal(err)
	}
	bomb := treeBomb(t, r, 8)
	small := treeBomb(t, r, 1)
	l, err := OpenLocal(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Export(context.Background(), small, t.TempDir(), 1<<20); err != nil {
		t.Fatalf("a tree of 100 files: %v", err)
	}
	start := time.Now()
	for name, run := range map[string]func() error{
		"export":        func() error { return l.Export(context.Background(), bomb, t.TempDir(), 1<<30) },
		"changed files": func() error { _, err := l.ChangedFiles(context.Background(), small, bomb); return err },
		"files":         func() error { _, err := l.Files(bomb, func(string) bool { return true }); return err },
	} {
		err := run()
		if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "more than 500000 files") {
			t.Errorf("%s of the tree bomb: %v, want ErrTooLarge naming the file cap", name, err)
		}
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("refusing the bomb took %s", took)
	}
}
