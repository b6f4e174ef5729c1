package v1alpha1_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestCRDMatchesTypes regenerates the CRD from the Go types and compares it
// with the manifest in examples/install: the types are the single source,
// and `make generate` must have been run after changing them.
func TestCRDMatchesTypes(t *testing.T) {
	gen := os.Getenv("PLUMB_CONTROLLER_GEN")
	if gen == "" {
		gen = filepath.Join("..", "..", ".cache", "tools", "controller-gen", "current", "controller-gen")
	}
	if _, err := os.Stat(gen); err != nil {
		t.Fatalf("controller-gen not found (run `make tools`): %v", err)
	}
	out := t.TempDir()
	cmd := exec.Command(gen, "crd", "paths=./...", "output:crd:dir="+out)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("controller-gen: %v\n%s", err, b)
	}
	const name = "plumb.dev_apps.yaml"
	want, err := os.ReadFile(filepath.Join(out, name))
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join("..", "..", "examples", "install", name))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("examples/install/%s is stale; run `make generate` (-generated +committed):\n%s", name, diff)
	}
}
