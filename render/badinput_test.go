package render

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const aliasBomb = `a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
`

// TestBadInput is the catalogue of inputs render must refuse, each with an
// error that names the file, object or option involved.
func TestBadInput(t *testing.T) {
	outside := t.TempDir()
	if err := os.WriteFile(filepath.Join(outside, "secret.yaml"), []byte(configMap("stolen")), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		files   map[string]string
		path    string
		opts    Options
		want    []string // substrings of the error
		wantErr error    // errors.Is target, optional
	}{
		{
			name:  "malformed YAML names file and line",
			files: map[string]string{"app/ok.yaml": configMap("a"), "app/bad.yaml": configMap("b") + "---\n" + "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n   bad: [\n"},
			path:  "app",
			want:  []string{"app/bad.yaml:12:", "invalid YAML"},
		},
		{
			name:  "missing kind",
			files: map[string]string{"app/a.yaml": "apiVersion: v1\nmetadata:\n  name: nokind\n"},
			path:  "app",
			want:  []string{"app/a.yaml#0", "nokind has no kind"},
		},
		{
			name:  "name that YAML reads as a boolean",
			files: map[string]string{"app/a.yaml": configMap("y")},
			path:  "app",
			want:  []string{"app/a.yaml#0", "ConfigMap: metadata.name is not a string"},
		},
		{
			name:  "missing name",
			files: map[string]string{"app/a.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {}\n"},
			path:  "app",
			want:  []string{"app/a.yaml#0", "ConfigMap has no metadata.name"},
		},
		{
			name:  "duplicate object names both sources",
			files: map[string]string{"app/a.yaml": configMap("web"), "app/b.yaml": configMap("api") + "---\n" + configMap("web")},
			path:  "app",
			opts:  Options{Namespace: "shop"},
			want:  []string{"ConfigMap/shop/web: defined twice: in app/a.yaml#0 and in app/b.yaml#1"},
		},
		{
			name:    "absolute symlink",
			files:   map[string]string{"app/a.yaml": configMap("a"), "app/link.yaml": "symlink:" + filepath.Join(outside, "secret.yaml")},
			path:    "app",
			want:    []string{"app/link.yaml", "leaves the repository"},
			wantErr: ErrOutsideRepository,
		},
		{
			name:    "relative symlink out of the repository",
			files:   map[string]string{"app/link.yaml": "symlink:../../" + filepath.Base(outside) + "/secret.yaml"},
			path:    "app",
			want:    []string{"app/link.yaml", "leaves the repository"},
			wantErr: ErrOutsideRepository,
		},
		{
			name:    "source path outside the repository",
			files:   map[string]string{"app/a.yaml": configMap("a")},
			path:    "../" + filepath.Base(outside),
			wantErr: ErrOutsideRepository,
		},
		{
			name:    "helm value file outside the repository",
			files:   map[string]string{"chart/Chart.yaml": chartYAML, "chart/templates/cm.yaml": configMap("a")},
			path:    "chart",
			opts:    Options{Helm: HelmOptions{ValueFiles: []string{"../../etc/passwd"}}},
			want:    []string{"values file ../../etc/passwd", "leaves the repository"},
			wantErr: ErrOutsideRepository,
		},
		{
			name:    "helm value file through an escaping symlink",
			files:   map[string]string{"chart/Chart.yaml": chartYAML, "chart/templates/cm.yaml": configMap("a"), "chart/evil.yaml": "symlink:/etc/passwd"},
			path:    "chart",
			opts:    Options{Helm: HelmOptions{ValueFiles: []string{"evil.yaml"}}},
			wantErr: ErrOutsideRepository,
		},
		{
			name:    "helm chart file that is an escaping symlink",
			files:   map[string]string{"chart/Chart.yaml": chartYAML, "chart/templates/cm.yaml": "symlink:" + filepath.Join(outside, "secret.yaml")},
			path:    "chart",
			want:    []string{"chart/templates/cm.yaml", "leaves the repository"},
			wantErr: ErrOutsideRepository,
		},
		{
			name:  "helm template error names the template",
			files: map[string]string{"chart/Chart.yaml": chartYAML, "chart/templates/broken.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Values.missing.field }}\n"},
			path:  "chart",
			want:  []string{"chart: helm:", "web/templates/broken.yaml:4"},
		},
		{
			name:  "invalid chart",
			files: map[string]string{"chart/Chart.yaml": "apiVersion: v2\nversion: 1.0.0\n", "chart/templates/cm.yaml": configMap("a")},
			path:  "chart",
			want:  []string{"chart: invalid chart:", "name is required"},
		},
		{
			name:    "kustomize resource outside the root",
			files:   map[string]string{"app/kustomization.yaml": "resources:\n- ../../../etc/passwd\n"},
			path:    "app",
			want:    []string{"app/kustomization.yaml: resources", "leaves the repository"},
			wantErr: ErrOutsideRepository,
		},
		{
			name:  "kustomize remote base",
			files: map[string]string{"app/kustomization.yaml": "resources:\n- https://github.com/kubernetes-sigs/kustomize//examples/helloWorld?ref=v5.0.0\n"},
			path:  "app",
			want:  []string{"app/kustomization.yaml: resources: remote reference", "refused (allow it with the kustomize AllowRemote option)"},
		},
		{
			name:  "kustomize remote base without scheme",
			files: map[string]string{"app/kustomization.yaml": "resources:\n- github.com/kubernetes-sigs/kustomize/examples/multibases?ref=v1.0.6\n"},
			path:  "app",
			want:  []string{"remote reference", "AllowRemote"},
		},
		{
			name: "kustomize exec plugin",
			files: map[string]string{
				"app/kustomization.yaml": "resources:\n- cm.yaml\ntransformers:\n- plugin.yaml\n",
				"app/cm.yaml":            configMap("a"),
				"app/plugin.yaml":        "apiVersion: example.com/v1\nkind: Evil\nmetadata:\n  name: evil\n  annotations:\n    config.kubernetes.io/function: |\n      exec:\n        path: ./evil.sh\n",
			},
			path: "app",
			want: []string{"app/plugin.yaml: Evil evil asks for a KRM function or exec plugin"},
		},
		{
			name: "kustomize legacy plugin kind",
			files: map[string]string{
				"app/kustomization.yaml": "resources:\n- cm.yaml\ngenerators:\n- gen.yaml\n",
				"app/cm.yaml":            configMap("a"),
				"app/gen.yaml":           "apiVersion: someteam.example.com/v1\nkind: SecretsFromDatabase\nmetadata:\n  name: gen\n",
			},
			path: "app",
			want: []string{"app: kustomize:", "SecretsFromDatabase"},
		},
		{
			name:  "kustomize helm generator needs opt-in",
			files: map[string]string{"app/kustomization.yaml": "helmCharts:\n- name: x\n  repo: https://example.com\n"},
			path:  "app",
			want:  []string{"helmCharts", "AllowHelm"},
		},
		{
			name:  "YAML alias bomb",
			files: map[string]string{"app/bomb.yaml": aliasBomb},
			path:  "app",
			want:  []string{"app/bomb.yaml: its YAML aliases expand it to more than 16777216 bytes"},
		},
		{
			name:    "file over the size cap",
			files:   map[string]string{"app/big.yaml": configMap("big") + "  pad: " + strings.Repeat("x", 2048) + "\n"},
			path:    "app",
			opts:    Options{Limits: Limits{MaxFileBytes: 1024}},
			want:    []string{"app/big.yaml:", "over the 1024-byte file limit"},
			wantErr: ErrLimit,
		},
		{
			name:    "render over the total read cap",
			files:   map[string]string{"app/a.yaml": configMap("a"), "app/b.yaml": configMap("b")},
			path:    "app",
			opts:    Options{Limits: Limits{MaxTotalBytes: 80}},
			want:    []string{"over the 80-byte limit"},
			wantErr: ErrLimit,
		},
		{
			name:    "too many objects",
			files:   map[string]string{"app/a.yaml": configMap("a") + "---\n" + configMap("b") + "---\n" + configMap("c")},
			path:    "app",
			opts:    Options{Limits: Limits{MaxObjects: 2}},
			wantErr: ErrLimit,
		},
		{
			name:    "empty directory",
			files:   map[string]string{"app/README.md": "nothing to see"},
			path:    "app",
			wantErr: ErrEmptyRender,
		},
		{
			name:    "only empty documents",
			files:   map[string]string{"app/a.yaml": "---\n# nothing\n---\n"},
			path:    "app",
			wantErr: ErrEmptyRender,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := writeRepo(t, tt.files)
			_, err := Render(context.Background(), Source{Root: root, Path: tt.path}, tt.opts)
			if err == nil {
				t.Fatal("render succeeded, want an error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q\ndoes not contain %q", err, w)
				}
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Errorf("error %q is not %v", err, tt.wantErr)
			}
			if strings.Contains(err.Error(), root) {
				t.Errorf("error %q shows the checkout's directory on disk", err)
			}
		})
	}
}

