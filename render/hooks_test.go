package render

import (
	"context"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// Helm 3 drops an object whose helm.sh/hook it does not know (Helm 2's
// crd-install) with no more than a log line: plumb names it.
func TestUnknownHelmHookIsWarnedAbout(t *testing.T) {
	root := writeRepo(t, map[string]string{
		"chart/Chart.yaml":           chartYAML,
		"chart/templates/crd.yaml":   "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: legacy\n  annotations:\n    \"helm.sh/hook\": crd-install\n    helm.sh/hook-weight: \"1\"\n",
		"chart/templates/hook.yaml":  "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: fine\n  annotations:\n    helm.sh/hook: pre-install, post-upgrade\n",
		"chart/templates/plain.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: plain}\n",
	})
	res, err := Render(context.Background(), Source{Root: root, Path: "chart"}, Options{Namespace: "web"})
	if err != nil {
		t.Fatal(err)
	}
	var warned []string
	for _, w := range res.Warnings {
		if strings.Contains(w, "helm.sh/hook") {
			warned = append(warned, w)
		}
	}
	want := []string{`web/templates/crd.yaml: helm.sh/hook "crd-install": Helm 3 drops objects with a hook it does not know, so plumb does not render this one (crd-install is Helm 2's: move the CRD to the chart's crds/ directory)`}
	if d := cmp.Diff(want, warned); d != "" {
		t.Errorf("warnings (-want +got):\n%s", d)
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
