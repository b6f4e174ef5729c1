package render

import (
	"context"
	"os/exec"
	"path/filepath"
	"testing"
)

// BenchmarkRender measures plumb's render of two corpus inputs and, in the
// same run, the reference tool on the same input (as a process, the way
// users run it). `make bench` turns the output into docs/benchmarks.md.
func BenchmarkRender(b *testing.B) {
	root := corpus(b)
	inputs := []struct {
		name, path string
		opts       Options
		ref        []string // reference tool and arguments
	}{
		{
			name: "prometheus-operator-crds", path: "charts/prometheus-operator-crds",
			opts: Options{Namespace: "bench", Helm: HelmOptions{ReleaseName: "bench", KubeVersion: "v1.37.2"}},
			ref:  []string{tool(b, "helm"), "template", "bench", filepath.Join(root, "charts/prometheus-operator-crds"), "--namespace", "bench", "--include-crds", "--kube-version", "v1.37.2"},
		},
		{
			name: "sock-shop", path: "argocd-example-apps/sock-shop",
			ref: []string{tool(b, "kubectl"), "kustomize", filepath.Join(root, "argocd-example-apps/sock-shop")},
		},
	}
	for _, in := range inputs {
		b.Run(in.name+"/plumb", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Render(context.Background(), Source{Root: root, Path: in.path}, in.opts); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(in.name+"/reference", func(b *testing.B) {
			for b.Loop() {
				if out, err := exec.Command(in.ref[0], in.ref[1:]...).CombinedOutput(); err != nil {
					b.Fatalf("%v: %v\n%s", in.ref, err, out)
				}
			}
		})
	}
}
