package sandbox

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/plumbhq/plumb/render"
)

func TestMain(m *testing.M) {
	if IsWorker() {
		os.Exit(WorkerMain())
	}
	if os.Getenv(probeEnv) != "" {
		os.Exit(probeMain())
	}
	os.Exit(m.Run())
}

func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for name, content := range files {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func newSandbox(t *testing.T, lim Limits) *Sandbox {
	t.Helper()
	s, err := New(Options{Limits: lim})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

const chartYAML = "apiVersion: v2\nname: web\nversion: 1.0.0\n"

// TestSameAsInProcess: what a worker renders is what render.Render renders
// in-process, for each renderer.
func TestSameAsInProcess(t *testing.T) {
	cases := map[string]map[string]string{
		"plain": {"cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\ndata:\n  key: \"1\"\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: 3\n"},
		"kustomize": {
			"kustomization.yaml": "resources: [cm.yaml]\nnamePrefix: p-\nconfigMapGenerator:\n- name: gen\n  literals: [k=v]\n",
			"cm.yaml":            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n",
		},
		"helm": {
			"Chart.yaml":                chartYAML,
			"values.yaml":               "replicas: 2\n",
			"templates/deployment.yaml": "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {{ .Release.Name }}\n  annotations:\n    kube: {{ .Capabilities.KubeVersion.Version | quote }}\nspec:\n  replicas: {{ .Values.replicas }}\n",
			"templates/hook.yaml":       "apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: migrate\n  annotations:\n    helm.sh/hook: pre-install\n",
		},
	}
	s := newSandbox(t, Limits{})
	for name, files := range cases {
		t.Run(name, func(t *testing.T) {
			src := render.Source{Root: writeFiles(t, files)}
			opts := render.Options{Namespace: "shop", Helm: render.HelmOptions{ReleaseName: "web"}, Capabilities: func() (*render.Capabilities, error) {
				return &render.Capabilities{KubeVersion: "v1.31.4"}, nil
			}}
			want, err := render.Render(context.Background(), src, opts)
			if err != nil {
				t.Fatal(err)
			}
			got, err := s.Render(context.Background(), src, opts)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("worker render differs from in-process (-in-process +worker):\n%s", diff)
			}
		})
	}
}

// TestRenderErrorsKeepTheirKind: render's sentinel errors survive the
// process boundary, with their message.
func TestRenderErrorsKeepTheirKind(t *testing.T) {
	s := newSandbox(t, Limits{})
	cases := []struct {
		name  string
		files map[string]string
		path  string
		want  error
		msg   string
	}{
		{"empty", map[string]string{"README.md": "nothing"}, "", render.ErrEmptyRender, "render produced no objects"},
		{"outside", map[string]string{"a.yaml": ""}, "../x", render.ErrOutsideRepository, "path leaves the repository"},
		{"limit", map[string]string{"a.yaml": strings.Repeat("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n---\n", 3)}, "", nil, "defined twice"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.Render(context.Background(), render.Source{Root: writeFiles(t, tc.files), Path: tc.path}, render.Options{})
			if err == nil || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("error %v, want one saying %q", err, tc.msg)
			}
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Errorf("error %v is not %v", err, tc.want)
			}
		})
	}
}

// TestLimits: each way a hostile chart or overlay exhausts a process ends
// the worker, names the limit it hit, and leaves the caller well.
func TestLimits(t *testing.T) {
	tmpl := func(body string) map[string]string {
		return map[string]string{"Chart.yaml": chartYAML, "templates/cm.yaml": body}
	}
	cases := []struct {
		name    string
		files   map[string]string
		limits  Limits
		timeout time.Duration
		want    string
	}{
		{"memory: until", tmpl("{{ until 300000000 | len }}"), Limits{Memory: 256 << 20}, 0, "render exceeded 256 MiB of memory"},
		{"memory: repeat", tmpl("{{ $x := repeat 100000000 \"x\" }}{{ $x | b64enc | len }}{{ $x | b64enc | b64enc | len }}"), Limits{Memory: 256 << 20}, 0, "render exceeded 256 MiB of memory"},
		{"memory: kustomize aliases", map[string]string{
			"kustomization.yaml": "resources: [bomb.yaml]\n",
			"bomb.yaml":          aliasBomb(),
		}, Limits{Memory: 256 << 20}, 0, "its YAML aliases expand it to more than"},
		{"stack: tpl of itself", map[string]string{
			"Chart.yaml": chartYAML, "values.yaml": "x: '{{ tpl .Values.x . }}'\n", "templates/cm.yaml": "{{ tpl .Values.x . }}",
		}, Limits{}, 0, "render exceeded"}, // the stack or the memory, whichever first
		{"time: includes twice, 40 deep", tmpl(nestedDefines(40)), Limits{}, 2 * time.Second, "render exceeded its 2s time limit"},
		{"cpu", tmpl(nestedDefines(40)), Limits{CPU: time.Second}, time.Minute, "render exceeded 1s of CPU time"},
		{"output", map[string]string{"a.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\ndata:\n  big: " + strings.Repeat("x", 2<<20) + "\n"}, Limits{Output: 1 << 20}, 0, "over the 1 MiB limit"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := newSandbox(t, tc.limits)
			start := time.Now()
			_, err := s.Render(context.Background(), render.Source{Root: writeFiles(t, tc.files)}, render.Options{Limits: render.Limits{Timeout: tc.timeout}})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one saying %q", err, tc.want)
			}
			if !errors.Is(err, render.ErrLimit) && !strings.Contains(err.Error(), "render limit exceeded") { // Kustomize flattens errors
				t.Errorf("error %v is not render.ErrLimit", err)
			}
			t.Logf("%s after %s", err, time.Since(start).Round(time.Millisecond))
		})
	}
}

// aliasBomb is a YAML document of nine levels of ten aliases each: 1 KB
// that expands to 10^9 strings.
func aliasBomb() string {
	var b strings.Builder
	b.WriteString("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: bomb\ndata:\n  a0: &a0 [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n")
	for i := 1; i <= 9; i++ {
		b.WriteString("  a" + strconv.Itoa(i) + ": &a" + strconv.Itoa(i) + " [")
		for j := 0; j < 10; j++ {
			if j > 0 {
				b.WriteString(",")
			}
			b.WriteString("*a" + strconv.Itoa(i-1))
		}
		b.WriteString("]\n")
	}
	return b.String()
}

// nestedDefines is a chart template whose defines each include the one
// below twice: 2^depth includes.
func nestedDefines(depth int) string {
	var b strings.Builder
	for i := 0; i < depth; i++ {
		b.WriteString("{{- define \"d" + strconv.Itoa(i) + "\" }}{{ include \"d" + strconv.Itoa(i+1) + "\" . }}{{ include \"d" + strconv.Itoa(i+1) + "\" . }}{{ end }}\n")
	}
	b.WriteString("{{- define \"d" + strconv.Itoa(depth) + "\" }}x{{ end }}\n{{ include \"d0\" . | len }}\n")
	return b.String()
}
