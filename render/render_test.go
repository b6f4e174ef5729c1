package render

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chartutil"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/plumbhq/plumb/internal/gittest"
	"github.com/plumbhq/plumb/resource"
)

const cm = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: %s\ndata:\n  k: v\n"

func configMap(name string) string { return strings.Replace(cm, "%s", name, 1) }

const chartYAML = "apiVersion: v2\nname: web\nversion: 0.1.0\n"

func TestPlainSelectionAndNamespaces(t *testing.T) {
	root := writeRepo(t, map[string]string{
		"app/b.yaml":          configMap("b") + "---\n---\n" + "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: team\n",
		"app/a.json":          `{"apiVersion":"v1","kind":"List","items":[{"apiVersion":"v1","kind":"Secret","metadata":{"name":"s"}},{"apiVersion":"rbac.authorization.k8s.io/v1","kind":"ClusterRole","metadata":{"name":"cr","namespace":"ignored"}}]}`,
		"app/notes.txt":       "not a manifest",
		"app/skip.yaml":       configMap("skipped"),
		"app/sub/c.yml":       configMap("c"),
		"app/sub/crd.yaml":    "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  name: widgets.example.com\nspec:\n  group: example.com\n  scope: Cluster\n  names:\n    kind: Widget\n    plural: widgets\n",
		"app/sub/widget.yaml": "apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: w\n---\napiVersion: other.example.com/v1\nkind: Gadget\nmetadata:\n  name: g\n  namespace: own\n",
		"app/link.yaml":       "symlink:sub/c.yml",
	})
	tests := []struct {
		name string
		opts Options
		want []string
	}{
		{
			name: "top level only",
			opts: Options{Namespace: "shop", Plain: PlainOptions{Exclude: []string{"skip.yaml", "link.yaml"}}},
			want: []string{"Secret/shop/s@app/a.json#0", "ClusterRole.rbac.authorization.k8s.io/cr@app/a.json#0", "ConfigMap/shop/b@app/b.yaml#0", "Namespace/team@app/b.yaml#1"},
		},
		{
			name: "recursive with include glob",
			opts: Options{Namespace: "shop", Plain: PlainOptions{Recursive: true, Include: []string{"sub/*"}}},
			want: []string{"ConfigMap/shop/c@app/sub/c.yml#0", "CustomResourceDefinition.apiextensions.k8s.io/widgets.example.com@app/sub/crd.yaml#0", "Widget.example.com/w@app/sub/widget.yaml#0", "Gadget.other.example.com/own/g@app/sub/widget.yaml#1"},
		},
		{
			name: "symlink inside the repository is followed",
			opts: Options{Plain: PlainOptions{Include: []string{"link.yaml"}}},
			want: []string{"ConfigMap/c@app/link.yaml#0"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := Render(context.Background(), Source{Root: root, Path: "app"}, tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			if res.Renderer != Plain {
				t.Errorf("renderer = %q, want plain", res.Renderer)
			}
			var got []string
			for _, o := range res.Objects {
				got = append(got, resource.RefOf(o.Object).String()+"@"+o.Origin.String())
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("objects (-want +got):\n%s", diff)
			}
		})
	}
}

func TestHelmOptionsAndHooks(t *testing.T) {
	root := writeRepo(t, map[string]string{
		"values/shared.yaml":                  "replicas: 3\nimage: {tag: shared}\n",
		"chart/Chart.yaml":                    chartYAML,
		"chart/values.yaml":                   "replicas: 1\nimage: {repo: nginx, tag: latest}\nport: 80\n",
		"chart/values-prod.yaml":              "image: {tag: prod}\n",
		"chart/.helmignore":                   "ignored.yaml\n",
		"chart/templates/cm.yaml":             "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}\ndata:\n  replicas: {{ .Values.replicas | quote }}\n  image: {{ printf \"%s:%s\" .Values.image.repo .Values.image.tag | quote }}\n  port: {{ .Values.port | quote }}\n  kube: {{ .Capabilities.KubeVersion.Minor | quote }}\n  ns: {{ .Release.Namespace }}\n  lookup: {{ lookup \"v1\" \"Namespace\" \"\" \"kube-system\" | len | quote }}\n",
		"chart/templates/ignored.yaml":        "this is not yaml: [",
		"chart/templates/hook.yaml":           "apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: migrate\n  annotations:\n    helm.sh/hook: pre-install,pre-upgrade\nspec:\n  template:\n    spec:\n      restartPolicy: Never\n      containers: [{name: m, image: busybox}]\n",
		"chart/templates/tests/test.yaml":     "apiVersion: v1\nkind: Pod\nmetadata:\n  name: smoke\n  annotations:\n    helm.sh/hook: test\nspec:\n  containers: [{name: t, image: busybox}]\n",
		"chart/crds/widget.yaml":              "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  name: widgets.example.com\nspec:\n  group: example.com\n  scope: Namespaced\n  names: {kind: Widget, plural: widgets}\n  versions: [{name: v1, served: true, storage: true, schema: {openAPIV3Schema: {type: object}}}]\n",
		"chart/charts/sub/Chart.yaml":         "apiVersion: v2\nname: sub\nversion: 0.1.0\n",
		"chart/charts/sub/templates/svc.yaml": "apiVersion: v1\nkind: Service\nmetadata:\n  name: sub\nspec:\n  ports: [{port: 80}]\n",
	})
	res, err := Render(context.Background(), Source{Root: root, Path: "chart"}, Options{
		Namespace: "web",
		Helm: HelmOptions{
			ReleaseName: "rel",
			ValueFiles:  []string{"/values/shared.yaml", "values-prod.yaml"},
			Set:         []string{"port=8080"},
			SetString:   []string{"replicas=5"},
			KubeVersion: "v1.37.2",
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	var objs []string
	for _, o := range res.Objects {
		objs = append(objs, resource.RefOf(o.Object).String()+"@"+o.Origin.String())
	}
	wantObjs := []string{
		"CustomResourceDefinition.apiextensions.k8s.io/widgets.example.com@web/crds/widget.yaml",
		"ConfigMap/web/rel@web/templates/cm.yaml",
		"Service/web/sub@web/charts/sub/templates/svc.yaml",
	}
	if diff := cmp.Diff(wantObjs, objs); diff != "" {
		t.Errorf("objects (-want +got):\n%s", diff)
	}
	data := res.Objects[1].Object.Object["data"]
	wantData := map[string]any{"replicas": "5", "image": "nginx:prod", "port": "8080", "kube": "37", "ns": "web", "lookup": "0"}
	if diff := cmp.Diff(wantData, data); diff != "" {
		t.Errorf("values (-want +got):\n%s", diff)
	}
	var hooks []string
	for _, h := range res.Hooks {
		hooks = append(hooks, h.Object.GetName()+"@"+h.Origin.Hook)
	}
	// Tests are kept, as helm template shows them; sync says it never runs them.
	if diff := cmp.Diff([]string{"smoke@test", "migrate@pre-install,pre-upgrade"}, hooks); diff != "" {
		t.Errorf("hooks (-want +got):\n%s", diff)
	}
}

func TestEndlessTemplateRecursionFails(t *testing.T) {
	// Hostile chart: a template that includes itself forever must end in an
	// error (Helm's include depth limit), not exhaust the stack.
	root := writeRepo(t, map[string]string{
		"chart/Chart.yaml":          chartYAML,
		"chart/templates/_loop.tpl": `{{ define "loop" }}{{ include "loop" . }}{{ end }}`,
		"chart/templates/cm.yaml":   `{{ include "loop" . }}`,
	})
	_, err := Render(context.Background(), Source{Root: root, Path: "chart"}, Options{})
	if err == nil {
		t.Fatal("render of an endlessly recursive template succeeded")
	}
}

func TestSplitDocuments(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []document
	}{
		{"single", "a: 1\n", []document{{0, 1, []byte("a: 1\n")}}},
		{"leading separator and comments", "---\n# c\na: 1\n--- # next\nb: 2", []document{{0, 2, []byte("# c\na: 1\n")}, {1, 5, []byte("b: 2")}}},
		{"empty documents dropped", "---\n---\n\n---\na: 1\n", []document{{0, 5, []byte("a: 1\n")}}},
		{"separator-like content kept", "a: |\n  ---x\n", []document{{0, 1, []byte("a: |\n  ---x\n")}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := splitDocuments([]byte(tt.in))
			if diff := cmp.Diff(tt.want, got, cmp.AllowUnexported(document{})); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestScopeFromMapper(t *testing.T) {
	// With a cluster's REST mapper, scope comes from discovery: a custom
	// kind the built-in list cannot know about is cluster-scoped here.
	mapper := meta.NewDefaultRESTMapper(nil)
	mapper.Add(schema.GroupVersionKind{Group: "example.com", Version: "v1", Kind: "Tenant"}, meta.RESTScopeRoot)
	mapper.Add(schema.GroupVersionKind{Group: "example.com", Version: "v1", Kind: "Widget"}, meta.RESTScopeNamespace)
	root := writeRepo(t, map[string]string{
		"app/a.yaml": "apiVersion: example.com/v1\nkind: Tenant\nmetadata:\n  name: t\n---\napiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: w\n",
	})
	res, err := Render(context.Background(), Source{Root: root, Path: "app"}, Options{Namespace: "dest", Mapper: mapper})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, o := range res.Objects {
		got = append(got, resource.RefOf(o.Object).String())
	}
	if diff := cmp.Diff([]string{"Tenant.example.com/t", "Widget.example.com/dest/w"}, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestRenderTimeout(t *testing.T) {
	root := writeRepo(t, map[string]string{"app/a.yaml": configMap("a")})
	_, err := Render(context.Background(), Source{Root: root, Path: "app"}, Options{Limits: Limits{Timeout: time.Nanosecond}})
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "app: render:") {
		t.Fatalf("err = %v, want a deadline error naming the path", err)
	}
}

func TestHelmVendoredDependency(t *testing.T) {
	// A dependency vendored as charts/<name>-<version>.tgz, as `helm
	// dependency build` leaves it.
	sub := &chart.Chart{
		Metadata:  &chart.Metadata{APIVersion: "v2", Name: "cache", Version: "1.2.3"},
		Templates: []*chart.File{{Name: "templates/cm.yaml", Data: []byte("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-cache\ndata:\n  size: {{ .Values.size | quote }}\n")}},
		Values:    map[string]any{"size": 1},
	}
	root := writeRepo(t, map[string]string{
		"app/Chart.yaml":  chartYAML + "dependencies:\n- name: cache\n  version: 1.2.3\n",
		"app/values.yaml": "cache:\n  size: 64\n",
	})
	if err := os.MkdirAll(filepath.Join(root, "app", "charts"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := chartutil.Save(sub, filepath.Join(root, "app", "charts")); err != nil {
		t.Fatal(err)
	}
	res, err := Render(context.Background(), Source{Root: root, Path: "app"}, Options{Helm: HelmOptions{ReleaseName: "r"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Objects) != 1 || res.Objects[0].Object.GetName() != "r-cache" || res.Objects[0].Object.Object["data"].(map[string]any)["size"] != "64" {
		t.Fatalf("objects = %v", res.Objects)
	}
}

func TestKustomizeRemoteBaseWhenAllowed(t *testing.T) {
	srv, err := gittest.NewServer(gittest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	repo, err := srv.CreateRepo("bases")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := repo.Commit("main", gittest.Files(map[string]string{
		"base/kustomization.yaml": "resources:\n- cm.yaml\n",
		"base/cm.yaml":            configMap("from-remote"),
	}), "base"); err != nil {
		t.Fatal(err)
	}
	root := writeRepo(t, map[string]string{
		"app/kustomization.yaml": "namePrefix: x-\nresources:\n- " + repo.URL + "//base?ref=main\n",
	})
	src := Source{Root: root, Path: "app"}
	if _, err := Render(context.Background(), src, Options{}); err == nil || !strings.Contains(err.Error(), "AllowRemote") {
		t.Fatalf("remote base without AllowRemote: err = %v", err)
	}
	before := srv.Requests()
	res, err := Render(context.Background(), src, Options{Kustomize: KustomizeOptions{AllowRemote: true}})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Objects) != 1 || res.Objects[0].Object.GetName() != "x-from-remote" {
		t.Fatalf("objects = %v", res.Objects)
	}
	if srv.Requests() == before {
		t.Error("the remote base was not fetched from the git server")
	}
}

func TestInputs(t *testing.T) {
	root := writeRepo(t, map[string]string{
		"base/kustomization.yaml":         "resources: [cm.yaml]\n",
		"base/cm.yaml":                    configMap("a"),
		"components/x/kustomization.yaml": "apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\n",
		"overlay/kustomization.yaml":      "resources: [../base]\ncomponents: [../components/x]\n",
		"shared/values-prod.yaml":         "a: 1\n",
		"chart/Chart.yaml":                chartYAML,
		"plain/a.yaml":                    "symlink:../shared/real.yaml",
		"shared/real.yaml":                configMap("b"),
		"envs/v2/cm.yaml":                 configMap("c"),
		"apps/prod":                       "symlink:../envs/v2",
		"twohops/a.yaml":                  "symlink:../hop/one.yaml",
		"hop/one.yaml":                    "symlink:../final/cm.yaml",
		"final/cm.yaml":                   configMap("d"),
		"linked/kustomization.yaml":       "resources: [../bases/web]\n",
		"bases/web":                       "symlink:../real-base",
		"real-base/kustomization.yaml":    "resources: [cm.yaml, deep]\n",
		"real-base/cm.yaml":               configMap("e"),
		"real-base/deep":                  "symlink:../deeper",
		"deeper/cm.yaml":                  configMap("f"),
	})
	tests := []struct {
		name string
		path string
		opts Options
		want []string
	}{
		{"kustomize bases and components", "overlay", Options{}, []string{"base/", "components/x/", "overlay/"}},
		{"helm value files", "chart", Options{Helm: HelmOptions{ValueFiles: []string{"/shared/values-prod.yaml", "values.yaml"}}}, []string{"chart/", "chart/values.yaml", "shared/values-prod.yaml"}},
		{"symlink targets", "plain", Options{}, []string{"plain/", "shared/real.yaml"}},
		{"symlinked app directory", "apps/prod", Options{}, []string{"apps/prod/", "envs/v2/"}},
		{"a file two symlink hops away", "twohops", Options{}, []string{"final/cm.yaml", "hop/one.yaml", "twohops/"}},
		{"a symlinked Kustomize base, and a symlink inside it", "linked", Options{}, []string{"bases/web/", "bases/web/deep/", "deeper/", "linked/", "real-base/"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Inputs(Source{Root: root, Path: tt.path}, tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
	if _, err := Inputs(Source{Root: root, Path: "../elsewhere"}, Options{}); !errors.Is(err, ErrOutsideRepository) {
		t.Errorf("Inputs outside the repository: %v", err)
	}
	if !Affected([]string{"base/"}, []string{"base/cm.yaml"}) || Affected([]string{"base/"}, []string{"basement/x"}) || !Affected([]string{""}, []string{"x"}) || !Affected([]string{"apps/prod/"}, []string{"apps/prod"}) {
		t.Error("Affected matches paths wrongly")
	}
}
