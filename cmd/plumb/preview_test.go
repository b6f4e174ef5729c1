package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/plumbhq/plumb/internal/gittest"
	"github.com/plumbhq/plumb/preview"
)

// previewRepo is a bare repository (the same layout a CI checkout has, read
// through go-git) with commits made by the test.
type previewRepo struct {
	t    testing.TB
	repo *gittest.Repo
}

func newPreviewRepo(t testing.TB, files gittest.Tree) (*previewRepo, string) {
	t.Helper()
	srv, err := gittest.NewServer(gittest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	repo, err := srv.CreateRepo("gitops")
	if err != nil {
		t.Fatal(err)
	}
	base, err := repo.Commit("main", files, "base")
	if err != nil {
		t.Fatal(err)
	}
	return &previewRepo{t: t, repo: repo}, base
}

func (p *previewRepo) change(set gittest.Tree, remove ...string) string {
	p.t.Helper()
	c, err := p.repo.Update("main", set, remove, "change")
	if err != nil {
		p.t.Fatal(err)
	}
	return c
}

func (p *previewRepo) preview(t testing.TB, base, head string, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut strings.Builder
	code := run(append([]string{"preview", "--repo", p.repo.Dir, "--base", base, "--head", head}, args...), streams{in: strings.NewReader(""), out: &out, errOut: &errOut})
	return code, out.String(), errOut.String()
}

func previewJSON(t *testing.T, out string) preview.Report {
	t.Helper()
	var rep preview.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("preview -o json: %v\n%s", err, out)
	}
	return rep
}

func appManifest(name, path string, extra string) string {
	return fmt.Sprintf("apiVersion: plumb.dev/v1alpha1\nkind: App\nmetadata:\n  name: %s\nspec:\n  source:\n    repoURL: https://git.example.com/gitops.git\n    path: %s\n  destination:\n    namespace: %s\n%s---\n", name, path, name, extra)
}

// fiftyHelmApps is a monorepo of 50 small charts, each App reading a
// production values file.
func fiftyHelmApps() gittest.Tree {
	files := gittest.Tree{}
	var apps strings.Builder
	for i := range 50 {
		name := fmt.Sprintf("app%02d", i)
		dir := "apps/" + name
		files[dir+"/Chart.yaml"] = gittest.File{Content: "apiVersion: v2\nname: " + name + "\nversion: 1.0.0\n"}
		files[dir+"/values.yaml"] = gittest.File{Content: "replicas: 1\nimage: nginx:1.0\n"}
		files[dir+"/values-prod.yaml"] = gittest.File{Content: "replicas: 3\n"}
		files[dir+"/templates/deploy.yaml"] = gittest.File{Content: "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {{ .Release.Name }}\n  labels: {helm.sh/chart: {{ .Chart.Name }}-{{ .Chart.Version }}}\nspec:\n  replicas: {{ .Values.replicas }}\n  selector: {matchLabels: {app: {{ .Release.Name }}}}\n  template:\n    metadata:\n      labels: {app: {{ .Release.Name }}}\n      annotations: {checksum/config: {{ .Values | toString | sha256sum }}}\n    spec:\n      containers: [{name: main, image: {{ .Values.image }}}]\n"}
		apps.WriteString(appManifest(name, dir, "  render:\n    helm:\n      valueFiles: [values-prod.yaml]\n"))
	}
	files["clusters/prod/apps.yaml"] = gittest.File{Content: apps.String()}
	files["README.md"] = gittest.File{Content: "# gitops\n"}
	return files
}

// Acceptance 1: a change to one app's values file renders only that app.
func TestPreviewRendersOnlyTheAffectedApp(t *testing.T) {
	p, base := newPreviewRepo(t, fiftyHelmApps())
	head := p.change(gittest.Files(map[string]string{"apps/app07/values-prod.yaml": "replicas: 5\n"}))
	code, out, errOut := p.preview(t, base, head, "-o", "json")
	if code != exitChanges {
		t.Fatalf("exit %d, want %d\n%s", code, exitChanges, errOut)
	}
	rep := previewJSON(t, out)
	if diff := cmp.Diff([]string{"app07"}, appNames(rep)); diff != "" {
		t.Errorf("affected apps (-want +got):\n%s", diff)
	}
	if rep.Renders != 2 || rep.Unaffected != 49 {
		t.Errorf("renders = %d (want 2: base and head of one app), unaffected = %d (want 49)", rep.Renders, rep.Unaffected)
	}
	d := rep.Apps[0].Report.Results[0].Diff
	if !strings.Contains(d, "-  replicas: 3") || !strings.Contains(d, "+  replicas: 5") {
		t.Errorf("diff does not show the replica change:\n%s", d)
	}
	if strings.Contains(d, "checksum/config") || strings.Contains(d, "helm.sh/chart") {
		t.Errorf("noise not stripped:\n%s", d)
	}
}

