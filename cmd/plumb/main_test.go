package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// runCmd runs the real command tree with captured streams.
func runCmd(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = run(args, streams{in: strings.NewReader(""), out: &out, errOut: &errOut})
	return code, out.String(), errOut.String()
}

func corpusDir(t *testing.T) string {
	t.Helper()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(wd, "..", "..", "..", "shared", "corpus")
	if _, err := os.Stat(dir); err != nil {
		t.Fatalf("test corpus: %v", err)
	}
	return dir
}

func TestHelpListsKubectlFlags(t *testing.T) {
	code, out, _ := runCmd(t, "--help")
	if code != exitOK {
		t.Fatalf("exit %d", code)
	}
	for _, flag := range []string{"--kubeconfig", "--context", "-n, --namespace", "-v, --v"} {
		if !strings.Contains(out, flag) {
			t.Errorf("--help does not list %s:\n%s", flag, out)
		}
	}
}

func TestVersion(t *testing.T) {
	code, out, _ := runCmd(t, "version", "-o", "json")
	if code != exitOK {
		t.Fatalf("exit %d", code)
	}
	var v versionInfo
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatalf("version -o json: %v\n%s", err, out)
	}
	if !strings.HasPrefix(v.GoVersion, "go1.") || v.Version == "" || v.Platform == "" {
		t.Errorf("version info incomplete: %+v", v)
	}
}

func TestRenderCommand(t *testing.T) {
	corpus := corpusDir(t)
	chart := filepath.Join(corpus, "argocd-example-apps", "helm-guestbook")
	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantOut  []string
		wantErr  string
	}{
		{
			name:     "helm with values, set and namespace",
			args:     []string{"render", chart, "-f", "values-production.yaml", "--set", "replicaCount=4", "--release-name", "gb", "-n", "web"},
			wantCode: exitOK,
			wantOut:  []string{"# Source: helm-guestbook/templates/deployment.yaml", "replicas: 4", "namespace: web", "type: LoadBalancer", "name: gb-helm-guestbook"},
		},
		{
			name:     "kustomize as json",
			args:     []string{"render", filepath.Join(corpus, "argocd-example-apps", "kustomize-guestbook"), "-o", "json"},
			wantCode: exitOK,
			wantOut:  []string{`"kind": "List"`, `"name": "kustomize-guestbook-ui"`},
		},
		{
			name:     "value file outside the repository",
			args:     []string{"render", chart, "--repo-root", chart, "-f", "../../etc/passwd"},
			wantCode: exitError,
			wantErr:  "leaves the repository",
		},
		{
			name:     "empty directory",
			args:     []string{"render", t.TempDir()},
			wantCode: exitError,
			wantErr:  "render produced no objects",
		},
		{
			name:     "unknown output",
			args:     []string{"render", chart, "-o", "xml"},
			wantCode: exitError,
			wantErr:  `unknown format "xml"`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := runCmd(t, tt.args...)
			if diff := cmp.Diff(tt.wantCode, code); diff != "" {
				t.Errorf("exit code (-want +got):\n%s\nstderr: %s", diff, errOut)
			}
			for _, w := range tt.wantOut {
				if !strings.Contains(out, w) {
					t.Errorf("stdout lacks %q:\n%s", w, out)
				}
			}
			if tt.wantErr != "" && !strings.Contains(errOut, tt.wantErr) {
				t.Errorf("stderr %q lacks %q", errOut, tt.wantErr)
			}
		})
	}
}
