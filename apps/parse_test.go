package apps

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParse(t *testing.T) {
	stream := `apiVersion: v1
kind: ConfigMap
metadata: {name: not-an-app}
---
apiVersion: plumb.dev/v1alpha1
kind: App
metadata: {name: shop}
spec:
  source: {repoURL: https://git.example.com/r.git, path: apps/shop/}
  destination: {namespace: shop}
  render:
    helm:
      valueFiles: [values-prod.yaml]
      values: {replicaCount: 3, image: {tag: "1.2"}}
  ignoreDifferences:
  - {group: apps, kind: Deployment, jsonPointers: [/spec/replicas]}
`
	apps, err := Parse("apps.yaml", []byte(stream))
	if err != nil {
		t.Fatal(err)
	}
	if len(apps) != 1 || apps[0].Name != "shop" || SourcePath(&apps[0]) != "apps/shop" {
		t.Fatalf("apps = %+v", apps)
	}
	opts := RenderOptions(&apps[0])
	want := map[string]any{"replicaCount": float64(3), "image": map[string]any{"tag": "1.2"}}
	if diff := cmp.Diff(want, opts.Helm.Values); diff != "" || opts.Helm.ReleaseName != "shop" || opts.Namespace != "shop" {
		t.Errorf("render options: release %q ns %q values (-want +got):\n%s", opts.Helm.ReleaseName, opts.Namespace, diff)
	}
	if rules := IgnoreRules(&apps[0]); len(rules) != 1 || rules[0].JSONPointers[0] != "/spec/replicas" {
		t.Errorf("ignore rules = %+v", rules)
	}

	bad := []struct{ name, doc, want string }{
		{"unknown field", "apiVersion: plumb.dev/v1alpha1\nkind: App\nmetadata: {name: a}\nspec: {source: {repoURL: x, pth: y}}\n", `unknown field "pth"`},
		{"path escape", "apiVersion: plumb.dev/v1alpha1\nkind: App\nmetadata: {name: a}\nspec: {source: {repoURL: x, path: ../other}}\n", "must be relative and inside the repository"},
		{"absolute path", "apiVersion: plumb.dev/v1alpha1\nkind: App\nmetadata: {name: a}\nspec: {source: {repoURL: x, path: /etc}}\n", "must be relative"},
		{"no name", "apiVersion: plumb.dev/v1alpha1\nkind: App\nmetadata: {}\nspec: {source: {repoURL: x}}\n", "metadata.name is required"},
		{"bad pointer", "apiVersion: plumb.dev/v1alpha1\nkind: App\nmetadata: {name: a}\nspec: {source: {repoURL: x}, ignoreDifferences: [{jsonPointers: [spec]}]}\n", "must start with /"},
		{"values not an object", "apiVersion: plumb.dev/v1alpha1\nkind: App\nmetadata: {name: a}\nspec: {source: {repoURL: x}, render: {helm: {values: [1]}}}\n", "values: must be an object"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("apps.yaml", []byte(tt.doc))
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "apps.yaml") {
				t.Errorf("err = %v, want it to name apps.yaml and say %q", err, tt.want)
			}
		})
	}
}