func appNames(rep preview.Report) []string {
	var names []string
	for _, a := range rep.Apps {
		names = append(names, a.Name)
	}
	return names
}

func kustomizeMonorepo() gittest.Tree {
	return gittest.Tree{
		"base/kustomization.yaml":           {Content: "resources: [cm.yaml]\n"},
		"base/cm.yaml":                      {Content: "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  level: info\n"},
		"overlays/dev/kustomization.yaml":   {Content: "resources: [../../base]\nnamePrefix: dev-\n"},
		"overlays/prod/kustomization.yaml":  {Content: "resources: [../../base]\nnamePrefix: prod-\n"},
		"overlays/other/kustomization.yaml": {Content: "resources: [cm.yaml]\n"},
		"overlays/other/cm.yaml":            {Content: "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: other\n"},
		"README.md":                         {Content: "# repo\n"},
		"apps.yaml": {Content: appManifest("dev", "overlays/dev", "") + appManifest("prod", "overlays/prod", "") +
			appManifest("other", "overlays/other", "")},
	}
}

// Acceptance 2: a shared Kustomize base affects both overlays; a README
// change affects none.
func TestPreviewKustomizeBaseAndReadme(t *testing.T) {
	p, base := newPreviewRepo(t, kustomizeMonorepo())
	head := p.change(gittest.Files(map[string]string{"base/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  level: debug\n"}))
	code, out, _ := p.preview(t, base, head, "-o", "json")
	rep := previewJSON(t, out)
	if diff := cmp.Diff([]string{"dev", "prod"}, appNames(rep)); diff != "" || code != exitChanges {
		t.Errorf("exit %d; affected apps (-want +got):\n%s", code, diff)
	}
	readme := p.change(gittest.Files(map[string]string{"README.md": "# repo\n\nmore words\n"}))
	code, out, _ = p.preview(t, head, readme, "-o", "markdown")
	if code != exitOK || !strings.Contains(out, "No App is affected") || !strings.Contains(out, "3 other apps are not affected") {
		t.Errorf("README change: exit %d\n%s", code, out)
	}
}

// Acceptance 3: one broken app shows its error; the others still show.
func TestPreviewRenderErrorIsReportedNotFatal(t *testing.T) {
	p, base := newPreviewRepo(t, kustomizeMonorepo())
	head := p.change(gittest.Files(map[string]string{
		"overlays/dev/kustomization.yaml": "resources: [../../base]\nnamePrefix: dev-\n  broken: [\n",
		"base/cm.yaml":                    "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  level: warn\n",
	}))
	code, out, _ := p.preview(t, base, head, "-o", "markdown")
	if code != exitError {
		t.Errorf("exit %d, want %d", code, exitError)
	}
	if !strings.Contains(out, "| dev |") || !strings.Contains(out, "head: ") || !strings.Contains(out, "overlays/dev/kustomization.yaml") {
		t.Errorf("dev's render error not in the comment:\n%s", out)
	}
	if !strings.Contains(out, "#### prod") || !strings.Contains(out, "+  level: warn") {
		t.Errorf("prod's diff missing:\n%s", out)
	}
}

// plainDescription matches descriptions written as plain scalars (not the
// |- and > block forms), which stay valid YAML with a word put in front.
var plainDescription = regexp.MustCompile(`description: ([A-Za-z])`)

// Acceptance 4: a huge diff stays under GitHub's comment limit, with a
// note, while the output file holds everything.
func TestPreviewHugeDiffIsTruncated(t *testing.T) {
	chartDir := filepath.Join(corpusDir(t), "charts", "prometheus-operator-crds")
	files := gittest.Tree{"apps.yaml": {Content: appManifest("crds", "charts/prometheus-operator-crds", "")}}
	bumped := gittest.Tree{}
	err := filepath.WalkDir(chartDir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(filepath.Dir(filepath.Dir(chartDir)), p)
		rel = filepath.ToSlash(rel)
		files[rel] = gittest.File{Content: string(b)}
		if strings.HasSuffix(rel, ".yaml") && strings.Contains(rel, "/crds/") {
			bumped[rel] = gittest.File{Content: plainDescription.ReplaceAllString(string(b), "description: v2 $1")}
		}
		return nil
	})
	if err != nil || len(bumped) == 0 {
		t.Fatalf("corpus: %v (%d CRD files)", err, len(bumped))
	}
	p, base := newPreviewRepo(t, files)
	head := p.change(bumped)
	full := filepath.Join(t.TempDir(), "full.md")
	code, out, errOut := p.preview(t, base, head, "-o", "markdown", "--output-file", full)
	if code != exitChanges {
		t.Fatalf("exit %d\n%s%s", code, errOut, out[:min(len(out), 2000)])
	}
	if len(out) > 65536 || !strings.Contains(out, "Output truncated") {
		t.Errorf("comment is %d characters; truncation note present: %v", len(out), strings.Contains(out, "Output truncated"))
	}
	b, err := os.ReadFile(full)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) <= 65536 || strings.Contains(string(b), "Output truncated") || strings.Count(string(b), "description: v2 ") < 1000 {
		t.Errorf("output file (%d bytes) does not hold the full report", len(b))
	}
}

