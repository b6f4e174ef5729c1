package gittest_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	gogit "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/transport"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	"github.com/go-git/go-git/v5/storage/memory"
	"github.com/google/go-cmp/cmp"

	"github.com/plumbhq/plumb/internal/gittest"
)

func newServer(t *testing.T, opts gittest.Options) *gittest.Server {
	t.Helper()
	s, err := gittest.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return s
}

func TestPushAndCloneOverHTTP(t *testing.T) {
	tests := []struct {
		name string
		opts gittest.Options
		auth transport.AuthMethod
	}{
		{name: "anonymous"},
		{
			name: "basic auth",
			opts: gittest.Options{Username: "plumb", Password: "s3cret"},
			auth: &githttp.BasicAuth{Username: "plumb", Password: "s3cret"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newServer(t, tt.opts)
			repo, err := srv.CreateRepo("apps")
			if err != nil {
				t.Fatal(err)
			}
			first, err := repo.Commit("main", gittest.Files(map[string]string{"README.md": "hello\n"}), "initial")
			if err != nil {
				t.Fatal(err)
			}

			// Clone over HTTP, commit locally, push back over HTTP.
			dir := t.TempDir()
			local, err := gogit.PlainClone(dir, false, &gogit.CloneOptions{URL: repo.URL, Auth: tt.auth})
			if err != nil {
				t.Fatalf("clone: %v", err)
			}
			head, err := local.Head()
			if err != nil {
				t.Fatal(err)
			}
			if got := head.Hash().String(); got != first {
				t.Fatalf("cloned HEAD = %s, want %s", got, first)
			}
			if err := os.WriteFile(filepath.Join(dir, "app.yaml"), []byte("kind: ConfigMap\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			wt, err := local.Worktree()
			if err != nil {
				t.Fatal(err)
			}
			if _, err := wt.Add("app.yaml"); err != nil {
				t.Fatal(err)
			}
			sig := &object.Signature{Name: "dev", Email: "dev@example.invalid", When: time.Now()}
			pushed, err := wt.Commit("add app", &gogit.CommitOptions{Author: sig})
			if err != nil {
				t.Fatal(err)
			}
			if err := local.Push(&gogit.PushOptions{Auth: tt.auth}); err != nil {
				t.Fatalf("push: %v", err)
			}

			// The server's branch moved, and a fresh clone sees the file.
			if got, _ := repo.Head("main"); got != pushed.String() {
				t.Fatalf("server main = %s, want pushed %s", got, pushed)
			}
			fresh, err := gogit.Clone(memory.NewStorage(), nil, &gogit.CloneOptions{URL: repo.URL, Auth: tt.auth})
			if err != nil {
				t.Fatalf("second clone: %v", err)
			}
			got := readFile(t, fresh, "app.yaml")
			if diff := cmp.Diff("kind: ConfigMap\n", got); diff != "" {
				t.Errorf("app.yaml (-want +got):\n%s", diff)
			}
		})
	}
}

func TestBasicAuthRefusesBadCredentials(t *testing.T) {
	srv := newServer(t, gittest.Options{Username: "plumb", Password: "s3cret"})
	repo, err := srv.CreateRepo("private")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := repo.Commit("main", gittest.Files(map[string]string{"a": "b"}), "initial"); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		auth transport.AuthMethod
	}{
		{"wrong password", &githttp.BasicAuth{Username: "plumb", Password: "wrong"}},
		{"wrong user", &githttp.BasicAuth{Username: "other", Password: "s3cret"}},
		{"no credentials", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := gogit.Clone(memory.NewStorage(), nil, &gogit.CloneOptions{URL: repo.URL, Auth: tt.auth})
			if !errors.Is(err, transport.ErrAuthenticationRequired) && !errors.Is(err, transport.ErrAuthorizationFailed) {
				t.Fatalf("clone error = %v, want an authentication error", err)
			}
		})
	}
}

func TestBranchesTagsAndUpdates(t *testing.T) {
	srv := newServer(t, gittest.Options{})
	repo, err := srv.CreateRepo("team/mono")
	if err != nil {
		t.Fatal(err)
	}
	c1, err := repo.Commit("main", gittest.Tree{
		"apps/a/cm.yaml": {Content: "a: 1\n"},
		"apps/b/cm.yaml": {Content: "b: 1\n"},
		"run.sh":         {Content: "#!/bin/sh\n", Mode: filemode.Executable},
		"link":           {Content: "apps/a/cm.yaml", Mode: filemode.Symlink},
	}, "one")
	if err != nil {
		t.Fatal(err)
	}
	c2, err := repo.Update("main", gittest.Files(map[string]string{"apps/a/cm.yaml": "a: 2\n"}), []string{"apps/b/cm.yaml"}, "two")
	if err != nil {
		t.Fatal(err)
	}
	if err := repo.Tag("v1", c1); err != nil {
		t.Fatal(err)
	}
	if err := repo.SetBranch("release", c1); err != nil {
		t.Fatal(err)
	}

	remote := gogit.NewRemote(memory.NewStorage(), &config.RemoteConfig{Name: "origin", URLs: []string{repo.URL}})
	refs, err := remote.List(&gogit.ListOptions{})
	if err != nil {
		t.Fatalf("ls-remote: %v", err)
	}
	got := map[string]string{}
	for _, r := range refs {
		if r.Type() == plumbing.HashReference {
			got[r.Name().String()] = r.Hash().String()
		}
	}
	want := map[string]string{"refs/heads/main": c2, "refs/heads/release": c1, "refs/tags/v1": c1}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("refs (-want +got):\n%s", diff)
	}

	clone, err := gogit.Clone(memory.NewStorage(), nil, &gogit.CloneOptions{URL: repo.URL})
	if err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, clone, "apps/a/cm.yaml"); got != "a: 2\n" {
		t.Errorf("apps/a/cm.yaml = %q after update", got)
	}
	head, _ := clone.Head()
	commit, _ := clone.CommitObject(head.Hash())
	tree, _ := commit.Tree()
	if _, err := tree.File("apps/b/cm.yaml"); err == nil {
		t.Error("apps/b/cm.yaml still present after removal")
	}
	modes := map[string]filemode.FileMode{}
	_ = tree.Files().ForEach(func(f *object.File) error { modes[f.Name] = f.Mode; return nil })
	if modes["run.sh"] != filemode.Executable || modes["link"] != filemode.Symlink {
		t.Errorf("modes = %v, want run.sh executable and link a symlink", modes)
	}
}

func readFile(t *testing.T, r *gogit.Repository, name string) string {
	t.Helper()
	head, err := r.Head()
	if err != nil {
		t.Fatal(err)
	}
	c, err := r.CommitObject(head.Hash())
	if err != nil {
		t.Fatal(err)
	}
	f, err := c.File(name)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	s, err := f.Contents()
	if err != nil {
		t.Fatal(err)
	}
	return s
}
