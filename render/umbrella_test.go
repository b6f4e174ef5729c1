package render_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/plumbhq/plumb/apps"
	"github.com/plumbhq/plumb/internal/chartstest"
	"github.com/plumbhq/plumb/render"
)

// An umbrella chart whose dependencies are not vendored: one in a Helm
// repository, one in an OCI registry, both charts of the corpus. plumb
// fetches them and renders exactly what helm dependency build && helm
// template render.
func TestUmbrellaChartParity(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the reference helm binary")
	}
	helm := render.Tool(t, "helm")
	corpus := render.Corpus(t)
	repo := chartstest.NewHelmRepo(t)
	repo.Publish(t, chartstest.PackageDir(t, filepath.Join(corpus, "charts/kube-state-metrics")))
	reg := chartstest.NewOCIRegistry(t, "", "")
	reg.Push(t, chartstest.PackageDir(t, filepath.Join(corpus, "charts/prometheus-node-exporter")))

	root := t.TempDir()
	chartYAML := "apiVersion: v2\nname: monitoring\nversion: 0.1.0\ndependencies:\n" +
		"- {name: kube-state-metrics, version: 8.4.0, repository: \"" + repo.Server.URL + "\"}\n" +
		"- {name: prometheus-node-exporter, version: \"^4.50.0\", repository: \"oci://" + reg.Host() + "/charts\"}\n"
	writeFiles(t, root, map[string]string{
		"monitoring/Chart.yaml":          chartYAML,
		"monitoring/values.yaml":         "kube-state-metrics:\n  replicas: 2\n",
		"monitoring/templates/note.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: monitoring-note}\ndata: {release: {{ .Release.Name | quote }}}\n",
	})
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, chartstest.CAPEM(repo.Server), 0o600); err != nil {
		t.Fatal(err)
	}
	fetcher := chartstest.NewFetcher(t, repo.Server)
	const release, ns = "mon", "monitoring"
	src := render.Source{Root: root, Path: "monitoring"}
	opts := render.Options{Namespace: ns, Helm: render.HelmOptions{ReleaseName: release}}
	resolved, err := apps.PrepareCharts(context.Background(), src, &opts, nil, &apps.Charts{Fetcher: fetcher})
	if err != nil {
		t.Fatal(err)
	}
	if len(resolved) != 2 || resolved[1].Version != "4.56.1" {
		t.Fatalf("resolved %+v, want kube-state-metrics 8.4.0 and prometheus-node-exporter 4.56.1", resolved)
	}
	res, err := render.Render(context.Background(), src, opts)
	if err != nil {
		t.Fatal(err)
	}

	// The reference: helm dependency build, then helm template.
	home := t.TempDir()
	env := append(os.Environ(), "HELM_CONFIG_HOME="+home+"/config", "HELM_CACHE_HOME="+home+"/cache", "HELM_DATA_HOME="+home+"/data")
	run := func(args ...string) {
		t.Helper()
		cmd := exec.Command(helm, args...)
		cmd.Env = env
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("helm %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	run("repo", "add", "test", repo.Server.URL, "--ca-file", ca)
	refDir := filepath.Join(t.TempDir(), "monitoring")
	if err := os.CopyFS(refDir, os.DirFS(filepath.Join(root, "monitoring"))); err != nil {
		t.Fatal(err)
	}
	run("dependency", "build", refDir, "--ca-file", ca)
	ref := render.ReferenceObjects(t, helm, "template", release, refDir, "--namespace", ns, "--include-crds", "--skip-tests", "--kube-version", render.DefaultKubeVersion)
	got := append(append([]render.Object{}, res.Objects...), res.Hooks...)
	render.CompareObjects(t, ref, got, ns)
}

func writeFiles(t *testing.T, root string, files map[string]string) {
	t.Helper()
	for name, data := range files {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
