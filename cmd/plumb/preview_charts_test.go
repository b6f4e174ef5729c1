package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/plumbhq/plumb/escape"
	"github.com/plumbhq/plumb/internal/chartstest"
	"github.com/plumbhq/plumb/internal/gittest"
)

// Issue H: plumb preview of a chart version bump renders both versions
// (fetched through the chart cache) and shows the object diff and both
// revisions; a chart that requires a current Kubernetes renders with no
// option; --offline refuses to fetch and names the chart it needs.
func TestPreviewChartVersionBump(t *testing.T) {
	repo := chartstest.NewHelmRepo(t)
	repo.Publish(t, chartstest.Package(t, "web", "1.0.0", nil))
	repo.Publish(t, chartstest.Package(t, "web", "1.1.0", nil))
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, chartstest.CAPEM(repo.Server), 0o600); err != nil {
		t.Fatal(err)
	}
	chartApp := func(version string) string {
		return "apiVersion: plumb.dev/v1alpha1\nkind: App\nmetadata: {name: web}\nspec:\n  source:\n    chart: {repoURL: \"" +
			repo.Server.URL + "\", name: web, version: \"" + version + "\"}\n  destination: {namespace: web}\n---\n"
	}
	modern := "apiVersion: v2\nname: modern\nversion: 0.1.0\nkubeVersion: \">=1.25.0-0\"\n"
	p, base := newPreviewRepo(t, gittest.Files(map[string]string{
		"apps.yaml":                chartApp("1.0.0") + appManifest("modern", "modern", ""),
		"modern/Chart.yaml":        modern,
		"modern/templates/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: modern}\ndata: {v: \"1\"}\n",
	}))
	head := p.change(gittest.Files(map[string]string{
		"apps.yaml":                chartApp("1.1.0") + appManifest("modern", "modern", ""),
		"modern/templates/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: modern}\ndata: {v: \"2\"}\n",
	}))
	cache := t.TempDir()
	code, out, errOut := p.preview(t, base, head, "--offline", "--chart-cache-dir", cache)
	if code != exitError || !strings.Contains(out+errOut, escape.Markdown("chart "+repo.Server.URL+" web@1.0.0 is not in the cache, and fetching is off")) {
		t.Errorf("--offline with an empty cache: exit %d\n%s%s", code, out, errOut)
	}
	code, out, errOut = p.preview(t, base, head, "--chart-ca-file", ca, "--chart-cache-dir", cache, "-o", "json")
	if code != exitChanges {
		t.Fatalf("exit %d, want %d\n%s%s", code, exitChanges, out, errOut)
	}
	rep := previewJSON(t, out)
	var web, modernApp = rep.Apps[1], rep.Apps[0]
	if web.Name != "web" || len(web.BaseCharts) != 1 || !strings.HasPrefix(web.BaseCharts[0], "web@1.0.0/sha256:") || !strings.HasPrefix(web.HeadCharts[0], "web@1.1.0/sha256:") {
		t.Fatalf("chart revisions: %+v", web)
	}
	if d := web.Report.Results[0].Diff; !strings.Contains(d, `-  version: 1.0.0`) || !strings.Contains(d, `+  version: 1.1.0`) {
		t.Errorf("the bump's object diff:\n%s", d)
	}
	if modernApp.HeadError != "" || !modernApp.Report.Changed() {
		t.Errorf("a chart requiring Kubernetes >=1.25 did not render offline: %+v", modernApp)
	}
	// Both versions are cached now: --offline previews the same change.
	code, md, errOut := p.preview(t, base, head, "--offline", "--chart-cache-dir", cache)
	if code != exitChanges || !strings.Contains(md, "- web: chart <code>"+escape.Markdown("web@1.0.0/sha256:")) || !strings.Contains(md, "</code> → <code>"+escape.Markdown("web@1.1.0/sha256:")) {
		t.Errorf("--offline with the charts cached: exit %d\n%s%s", code, md, errOut)
	}
}

// A pull request cannot choose what CI fetches: head may fetch charts only
// from the repository hosts the base revision uses, or those allowed.
func TestPreviewFetchesOnlyFromBaseHosts(t *testing.T) {
	trusted, other := chartstest.NewHelmRepo(t), chartstest.NewHelmRepo(t)
	for _, r := range []*chartstest.HelmRepo{trusted, other} {
		r.Publish(t, chartstest.Package(t, "web", "1.0.0", nil))
	}
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, chartstest.CAPEM(trusted.Server), 0o600); err != nil {
		t.Fatal(err)
	}
	app := func(repo string) string {
		return "apiVersion: plumb.dev/v1alpha1\nkind: App\nmetadata: {name: web}\nspec:\n  source:\n    chart: {repoURL: \"" + repo + "\", name: web, version: 1.0.0}\n---\n"
	}
	p, base := newPreviewRepo(t, gittest.Files(map[string]string{"apps.yaml": app(trusted.Server.URL)}))
	head := p.change(gittest.Files(map[string]string{"apps.yaml": app(other.Server.URL)}))
	args := []string{"--chart-ca-file", ca, "--chart-cache-dir", t.TempDir()}
	code, out, errOut := p.preview(t, base, head, args...)
	if code != exitError || !strings.Contains(out, "its repository's host is not one the base revision uses") {
		t.Errorf("a chart from a host base does not use: exit %d\n%s%s", code, out, errOut)
	}
	if requests := other.Requests.Load(); requests != 0 {
		t.Errorf("the preview sent %d requests to the pull request's repository", requests)
	}
	code, out, errOut = p.preview(t, base, head, append(args, "--chart-allow-host", strings.TrimPrefix(other.Server.URL, "https://"))...)
	if code != exitOK {
		t.Errorf("with --chart-allow-host: exit %d\n%s%s", code, out, errOut)
	}
}