// Acceptance 5: a planted Secret value is in no output.
func TestPreviewNeverShowsSecretValues(t *testing.T) {
	const planted = "PREVIEW-SECRET-5d1e"
	secret := func(v string) string {
		return "apiVersion: v1\nkind: Secret\nmetadata:\n  name: creds\nstringData:\n  token: " + v + "\n"
	}
	p, base := newPreviewRepo(t, gittest.Tree{
		"app/s.yaml": {Content: secret(planted + "-old")},
		"apps.yaml":  {Content: appManifest("app", "app", "")},
	})
	head := p.change(gittest.Files(map[string]string{"app/s.yaml": secret(planted + "-new")}))
	var all []string
	for _, o := range []string{"markdown", "text", "json"} {
		file := filepath.Join(t.TempDir(), "full")
		_, out, errOut := p.preview(t, base, head, "-o", o, "--output-file", file)
		b, _ := os.ReadFile(file)
		all = append(all, out, errOut, string(b))
	}
	joined := strings.Join(all, "\n")
	if strings.Contains(joined, planted) {
		t.Error("planted secret value found in preview output")
	}
	if !strings.Contains(joined, "*** (changed)") {
		t.Error("the change of the Secret value is not shown")
	}
}

// BenchmarkPreview50Apps measures a preview of a one-app change in a
// 50-app monorepo, end to end through the command.
func BenchmarkPreview50Apps(b *testing.B) {
	p, base := newPreviewRepo(b, fiftyHelmApps())
	head := p.change(gittest.Files(map[string]string{"apps/app07/values-prod.yaml": "replicas: 5\n"}))
	for b.Loop() {
		if code, _, errOut := p.preview(b, base, head, "-o", "markdown"); code != exitChanges {
			b.Fatalf("exit %d: %s", code, errOut)
		}
	}
}

// An App's own spec is part of the change: a new destination namespace
// shows in the diff, a removed App is reported as removals, and Apps of
// other repositories are left out.
func TestPreviewAppSpecChangesAndOtherRepos(t *testing.T) {
	files := kustomizeMonorepo()
	files["apps.yaml"] = gittest.File{Content: appManifest("dev", "overlays/dev", "") + appManifest("prod", "overlays/prod", "") +
		strings.Replace(appManifest("elsewhere", "overlays/other", ""), "git.example.com/gitops.git", "git.example.com/another.git", 1)}
	p, base := newPreviewRepo(t, files)
	head := p.change(gittest.Files(map[string]string{
		// dev moves to another namespace; prod is deleted.
		"apps.yaml": strings.Replace(appManifest("dev", "overlays/dev", ""), "namespace: dev", "namespace: dev-2", 1) +
			strings.Replace(appManifest("elsewhere", "overlays/other", ""), "git.example.com/gitops.git", "git.example.com/another.git", 1),
	}))
	code, out, errOut := p.preview(t, base, head, "-o", "json", "--repo-url", "https://git.example.com/gitops.git")
	if code != exitChanges {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	rep := previewJSON(t, out)
	if diff := cmp.Diff([]string{"dev", "prod"}, appNames(rep)); diff != "" || rep.OtherRepos != 1 {
		t.Fatalf("apps (-want +got):\n%s\nother repos: %d", diff, rep.OtherRepos)
	}
	dev, prod := rep.Apps[0].Report, rep.Apps[1].Report
	if c := dev.Counts(); c["create"] != 1 || c["prune"] != 1 {
		t.Errorf("dev moved namespaces: counts %v, want one added and one removed", c)
	}
	if c := prod.Counts(); c["prune"] != 1 || len(prod.Results) != 1 {
		t.Errorf("prod deleted: counts %v, want its object removed", c)
	}
}
