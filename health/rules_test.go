package health

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

func widget(name string, status map[string]any) *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "example.com/v1", "kind": "Widget",
		"metadata": map[string]any{"name": name, "namespace": "shop"}}}
	if status != nil {
		u.Object["status"] = status
	}
	return u
}

func ready(status, message string) map[string]any {
	return map[string]any{"conditions": []any{map[string]any{"type": "Ready", "status": status, "message": message}}}
}

var widgetRule = Rule{
	APIVersion: "example.com/*", Kind: "Widget",
	InProgress: "!has(status.conditions)",
	Failed:     "status.conditions.exists(c, c.type == 'Ready' && c.status == 'False')",
	Current:    "status.conditions.exists(c, c.type == 'Ready' && c.status == 'True')",
}

// Issue K, acceptance 4: a user's rule decides for its kind, before the
// built-in rules and kstatus, and says so.
func TestUserRulesDecide(t *testing.T) {
	app, err := CompileRules([]Rule{widgetRule}, "App")
	if err != nil {
		t.Fatal(err)
	}
	controllerWide, err := CompileRules([]Rule{{APIVersion: "example.com/v1", Kind: "Widget", Current: "true"}}, "controller")
	if err != nil {
		t.Fatal(err)
	}
	r := NewRater(app, controllerWide)
	cases := []struct {
		name string
		obj  *unstructured.Unstructured
		want string
	}{
		{"ready", widget("a", ready("True", "all good")), "Widget.example.com/shop/a (example.com/Widget (App rule)): Healthy: current is true: all good"},
		{"failed", widget("b", ready("False", "Issuing certificate failed")), "Widget.example.com/shop/b (example.com/Widget (App rule)): Degraded: failed is true: Issuing certificate failed"},
		{"no status yet", widget("c", nil), "Widget.example.com/shop/c (example.com/Widget (App rule)): Progressing: inProgress is true"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if d := cmp.Diff(tc.want, r.Of(tc.obj).Explain()); d != "" {
				t.Errorf("(-want +got):\n%s", d)
			}
		})
	}
	// Without the App's rule, the controller-wide one decides; without
	// rules, kstatus does (a Ready=False condition is only in progress).
	if got := NewRater(controllerWide).Of(widget("b", ready("False", "x"))); got.Status != Healthy || !strings.Contains(got.Source, "controller rule") {
		t.Errorf("controller-wide rule: %s", got.Explain())
	}
	if got := Of(widget("b", ready("False", "x"))); got.Source != SourceKstatus {
		t.Errorf("no rules: %s", got.Explain())
	}
}

// Bad rules: a syntax error is refused when the rules compile, naming the
// rule; an error at evaluation (a type error, a non-bool, a budget spent)
// is that object's Unknown, with the message, and no other object's.
func TestBadRules(t *testing.T) {
	if _, err := CompileRules([]Rule{{APIVersion: "example.com/v1", Kind: "Widget", Current: "status.("}}, "App"); err == nil ||
		!strings.Contains(err.Error(), "health rule 0 (example.com/Widget (App rule)): current:") {
		t.Errorf("syntax error: %v", err)
	}
	if _, err := CompileRules([]Rule{{APIVersion: "example.com/v1", Kind: "Widget", Current: "1 + 1"}}, "App"); err == nil || !strings.Contains(err.Error(), "not a bool") {
		t.Errorf("an int rule: %v", err)
	}
	if _, err := CompileRules([]Rule{{Kind: "Widget", Current: "true"}}, "App"); err == nil {
		t.Error("a rule without apiVersion was accepted")
	}
	ten := "[0,1,2,3,4,5,6,7,8,9]"
	explode := ten + ".map(a, " + ten + ".map(b, " + ten + ".map(c, " + ten + ".map(d, " + ten + ".map(e, " + ten + ".map(f, 'x'))))))"
	cases := []struct {
		name, expr string
		want       []string // any of them
	}{
		{"type error", "status.phase + 1 == 2", []string{"rule error: current: no such overload"}},
		{"not a bool", "status.phase", []string{"rule error: current: returned string, not a bool"}},
		{"missing field", "status.nope.deeper == 'x'", []string{"rule error: current: no such key: nope"}},
		// The cost limit stops it, or on a loaded machine the time budget first.
		{"allocates without bound", explode + ".size() > 0", []string{"actual cost limit exceeded", "time budget"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			bad, err := CompileRules([]Rule{{APIVersion: "example.com/v1", Kind: "Widget", Current: tc.expr}}, "App")
			if err != nil {
				t.Fatal(err)
			}
			r := NewRater(bad)
			got := r.Of(widget("a", map[string]any{"phase": "Running"}))
			matched := false
			for _, w := range tc.want {
				matched = matched || strings.Contains(got.Reason, w)
			}
			if got.Status != Unknown || !matched {
				t.Errorf("got %s, want Unknown with one of %q", got.Explain(), tc.want)
			}
			other := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "ConfigMap", "metadata": map[string]any{"name": "c"}}}
			if got := r.Of(other); got.Status != Healthy {
				t.Errorf("another kind's health changed: %s", got.Explain())
			}
		})
	}
}
