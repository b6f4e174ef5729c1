package render

import (
	"context"
	"os"
	"regexp"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/plumbhq/plumb/resource"
)

// A chart that requires a supported Kubernetes renders offline with no
// option, and .Capabilities.APIVersions follows the cluster's.
func TestHelmCapabilities(t *testing.T) {
	root := writeRepo(t, map[string]string{
		"c/Chart.yaml": "apiVersion: v2\nname: mon\nversion: 0.1.0\nkubeVersion: \">=1.25.0-0\"\n",
		"c/templates/all.yaml": configMap("web") + "---\n" +
			"{{- if .Capabilities.APIVersions.Has \"monitoring.coreos.com/v1/ServiceMonitor\" }}\n" +
			"apiVersion: monitoring.coreos.com/v1\nkind: ServiceMonitor\nmetadata: {name: web}\nspec: {endpoints: [{port: http}]}\n{{- end }}\n" +
			"---\n" + "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: version}\ndata: {v: {{ .Capabilities.KubeVersion.Version | quote }}}\n",
	})
	monitoring := &Capabilities{KubeVersion: "v1.31.4", APIVersions: []string{"v1", "monitoring.coreos.com/v1", "monitoring.coreos.com/v1/ServiceMonitor"}}
	tests := []struct {
		name    string
		opts    Options
		want    []string
		version string
	}{
		{"offline: the client libraries' version", Options{}, []string{"ConfigMap/web", "ConfigMap/version"}, DefaultKubeVersion},
		{"a cluster without the CRD", Options{Capabilities: fixed(&Capabilities{KubeVersion: "v1.30.0", APIVersions: []string{"v1"}})},
			[]string{"ConfigMap/web", "ConfigMap/version"}, "v1.30.0"},
		{"a cluster with the CRD", Options{Capabilities: fixed(monitoring)},
			[]string{"ConfigMap/web", "ServiceMonitor.monitoring.coreos.com/web", "ConfigMap/version"}, "v1.31.4"},
		{"the App's pin wins over the cluster", Options{Capabilities: fixed(monitoring), Helm: HelmOptions{KubeVersion: "v1.29.1"}},
			[]string{"ConfigMap/web", "ServiceMonitor.monitoring.coreos.com/web", "ConfigMap/version"}, "v1.29.1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := Render(context.Background(), Source{Root: root, Path: "c"}, tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			version := ""
			for _, o := range res.Objects {
				got = append(got, resource.RefOf(o.Object).String())
				if o.Object.GetName() == "version" {
					version, _, _ = unstructured.NestedString(o.Object.Object, "data", "v")
				}
			}
			if d := cmp.Diff(tt.want, got, cmpopts.SortSlices(func(a, b string) bool { return a < b })); d != "" {
				t.Errorf("objects (-want +got):\n%s", d)
			}
			if version != tt.version {
				t.Errorf(".Capabilities.KubeVersion = %q, want %q", version, tt.version)
			}
		})
	}
}

func TestDefaultKubeVersionFollowsGoMod(t *testing.T) {
	mod, err := os.ReadFile("../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^\s*k8s\.io/client-go v0\.(\d+\.\d+)`).FindSubmatch(mod)
	if m == nil {
		t.Fatal("go.mod requires no k8s.io/client-go")
	}
	if want := "v1." + string(m[1]); DefaultKubeVersion != want {
		t.Errorf("DefaultKubeVersion = %s, but go.mod's client-go is Kubernetes %s", DefaultKubeVersion, want)
	}
}

func fixed(c *Capabilities) func() (*Capabilities, error) {
	return func() (*Capabilities, error) { return c, nil }
}
