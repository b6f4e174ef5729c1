package apps

import (
	"fmt"
	"os"

	"sigs.k8s.io/yaml"

	"github.com/plumbhq/plumb/api/v1alpha1"
	"github.com/plumbhq/plumb/health"
)

// HealthRules compiles the App's spec.healthRules (nil when it has none).
func HealthRules(a *v1alpha1.App) (*health.Rules, error) {
	if len(a.Spec.HealthRules) == 0 {
		return nil, nil
	}
	rules := make([]health.Rule, len(a.Spec.HealthRules))
	for i, r := range a.Spec.HealthRules {
		rules[i] = health.Rule{APIVersion: r.APIVersion, Kind: r.Kind, Current: r.Current, InProgress: r.InProgress, Failed: r.Failed}
	}
	compiled, err := health.CompileRules(rules, "App")
	if err != nil {
		return nil, fmt.Errorf("spec.healthRules: %w", err)
	}
	return compiled, nil
}

// ReadHealthRules reads and compiles a file of health rules (a YAML list
// of {apiVersion, kind, current, inProgress, failed}), for a controller's
// or a CLI run's own; source names them in every rating they make.
func ReadHealthRules(path, source string) (*health.Rules, error) {
	if path == "" {
		return nil, nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var rules []health.Rule
	if err := yaml.UnmarshalStrict(data, &rules); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	compiled, err := health.CompileRules(rules, source)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return compiled, nil
}
