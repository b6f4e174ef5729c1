package render

import (
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata")

// repoRoot is the plumb checkout (the directory holding go.mod).
func repoRoot(t testing.TB) string {
	t.Helper()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Dir(wd)
}

// corpus returns ../shared/corpus beside the checkout; the corpus is part of
// the test setup, so its absence fails the test rather than skipping it.
func corpus(t testing.TB) string {
	t.Helper()
	dir := filepath.Join(repoRoot(t), "..", "shared", "corpus")
	if _, err := os.Stat(filepath.Join(dir, "README.md")); err != nil {
		t.Fatalf("test corpus not found at %s: %v", dir, err)
	}
	return dir
}

// tool finds a reference binary built by `make tools` ($PLUMB_<NAME>, else
// .cache/tools/<name>/current/<name>), or one on PATH.
func tool(t testing.TB, name string) string {
	t.Helper()
	if p := os.Getenv("PLUMB_" + strings.ToUpper(name)); p != "" {
		return p
	}
	p := filepath.Join(repoRoot(t), ".cache", "tools", name, "current", name)
	if _, err := os.Stat(p); err == nil {
		return p
	}
	if p, err := exec.LookPath(name); err == nil && name == "kubectl" {
		return p
	}
	t.Fatalf("%s not found: run `make tools` (or set PLUMB_%s)", name, strings.ToUpper(name))
	return ""
}

// writeRepo creates a checkout from path → content. A content of
// "symlink:TARGET" makes a symlink.
func writeRepo(t testing.TB, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for p, c := range files {
		full := filepath.Join(root, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if target, ok := strings.CutPrefix(c, "symlink:"); ok {
			if err := os.Symlink(target, full); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.WriteFile(full, []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}
