package render

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestGolden renders one corpus input per renderer and compares the YAML
// stream with testdata/golden; `go test ./render -update` rewrites them.
func TestGolden(t *testing.T) {
	root := corpus(t)
	tests := []struct {
		golden string
		path   string
		opts   Options
	}{
		{"plain-guestbook.yaml", "argocd-example-apps/guestbook", Options{Namespace: "guestbook"}},
		{"kustomize-guestbook.yaml", "argocd-example-apps/kustomize-guestbook", Options{Namespace: "guestbook"}},
		{"helm-guestbook-production.yaml", "argocd-example-apps/helm-guestbook", Options{
			Namespace: "guestbook",
			Helm:      HelmOptions{ReleaseName: "gb", ValueFiles: []string{"values-production.yaml"}, KubeVersion: "v1.37.2"},
		}},
		{"sync-waves.yaml", "argocd-example-apps/sync-waves", Options{Namespace: "waves"}},
	}
	for _, tt := range tests {
		t.Run(tt.golden, func(t *testing.T) {
			res, err := Render(context.Background(), Source{Root: root, Path: tt.path}, tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			var buf bytes.Buffer
			if err := EncodeYAML(&buf, append(res.Objects, res.Hooks...)); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join("testdata", "golden", tt.golden)
			if *update {
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test ./render -update)", err)
			}
			if diff := cmp.Diff(string(want), buf.String()); diff != "" {
				t.Errorf("%s (-golden +render):\n%s", path, diff)
			}
		})
	}
}
