package main

import (
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

const widgetCRD = `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.example.com}
spec:
  group: example.com
  scope: Namespaced
  names: {kind: Widget, plural: widgets, singular: widget}
  versions:
  - name: v1
    served: true
    storage: true
    subresources: {status: {}}
    schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}
`

// widgetRules rate a Widget by its Ready condition, as a user would write
// them for an operator plumb has no rule for.
var widgetRules = []v1alpha1.HealthRule{{
	APIVersion: "example.com/*", Kind: "Widget",
	InProgress: "!has(status.conditions) || status.conditions.exists(c, c.type == 'Ready' && c.status == 'Unknown')",
	Failed:     "status.conditions.exists(c, c.type == 'Ready' && c.status == 'False')",
	Current:    "status.conditions.exists(c, c.type == 'Ready' && c.status == 'True')",
}}

var widgets = schema.GroupVersionResource{Group: "example.com", Version: "v1", Resource: "widgets"}

// installWidgets installs the Widget CRD once for the test binary's cluster.
func installWidgets(e *e2e) {
	e.t.Helper()
	file := filepath.Join(e.t.TempDir(), "crd.yaml")
	if err := os.WriteFile(file, []byte(widgetCRD), 0o600); err != nil {
		e.t.Fatal(err)
	}
	e.kubectl("apply", "--server-side", "-f", file)
	e.kubectl("wait", "--for=condition=Established", "crd/widgets.example.com", "--timeout=60s")
}

// setReady writes the Widget's Ready condition through its status
// subresource, as its operator would.
func setReady(e *e2e, dyn dynamic.Interface, name, status, message string) time.Time {
	e.t.Helper()
	ri := dyn.Resource(widgets).Namespace(e.ns)
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
// status as the user's rule rates it, and plumb sync --wait fails soon
// after the status turns failed, with the rule's message.
func TestHealthRulesRateCustomResources(t *testing.T) {
	e := newE2E(t, "health-rules")
	installWidgets(e)
	dyn := dynamic.NewForConfigOrDie(env.Config)
	rules := filepath.Join(t.TempDir(), "rules.yaml")
	if err := os.WriteFile(rules, appsYAMLRules(t, widgetRules), 0o600); err != nil {
		t.Fatal(err)
	}
	e.write(map[string]string{"widget.yaml": "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w1}\nspec: {size: 1}\n"})
	e.mustPlumb(0, "sync", e.dir, "--app", "widgets")
	for _, tc := range []struct{ status, want string }{
		{"Unknown", "Progressing"}, {"True", "Healthy"}, {"False", "Degraded"},
	} {
		setReady(e, dyn, "w1", tc.status, "Ready is "+tc.status)
		out := e.mustPlumb(0, "status", e.dir, "--app", "widgets", "--health-rules", rules)
		if !strings.Contains(out, "Widget.example.com/"+e.ns+"/w1  "+tc.want) || !strings.Contains(out, "example.com/Widget (--health-rules rule)") {
			t.Errorf("Ready=%s: plumb status says\n%s\nwant %s, decided by the rule", tc.status, out, tc.want)
		}
	}

	setReady(e, dyn, "w1", "Unknown", "issuing")
	failedAt := make(chan time.Time, 1)
	go func() {
		time.Sleep(2 * time.Second)
		failedAt <- setReady(e, dyn, "w1", "False", "Issuing certificate failed: rate limited")
	}()
	code, out, errOut := e.plumb("sync", e.dir, "--app", "widgets", "--wait", "--timeout", "60s", "--health-rules", rules)
	ended := time.Now()
	at := <-failedAt
	if code == 0 || !strings.Contains(out+errOut, "failed is true: Issuing certificate failed: rate limited") {
		t.Fatalf("plumb sync --wait: exit %d, want a failure with the rule's message\n%s%s", code, out, errOut)
	}
	t.Logf("plumb sync --wait failed %s after the Widget's status turned failed", ended.Sub(at).Round(time.Millisecond))
	if ended.Sub(at) > 5*time.Second {
		t.Errorf("plumb sync --wait took %s to notice the failed status", ended.Sub(at))
	}
}

// Issue K, acceptance 3 and 4 (plumb serve): an App's spec.healthRules
// rate its custom resource, and the App's status follows and names the
// rule.
func TestServeHealthRules(t *testing.T) {
	s := newServeEnv(t, "serve-health-rules", gittest.Options{})
	installWidgets(s.e2e)
	s.commit(map[string]string{"widgets/w.yaml": "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w1}\nspec: {size: 1}\n"}, "a widget")
	app := chartApp(s.ns, "widgets", v1alpha1.Source{RepoURL: s.repo.URL, Ref: "main", Path: "widgets"}, &metav1.Duration{Duration: time.Second})
	app.Spec.HealthRules = widgetRules
	s.createApps([]v1alpha1.App{app})
	startServe(t, "--watch-namespace", s.ns)
	eventually(t, 30*time.Second, "the Widget applied", func() (bool, string) {
		_, err := s.kubectlIn(s.ns, "get", "widget", "w1")
		return err == nil, describe(s.app("widgets"))
	})
	for _, tc := range []struct{ status, want string }{{"True", "Healthy"}, {"False", "Degraded"}, {"True", "Healthy"}} {
		setReady(s.e2e, s.dyn, "w1", tc.status, "Ready is "+tc.status)
		eventually(t, 30*time.Second, "App health "+tc.want, func() (bool, string) {
			a := s.app("widgets")
			ok := a.Status.Health == tc.want
			if tc.want == "Degraded" {
				ok = ok && strings.Contains(describe(a), "(example.com/Widget (App rule)): Degraded: failed is true: Ready is False")
			}
			return ok, describe(a)
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
