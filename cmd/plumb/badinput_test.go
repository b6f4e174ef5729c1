package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/plumbhq/plumb/internal/testreport"
)

// The bad input catalogue: an App synced with prune, then its directory
// replaced by bad input. Each sync must fail with a clear error (exit 2,
// naming the file, object or field) and delete nothing: the object the
// good revision applied must survive.
func TestBadInputNothingPruned(t *testing.T) {
	e := newE2E(t, "bad-input")
	outside := t.TempDir()
	if err := os.WriteFile(filepath.Join(outside, "stolen.yaml"), []byte(configMap("stolen", "")), 0o644); err != nil {
		t.Fatal(err)
	}
	const chart = "apiVersion: v2\nname: web\nversion: 0.1.0\n"
	tests := append(append(baseCases(outside, chart), sandboxCases(chart)...), variantCases(chart)...)
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &testreport.Entry{Kind: testreport.BadInput, Name: tt.name, OK: true}
			testreport.Record(t, rec)
			dir := filepath.Join(e.dir, fmt.Sprintf("case%02d", i))
			app := fmt.Sprintf("bad-%02d", i)
			keep := fmt.Sprintf("keep-%02d", i)
			writeTree(t, dir, map[string]string{"keep.yaml": configMap(keep, "")}, nil)
			e.mustPlumb(exitOK, "sync", dir, "--app", app, "--prune")
			if !e.configMapExists(keep) {
				t.Fatalf("the good revision did not create %s", keep)
			}

			writeTree(t, dir, tt.files, tt.links)
			if tt.fifo != "" {
				if err := syscall.Mkfifo(filepath.Join(dir, tt.fifo), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			start := time.Now()
			code, out, errOut := e.plumb(append([]string{"sync", dir, "--app", app, "--prune"}, tt.args...)...)
			if took := time.Since(start); took > 10*time.Second {
				t.Errorf("the error took %s, over 10s", took.Round(time.Millisecond))
			}
			if self, workers := maxRSS(t); self > 1<<30 || workers > 1<<30 {
				t.Errorf("peak RSS %d MiB (plumb), %d MiB (its render workers): over 1 GiB", self>>20, workers>>20)
			}
			if code != exitError {
				t.Errorf("exit %d, want %d", code, exitError)
			}
			for _, w := range tt.want {
				if !strings.Contains(errOut, w) {
					t.Errorf("the error lacks %q:\n%s", w, errOut)
				}
			}
			for _, h := range tt.hide {
				if strings.Contains(out+errOut, h) {
					rec.Leaks++
					t.Errorf("the output shows %q:\n%s%s", h, out, errOut)
				}
			}
			if strings.Contains(out, "pruned") && !strings.Contains(out, "0 pruned") {
				t.Errorf("something was pruned:\n%s", out)
			}
			if !e.configMapExists(keep) {
				rec.Lost = 1
				t.Errorf("%s was deleted after bad input", keep)
			}
			rec.Detail = firstLine(errOut)
		})
	}
}

