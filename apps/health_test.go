package apps

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/plumbhq/plumb/api/v1alpha1"
	"github.com/plumbhq/plumb/health"
)

func TestHealthRules(t *testing.T) {
	app := &v1alpha1.App{}
	app.Name = "shop"
	app.Spec.Source.RepoURL = "https://git.example.com/shop.git"
	app.Spec.HealthRules = []v1alpha1.HealthRule{
		{APIVersion: "example.com/v1", Kind: "Widget", Current: "status.ready == true"},
		{APIVersion: "example.com/v1", Kind: "Gadget", Lua: `return {status = "Degraded", message = "from Lua"}`},
	}
	if err := Validate(app); err != nil {
		t.Fatal(err)
	}
	rules, err := HealthRules(app)
	if err != nil {
		t.Fatal(err)
	}
	r := health.NewRater(rules)
	obj := func(kind string) *unstructured.Unstructured {
		return &unstructured.Unstructured{Object: map[string]any{"apiVersion": "example.com/v1", "kind": kind,
			"metadata": map[string]any{"name": "x"}, "status": map[string]any{"ready": true}}}
	}
	for kind, want := range map[string]string{
		"Widget": "(example.com/Widget (App rule)): Healthy",
		"Gadget": "(example.com/Gadget (App Lua rule)): Degraded: from Lua",
	} {
		if got := r.Of(obj(kind)).Explain(); !strings.Contains(got, want) {
			t.Errorf("%s: %s, want %q", kind, got, want)
		}
	}
	for name, bad := range map[string]v1alpha1.HealthRule{
		"both":     {APIVersion: "example.com/v1", Kind: "Widget", Current: "true", Lua: "return {}"},
		"bad CEL":  {APIVersion: "example.com/v1", Kind: "Widget", Current: "status.("},
		"bad Lua":  {APIVersion: "example.com/v1", Kind: "Widget", Lua: "return {"},
		"no kind":  {APIVersion: "example.com/v1", Current: "true"},
		"no rules": {APIVersion: "example.com/v1", Kind: "Widget"},
	} {
		app.Spec.HealthRules = []v1alpha1.HealthRule{bad}
		if err := Validate(app); err == nil || !strings.HasPrefix(err.Error(), "spec.healthRules: health rule 0") {
			t.Errorf("%s: Validate = %v, want an error naming spec.healthRules and the rule", name, err)
		}
	}
}
