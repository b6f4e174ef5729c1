package render

import (
	"context"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// Helm 3 drops an object whose helm.sh/hook it does not know with no more
// than a log line: plumb applies Helm 2's crd-install objects as objects
// and names any other.
func TestUnknownHelmHooks(t *testing.T) {
	crd := "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  name: gadgets.example.com\n  annotations:\n    \"helm.sh/hook\": crd-install\n    helm.sh/hook-weight: \"1\"\nspec:\n  group: example.com\n  scope: Namespaced\n  names: {kind: Gadget, plural: gadgets}\n  versions: [{name: v1, served: true, storage: true, schema: {openAPIV3Schema: {type: object}}}]\n"
	root := writeRepo(t, map[string]string{
		"chart/Chart.yaml":           chartYAML,
		"chart/templates/crd.yaml":   "{{- if .Values.crd }}\n" + crd + "{{- end }}\n",
		"chart/values.yaml":          "crd: true\n",
		"chart/templates/odd.yaml":   "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: odd\n  annotations:\n    helm.sh/hook: post-deploy\n",
		"chart/templates/hook.yaml":  "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: fine\n  annotations:\n    helm.sh/hook: pre-install, post-upgrade\n",
		"chart/templates/plain.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: plain}\n",
	})
	res, err := Render(context.Background(), Source{Root: root, Path: "chart"}, Options{Namespace: "web"})
	if err != nil {
		t.Fatal(err)
	}
	var warned, objs []string
	for _, w := range res.Warnings {
		if strings.Contains(w, "helm.sh/hook") {
			warned = append(warned, w)
		}
	}
	for _, o := range res.Objects {
		objs = append(objs, o.Object.GetName())
	}
	want := []string{
		`web/templates/odd.yaml: helm.sh/hook "post-deploy": Helm 3 drops objects with a hook it does not know, so plumb does not render this one`,
		`web/templates/crd.yaml: helm.sh/hook "crd-install" (Helm 2's, which Helm 3 drops): CustomResourceDefinition/gadgets.example.com applied as an ordinary object`,
	}
	if d := cmp.Diff(want, warned); d != "" {
		t.Errorf("warnings (-want +got):\n%s", d)
	}
	if d := cmp.Diff([]string{"plain", "gadgets.example.com"}, objs); d != "" {
		t.Errorf("objects (-want +got):\n%s", d)
	}
}

// Plain manifests with Helm's hook annotation are hooks, as Argo CD reads
// them; crd-install stays an object.
func TestPlainHelmHooksAreHooks(t *testing.T) {
	root := writeRepo(t, map[string]string{
		"app/job.yaml": "apiVersion: batch/v1\nkind: Job\nmetadata:\n  generateName: migrate-\n  annotations: {helm.sh/hook: pre-install}\n",
		"app/crd.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: legacy\n  annotations: {helm.sh/hook: crd-install}\n",
		"app/cm.yaml":  "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: plain}\n",
	})
	res, err := Render(context.Background(), Source{Root: root, Path: "app"}, Options{Namespace: "web"})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Hooks) != 1 || res.Hooks[0].Object.GetGenerateName() != "migrate-" || len(res.Objects) != 2 {
		t.Errorf("hooks %d (want the Job), objects %d (want 2)", len(res.Hooks), len(res.Objects))
	}
}