// baseCases are the catalogue's first inputs: malformed and hostile files,
// and one escape per way out of the checkout (outside holds a stolen file).
func baseCases(outside, chart string) []badCase {
	return []badCase{
		{
			name:  "malformed YAML",
			files: map[string]string{"bad.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n   bad: [\n"},
			want:  []string{"bad.yaml:", "invalid YAML"},
		},
		{
			name:  "duplicate objects",
			files: map[string]string{"a.yaml": configMap("web", ""), "b.yaml": configMap("web", "")},
			want:  []string{"ConfigMap/e2e-bad-input/web: defined twice", "a.yaml", "b.yaml"},
		},
		{
			name:  "custom resource whose CRD is missing",
			files: map[string]string{"widget.yaml": "apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: w\n", "cm.yaml": configMap("other", "")},
			want:  []string{"Widget.example.com/e2e-bad-input/w", `no matches for kind "Widget"`},
		},
		{
			name:  "dead API version (extensions/v1beta1 Deployment)",
			files: map[string]string{"deploy.yaml": "apiVersion: extensions/v1beta1\nkind: Deployment\nmetadata:\n  name: old\nspec:\n  template:\n    spec:\n      containers:\n      - name: c\n        image: nginx\n"},
			want:  []string{"Deployment.extensions/e2e-bad-input/old", `no matches for kind "Deployment" in version "extensions/v1beta1"`},
		},
		{
			name:  "symlink escape",
			files: map[string]string{"cm.yaml": configMap("other", "")},
			links: map[string]string{"link.yaml": filepath.Join(outside, "stolen.yaml")},
			want:  []string{"link.yaml", "leaves the repository"},
		},
		{
			name:  "Helm value file traversal",
			files: map[string]string{"Chart.yaml": chart, "templates/cm.yaml": configMap("a", "")},
			args:  []string{"-f", "../../../../etc/passwd"},
			want:  []string{"values file ../../../../etc/passwd", "leaves the repository"},
		},
		{
			name:  "YAML alias bomb",
			files: map[string]string{"bomb.yaml": "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]\nf: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]\ng: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]\nh: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]\ni: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]\n"},
			want:  []string{"bomb.yaml: its YAML aliases expand it to more than"},
		},
		{
			name:  "100 MB file",
			files: map[string]string{"big.yaml": configMap("big", "") + "  pad: " + strings.Repeat("x", 100<<20) + "\n"},
			want:  []string{"big.yaml", "file limit"},
		},
		{
			name:  "invalid chart",
			files: map[string]string{"Chart.yaml": "apiVersion: v2\nversion: 1.0.0\n", "templates/cm.yaml": configMap("a", "")},
			want:  []string{"invalid chart", "name is required"},
		},
		{
			name:  "Kustomize remote base",
			files: map[string]string{"kustomization.yaml": "resources:\n- https://github.com/kubernetes-sigs/kustomize//examples/helloWorld?ref=v5.0.0\n"},
			want:  []string{"kustomization.yaml: resources: remote reference", "AllowRemote"},
		},
		{
			name: "Kustomize exec plugin",
			files: map[string]string{
				"kustomization.yaml": "resources:\n- cm.yaml\ntransformers:\n- plugin.yaml\n",
				"cm.yaml":            configMap("a", ""),
				"plugin.yaml":        "apiVersion: example.com/v1\nkind: Evil\nmetadata:\n  name: evil\n  annotations:\n    config.kubernetes.io/function: |\n      exec:\n        path: ./evil.sh\n",
			},
			want: []string{"plugin.yaml: Evil evil asks for a KRM function or exec plugin"},
		},
		{
			name:  "empty render",
			files: map[string]string{"README.md": "nothing to deploy\n"},
			want:  []string{"render produced no objects"},
		},
		{
			name:  "duplicate YAML key",
			files: map[string]string{"dup.yaml": configMap("dup", "") + "  k: b\n"},
			want:  []string{"dup.yaml:7: duplicate key \"k\""},
		},
		{
			name: "symlink to .git/config in a configMapGenerator",
			files: map[string]string{
				".git/config":        "[http]\n\textraheader = AUTHORIZATION: basic Q0ktVE9LRU4tcGxhbnRlZA==\n",
				"kustomization.yaml": "configMapGenerator:\n- name: cfg\n  files: [settings.ini]\n",
			},
			links: map[string]string{"settings.ini": ".git/config"},
			want:  []string{"settings.ini: refused: it is, or leads into, a .git directory"},
		},
		{
			name:  "secretGenerator literal without =",
			files: map[string]string{"kustomization.yaml": "secretGenerator:\n- name: db\n  literals: [\"pw:PLANTED-k7v-literal\"]\n"},
			want:  []string{"invalid literal source ***"},
			hide:  []string{"PLANTED-k7v-literal"},
		},
		{
			name:  "malformed Secret",
			files: map[string]string{"s.yaml": "apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\nstringData:\n  pw: PLANTED-m8w-value\n  other: [x\n"},
			want:  []string{"s.yaml:", "invalid YAML"},
			hide:  []string{"PLANTED-m8w-value"},
		},
		{
			name:  "symlink to a FIFO",
			files: map[string]string{"cm.yaml": configMap("other", "")},
			links: map[string]string{"fifo.yaml": "pipe"},
			fifo:  "pipe",
			want:  []string{"fifo.yaml", "not a regular file"},
		},
	}
}

// maxRSS is the peak resident memory of this process (the CLI runs in it)
// and of the largest child it waited for (its render workers), in bytes.
func maxRSS(t *testing.T) (self, children int64) {
	var s, c syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &s); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Getrusage(syscall.RUSAGE_CHILDREN, &c); err != nil {
		t.Fatal(err)
	}
	return s.Maxrss << 10, c.Maxrss << 10
}

// writeTree replaces dir's content with files and symlinks.
func writeTree(t *testing.T, dir string, files, links map[string]string) {
	t.Helper()
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for name, target := range links {
		if err := os.Symlink(target, filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}