// TestCheckExpansion: YAML is sized as a parser that copies each alias
// would build it, without building it.
func TestCheckExpansion(t *testing.T) {
	big := strings.Repeat("x", 1000)
	cases := []struct {
		name string
		yaml string
		max  int64
		want string // "" for no error
	}{
		{"no anchors", "a: b\n", 10, ""},
		{"an anchor used twice, small", "a: &x " + big + "\nb: *x\nc: *x\n", 4000, ""},
		{"an anchor used four times, over", "a: &x " + big + "\nb: *x\nc: *x\nd: *x\ne: *x\n", 4000, "expand it to more than 4000 bytes"},
		{"nested aliases", "a: &a [x,x,x,x,x,x,x,x,x,x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c]\n", 10000, "expand it to more than 10000 bytes"},
		{"the documents of a stream add up", "a: &x " + big + "\nb: *x\n---\na: &x " + big + "\nb: *x\n", 3000, "expand it to more than 3000 bytes"},
		{"not YAML: left to the parser", "a: &x [\n", 10, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckExpansion("f.yaml", []byte(tc.yaml), tc.max)
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("error %v, want none", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want) || !errors.Is(err, ErrLimit)):
				t.Errorf("error %v, want ErrLimit saying %q", err, tc.want)
			}
		})
	}
}
