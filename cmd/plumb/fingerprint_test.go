package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The fingerprint fast path (Applier.Check, and Sync with ListLive) must never
// call a drifted object unchanged. Each case drifts a field plumb owns the
// way people do, then `plumb diff` must report it (exit 1) and `plumb sync`
// must apply it again; afterwards diff is clean.
func TestFingerprintCatchesDrift(t *testing.T) {
	e := newE2E(t, "fingerprint")
	e.write(map[string]string{
		"web.yaml": deployment("web", "nginx:1.27", 2, ""),
		"cm.yaml":  "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n  labels:\n    tier: web\ndata:\n  mode: safe\n",
		"s.yaml":   "apiVersion: v1\nkind: Secret\nmetadata:\n  name: token\nstringData:\n  value: from-git\n",
	})
	e.mustPlumb(exitOK, "sync", e.dir, "--app", "fp")
	e.mustPlumb(exitOK, "diff", e.dir, "--app", "fp")
	// A second sync with nothing changed is answered by the fingerprints.
	if out := e.mustPlumb(exitOK, "sync", e.dir, "--app", "fp"); !strings.Contains(out, "0 configured") || !strings.Contains(out, "fingerprint matches") {
		t.Errorf("an unchanged sync did not use the fingerprints:\n%s", out)
	}

	intruder := func(manifest string) {
		file := filepath.Join(t.TempDir(), "other.yaml")
		if err := os.WriteFile(file, []byte(manifest), 0o600); err != nil {
			t.Fatal(err)
		}
		e.kubectl("apply", "--server-side", "--force-conflicts", "--field-manager", "intruder", "-f", file)
	}
	tests := []struct {
		name  string
		drift func()
		obj   string
		want  string // the action sync must report
	}{
		{"kubectl edit (an update of an owned field)", func() {
			e.kubectl("patch", "deployment", "web", "--type", "json", "-p", `[{"op":"replace","path":"/spec/template/spec/containers/0/image","value":"nginx:drift"}]`)
		}, "Deployment.apps/e2e-fingerprint/web", "configured"},
		{"kubectl scale", func() { e.kubectl("scale", "deployment", "web", "--replicas", "5") }, "Deployment.apps/e2e-fingerprint/web", "configured"},
		{"kubectl label --overwrite of an owned label", func() { e.kubectl("label", "--overwrite", "configmap", "settings", "tier=db") }, "ConfigMap/e2e-fingerprint/settings", "configured"},
		{"forced apply by another manager", func() {
			intruder("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  mode: unsafe\n")
		}, "ConfigMap/e2e-fingerprint/settings", "configured"},
		{"delete and recreate", func() {
			e.kubectl("delete", "configmap", "settings")
			e.kubectl("create", "configmap", "settings", "--from-literal=mode=recreated")
		}, "ConfigMap/e2e-fingerprint/settings", "configured"},
		{"delete", func() { e.kubectl("delete", "configmap", "settings") }, "ConfigMap/e2e-fingerprint/settings", "created"},
		// stringData is write-only (stored as data): plumb applies it as data
		// so that its fingerprint covers what is stored.
		{"a Secret's stringData value changed", func() {
			e.kubectl("patch", "secret", "token", "--type", "merge", "-p", `{"stringData":{"value":"drifted"}}`)
		}, "Secret/e2e-fingerprint/token", "configured"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.drift()
			if code, out, _ := e.plumb("diff", e.dir, "--app", "fp"); code != exitChanges || !strings.Contains(out, tt.obj) {
				t.Errorf("diff after %s: exit %d, want 1 naming %s:\n%s", tt.name, code, tt.obj, out)
			}
			out := e.mustPlumb(exitOK, "sync", e.dir, "--app", "fp")
			if !changeLine(out, tt.obj, tt.want) {
				t.Errorf("sync after %s did not report %s %s:\n%s", tt.name, tt.obj, tt.want, out)
			}
			e.mustPlumb(exitOK, "diff", e.dir, "--app", "fp")
		})
	}
}

// changeLine reports whether sync's change table has obj with action.
func changeLine(out, obj, action string) bool {
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 && f[0] == obj && f[1] == action {
			return true
		}
	}
	return false
}
