package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"

	"github.com/plumbhq/plumb/api/v1alpha1"
	"github.com/plumbhq/plumb/internal/gittest"
)

// crdOf is a CRD with a status subresource, for a kind whose operator is
// not running: the test writes its status as the operator would.
func crdOf(group, kind, plural string) string {
	return fmt.Sprintf(`apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: %[3]s.%[1]s}
spec:
  group: %[1]s
  scope: Namespaced
  names: {kind: %[2]s, plural: %[3]s}
  versions:
  - name: v1
    served: true
    storage: true
    subresources: {status: {}}
    schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}
`, group, kind, plural)
}

// widgetRules rate a Widget by its Ready condition, as a user would write
// them for an operator plumb has no rule for.
var widgetRules = []v1alpha1.HealthRule{{
	APIVersion: "example.com/*", Kind: "Widget",
	InProgress: "!has(status.conditions) || status.conditions.exists(c, c.type == 'Ready' && c.status == 'Unknown')",
	Failed:     "status.conditions.exists(c, c.type == 'Ready' && c.status == 'False')",
	Current:    "status.conditions.exists(c, c.type == 'Ready' && c.status == 'True')",
}}

var (
	widgets      = schema.GroupVersionResource{Group: "example.com", Version: "v1", Resource: "widgets"}
	certificates = schema.GroupVersionResource{Group: "cert-manager.io", Version: "v1", Resource: "certificates"}
)

// installCRDs installs the Widget CRD (no rule of plumb's knows it) and
// cert-manager's Certificate (the library's) in the test cluster.
func installCRDs(e *e2e) {
	e.t.Helper()
	file := filepath.Join(e.t.TempDir(), "crd.yaml")
	if err := os.WriteFile(file, []byte(crdOf("example.com", "Widget", "widgets")+"---\n"+crdOf("cert-manager.io", "Certificate", "certificates")), 0o600); err != nil {
		e.t.Fatal(err)
	}
	e.kubectl("apply", "--server-side", "-f", file)
	e.kubectl("wait", "--for=condition=Established", "crd/widgets.example.com", "crd/certificates.cert-manager.io", "--timeout=60s")
}

// setReady writes a custom resource's Ready condition through its status
// subresource, as its operator would.
func setReady(e *e2e, dyn dynamic.Interface, gvr schema.GroupVersionResource, name, status, message string) time.Time {
	e.t.Helper()
	ri := dyn.Resource(gvr).Namespace(e.ns)
	u, err := ri.Get(e.ctx, name, metav1.GetOptions{})
	if err != nil {
		e.t.Fatal(err)
	}
	_ = unstructured.SetNestedSlice(u.Object, []any{map[string]any{"type": "Ready", "status": status, "message": message}}, "status", "conditions")
	if _, err := ri.UpdateStatus(e.ctx, u, metav1.UpdateOptions{}); err != nil {
		e.t.Fatal(err)
	}
	return time.Now()
}

// Issue K, acceptance 3 (CLI): plumb status follows a custom resource's
// status as the library (cert-manager's Certificate) or the user's rule
// (a Widget) rates it, and plumb sync --wait fails soon after the status
// turns failed, with the rating's message.
func TestHealthOfCustomResources(t *testing.T) {
	e := newE2E(t, "health-rules")
	installCRDs(e)
	dyn := dynamic.NewForConfigOrDie(env.Config)
	rules := filepath.Join(t.TempDir(), "rules.yaml")
	if err := os.WriteFile(rules, appsYAMLRules(t, widgetRules), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		kind, file string
		gvr        schema.GroupVersionResource
		source     string
		failed     string // the message of a failed rating
	}{
		{"Certificate.cert-manager.io", "apiVersion: cert-manager.io/v1\nkind: Certificate\nmetadata: {name: w1}\nspec: {secretName: web-tls}\n", certificates,
			"cert-manager.io/Certificate (library)", "Issuing certificate failed: rate limited"},
		{"Widget.example.com", "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w1}\nspec: {size: 1}\n", widgets,
			"example.com/Widget (--health-rules rule)", "failed is true: Issuing certificate failed: rate limited"},
	} {
		t.Run(tc.kind, func(t *testing.T) {
			e.write(map[string]string{"cr.yaml": tc.file})
			app := strings.ToLower(strings.Split(tc.kind, ".")[0])
			e.mustPlumb(0, "sync", e.dir, "--app", app)
			for _, st := range []struct{ ready, want string }{{"Unknown", "Progressing"}, {"True", "Healthy"}, {"False", "Degraded"}} {
				setReady(e, dyn, tc.gvr, "w1", st.ready, "Ready is "+st.ready)
				out := e.mustPlumb(0, "status", e.dir, "--app", app, "--health-rules", rules)
				if !strings.Contains(out, tc.kind+"/"+e.ns+"/w1  "+st.want) || !strings.Contains(out, tc.source) {
					t.Errorf("Ready=%s: plumb status says\n%s\nwant %s, decided by %s", st.ready, out, st.want, tc.source)
				}
			}
			setReady(e, dyn, tc.gvr, "w1", "Unknown", "issuing")
			failedAt := make(chan time.Time, 1)
			go func() {
				time.Sleep(2 * time.Second)
				failedAt <- setReady(e, dyn, tc.gvr, "w1", "False", "Issuing certificate failed: rate limited")
			}()
			code, out, errOut := e.plumb("sync", e.dir, "--app", app, "--wait", "--timeout", "60s", "--health-rules", rules)
			ended := time.Now()
			at := <-failedAt
			if code == 0 || !strings.Contains(out+errOut, "("+tc.source+"): Degraded: "+tc.failed) {
				t.Fatalf("plumb sync --wait: exit %d, want a failure with the rating's message\n%s%s", code, out, errOut)
			}
			t.Logf("plumb sync --wait failed %s after the status turned failed", ended.Sub(at).Round(time.Millisecond))
			if ended.Sub(at) > 5*time.Second {
				t.Errorf("plumb sync --wait took %s to notice the failed status", ended.Sub(at))
			}
		})
	}
}

