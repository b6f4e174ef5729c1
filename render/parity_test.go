package render

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"

	"github.com/plumbhq/plumb/resource"
)

// Parity: plumb renders exactly the objects the reference tools render for
// the same input, compared object by object. The reference output is decoded
// with apimachinery's decoder, not render's own, so a decoding bug on either
// side shows up.

func TestHelmParity(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the reference helm binary")
	}
	helm := tool(t, "helm")
	root := corpus(t)
	tests := []struct {
		name   string
		chart  string
		values []string
	}{
		{"kube-state-metrics", "charts/kube-state-metrics", nil},
		{"prometheus-node-exporter", "charts/prometheus-node-exporter", nil},
		{"prometheus-operator-crds", "charts/prometheus-operator-crds", nil},
		{"helm-guestbook", "argocd-example-apps/helm-guestbook", nil},
		{"helm-guestbook production", "argocd-example-apps/helm-guestbook", []string{"values-production.yaml"}},
	}
	const release, ns, kube = "parity", "parity-ns", "v1.37.2"
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := Render(context.Background(), Source{Root: root, Path: tt.chart}, Options{
				Namespace: ns,
				Helm:      HelmOptions{ReleaseName: release, ValueFiles: tt.values, KubeVersion: kube},
			})
			if err != nil {
				t.Fatal(err)
			}
			args := []string{"template", release, filepath.Join(root, tt.chart), "--namespace", ns, "--include-crds", "--skip-tests", "--kube-version", kube}
			for _, v := range tt.values {
				args = append(args, "-f", filepath.Join(root, tt.chart, v))
			}
			ref := referenceObjects(t, helm, args...)
			got := append(append([]Object{}, res.Objects...), res.Hooks...)
			compareObjects(t, ref, got, ns)
		})
	}
}

func TestKustomizeParity(t *testing.T) {
	if testing.Short() {
		t.Skip("runs kubectl kustomize")
	}
	kubectl := tool(t, "kubectl")
	root := corpus(t)
	for _, app := range []string{"argocd-example-apps/kustomize-guestbook", "argocd-example-apps/sock-shop"} {
		t.Run(filepath.Base(app), func(t *testing.T) {
			res, err := Render(context.Background(), Source{Root: root, Path: app}, Options{})
			if err != nil {
				t.Fatal(err)
			}
			ref := referenceObjects(t, kubectl, "kustomize", filepath.Join(root, app))
			compareObjects(t, ref, res.Objects, "")
		})
	}
}

func TestPlainParity(t *testing.T) {
	root := corpus(t)
	const app = "argocd-example-apps/guestbook"
	res, err := Render(context.Background(), Source{Root: root, Path: app}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	files, err := filepath.Glob(filepath.Join(root, app, "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var ref []*unstructured.Unstructured
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		ref = append(ref, decodeReference(t, data)...)
	}
	compareObjects(t, ref, res.Objects, "")
}

func referenceObjects(t *testing.T, bin string, args ...string) []*unstructured.Unstructured {
	t.Helper()
	var stderr bytes.Buffer
	cmd := exec.Command(bin, args...)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %v: %v\n%s", bin, args, err, stderr.String())
	}
	return decodeReference(t, out)
}

func decodeReference(t *testing.T, data []byte) []*unstructured.Unstructured {
	t.Helper()
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	var out []*unstructured.Unstructured
	for {
		var raw json.RawMessage
		err := dec.Decode(&raw)
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("decode reference output: %v", err)
		}
		if len(bytes.TrimSpace(raw)) == 0 {
			continue // an empty document
		}
		var m map[string]any
		if err := utiljson.Unmarshal(raw, &m); err != nil {
			t.Fatalf("decode reference output: %v", err)
		}
		if m == nil {
			continue
		}
		out = append(out, &unstructured.Unstructured{Object: m})
	}
}

// compareObjects compares by identity. The reference objects go through the
// same namespace defaulting render applies (the reference tools leave
// namespaced objects without one; plumb gives them the destination).
func compareObjects(t *testing.T, ref []*unstructured.Unstructured, got []Object, ns string) {
	t.Helper()
	refObjs := make([]Object, len(ref))
	for i, u := range ref {
		refObjs[i] = Object{Object: u, Origin: Origin{File: "reference", Index: i}}
	}
	if err := finish(&Result{Objects: refObjs}, Options{Namespace: ns, Limits: Limits{}.WithDefaults()}); err != nil {
		t.Fatalf("reference output: %v", err)
	}
	want := map[string]map[string]any{}
	for _, o := range refObjs {
		want[resource.RefOf(o.Object).String()] = o.Object.Object
	}
	have := map[string]map[string]any{}
	for _, o := range got {
		_ = o.Object.DeepCopy() // panics on number types unstructured objects do not allow
		have[resource.RefOf(o.Object).String()] = o.Object.Object
	}
	if len(want) == 0 {
		t.Fatal("the reference rendered nothing")
	}
	if diff := cmp.Diff(want, have); diff != "" {
		t.Errorf("objects differ from the reference (-reference +plumb):\n%s", diff)
	}
	if len(got) != len(ref) {
		t.Errorf("%d objects, reference has %d", len(got), len(ref))
	}
	names := make([]string, 0, len(have))
	for n := range have {
		names = append(names, n)
	}
	sort.Strings(names)
	t.Logf("%d objects match: %v", len(names), names)
}
