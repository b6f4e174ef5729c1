package apps

import (
	"fmt"
	"os"
	"strings"

	"sigs.k8s.io/yaml"

	"github.com/plumbhq/plumb/api/v1alpha1"
	"github.com/plumbhq/plumb/health"
	"github.com/plumbhq/plumb/health/library"
)

// HealthRules compiles the App's spec.healthRules (nil when it has none).
func HealthRules(a *v1alpha1.App) (health.Library, error) {
	if len(a.Spec.HealthRules) == 0 {
		return nil, nil
	}
	rules, err := compileRules(a.Spec.HealthRules, "App")
	if err != nil {
		return nil, fmt.Errorf("spec.healthRules: %w", err)
	}
	return rules, nil
}

// ReadHealthRules reads and compiles a file of health rules (a YAML list of
// spec.healthRules entries), for a controller's or a CLI run's own; source
// names them in every rating they make.
func ReadHealthRules(path, source string) (health.Library, error) {
	if path == "" {
		return nil, nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var rules []v1alpha1.HealthRule
	if err := yaml.UnmarshalStrict(data, &rules); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	compiled, err := compileRules(rules, source)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return compiled, nil
}

// compileRules splits rules into CEL rules and Lua scripts, each compiled;
// a rule is one or the other.
func compileRules(rules []v1alpha1.HealthRule, source string) (health.Library, error) {
	var cel []health.Rule
	var lua []library.Script
	for i, r := range rules {
		isLua := strings.TrimSpace(r.Lua) != ""
		isCEL := r.Current != "" || r.InProgress != "" || r.Failed != ""
		switch {
		case isLua && isCEL:
			return nil, fmt.Errorf("health rule %d (%s %s): lua and CEL expressions (current, inProgress, failed) exclude each other", i, r.APIVersion, r.Kind)
		case isLua:
			lua = append(lua, library.Script{APIVersion: r.APIVersion, Kind: r.Kind, Lua: r.Lua})
		default:
			cel = append(cel, health.Rule{APIVersion: r.APIVersion, Kind: r.Kind, Current: r.Current, InProgress: r.InProgress, Failed: r.Failed})
		}
	}
	celRules, err := health.CompileRules(cel, source)
	if err != nil {
		return nil, err
	}
	scripts, err := library.CompileScripts(lua, source)
	if err != nil {
		return nil, err
	}
	return health.Chain{celRules, scripts}, nil
}