// Issue K, acceptance 3 and 4 (plumb serve): an App's spec.healthRules
// rate its Widget, the library its Certificate, and the App's status
// follows each and names what decided.
func TestServeHealthRules(t *testing.T) {
	s := newServeEnv(t, "serve-health-rules", gittest.Options{})
	installCRDs(s.e2e)
	s.commit(map[string]string{
		"widgets/w.yaml":    "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w1}\nspec: {size: 1}\n",
		"widgets/cert.yaml": "apiVersion: cert-manager.io/v1\nkind: Certificate\nmetadata: {name: web}\nspec: {secretName: web-tls}\n",
	}, "a widget and a certificate")
	app := chartApp(s.ns, "widgets", v1alpha1.Source{RepoURL: s.repo.URL, Ref: "main", Path: "widgets"}, &metav1.Duration{Duration: time.Second})
	app.Spec.HealthRules = widgetRules
	s.createApps([]v1alpha1.App{app})
	startServe(t, "--watch-namespace", s.ns)
	eventually(t, 30*time.Second, "the Widget applied", func() (bool, string) {
		_, err := s.kubectlIn(s.ns, "get", "widget", "w1")
		return err == nil, describe(s.app("widgets"))
	})
	setReady(s.e2e, s.dyn, certificates, "web", "True", "Certificate is up to date")
	for _, tc := range []struct {
		gvr                schema.GroupVersionResource
		name, status, want string
		says               string // in the App's status when Degraded
	}{
		{widgets, "w1", "True", "Healthy", ""},
		{widgets, "w1", "False", "Degraded", "(example.com/Widget (App rule)): Degraded: failed is true: Ready is False"},
		{widgets, "w1", "True", "Healthy", ""},
		{certificates, "web", "False", "Degraded", "(cert-manager.io/Certificate (library)): Degraded: Ready is False"},
		{certificates, "web", "True", "Healthy", ""},
	} {
		setReady(s.e2e, s.dyn, tc.gvr, tc.name, tc.status, "Ready is "+tc.status)
		eventually(t, 30*time.Second, tc.name+" Ready="+tc.status+": App health "+tc.want, func() (bool, string) {
			a := s.app("widgets")
			return a.Status.Health == tc.want && strings.Contains(describe(a), tc.says), describe(a)
		})
	}
}

// appsYAMLRules writes health rules as a --health-rules file.
func appsYAMLRules(t *testing.T, rules []v1alpha1.HealthRule) []byte {
	t.Helper()
	var b strings.Builder
	for _, r := range rules {
		b.WriteString("- apiVersion: " + r.APIVersion + "\n  kind: " + r.Kind + "\n")
		b.WriteString("  inProgress: " + quote(r.InProgress) + "\n  failed: " + quote(r.Failed) + "\n  current: " + quote(r.Current) + "\n")
	}
	return []byte(b.String())
}

func quote(s string) string { return `"` + strings.ReplaceAll(s, `"`, `\"`) + `"` }
