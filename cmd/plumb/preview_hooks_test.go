package main

import (
	"strings"
	"testing"

	"github.com/plumbhq/plumb/escape"
	"github.com/plumbhq/plumb/internal/gittest"
)

// Issue W, acceptance 6: a commit that changes only a hook is a change:
// plumb preview exits 1 and shows the hook's diff with its phase, for a
// Helm hook and an Argo CD hook alike.
func TestPreviewShowsHookChanges(t *testing.T) {
	job := func(name, image, annotations string) string {
		return "apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: " + name + "\n  annotations:\n" + annotations +
			"spec:\n  template:\n    spec:\n      restartPolicy: Never\n      containers: [{name: main, image: " + image + "}]\n"
	}
	helmHook := "    helm.sh/hook: pre-upgrade\n    helm.sh/hook-weight: \"-1\"\n"
	argoHook := "    argocd.argoproj.io/hook: PreSync\n"
	files := func(image string) map[string]string {
		return map[string]string{
			"apps.yaml":                    appManifest("chart", "chart", "") + appManifest("plain", "plain", ""),
			"chart/Chart.yaml":             "apiVersion: v2\nname: chart\nversion: 0.1.0\n",
			"chart/templates/cm.yaml":      "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings}\ndata: {a: \"1\"}\n",
			"chart/templates/migrate.yaml": job("migrate", image, helmHook),
			"plain/cm.yaml":                "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings}\ndata: {a: \"1\"}\n",
			"plain/presync.yaml":           job("presync", image, argoHook),
		}
	}
	p, base := newPreviewRepo(t, gittest.Files(files("migrate:1")))
	head := p.change(gittest.Files(files("migrate:2")))
	code, md, errOut := p.preview(t, base, head)
	if code != exitChanges {
		t.Fatalf("exit %d, want %d (a changed hook is a change)\n%s%s", code, exitChanges, md, errOut)
	}
	for _, want := range []string{
		escape.Code("Job.batch/chart/migrate (hook: pre-upgrade)") + " (update)",
		escape.Code("Job.batch/plain/presync (hook: PreSync)") + " (update)",
		"-      - image: migrate:1", "+      - image: migrate:2",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("the preview lacks %q:\n%s", want, md)
		}
	}
}
