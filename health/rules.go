package health

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// Rule rates the objects of one kind by CEL expressions over the object,
// the shape Flux users know from healthCheckExprs: the object's top-level
// fields (apiVersion, kind, metadata, spec, status) are variables, and so
// is the whole object as self. inProgress, then failed, then current is
// evaluated; the first that is true decides, and none true is Progressing.
type Rule struct {
	// APIVersion is "group/version", "version" for the core group, or
	// "group/*" for every version.
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Current    string `json:"current"`
	InProgress string `json:"inProgress,omitempty"`
	Failed     string `json:"failed,omitempty"`
}

// Budgets of one evaluation: CEL's cost units (a bound on work and on what
// an expression can allocate) and wall time.
const (
	ruleCostLimit = 1_000_000
	ruleTimeout   = 100 * time.Millisecond
)

// Rules are compiled rules from one source ("App", "controller"), the
// first rule for a kind winning.
type Rules struct {
	source string
	byKind map[schema.GroupKind][]*compiledRule
}

type compiledRule struct {
	version                     string // "*" for any
	current, inProgress, failed cel.Program
	name                        string // for messages: "example.com/Widget (App rule)"
}

// CompileRules compiles rules; an error names the rule and the expression.
// source says where they come from in every rating they make.
func CompileRules(rules []Rule, source string) (*Rules, error) {
	env, err := cel.NewEnv(
		cel.Variable("self", cel.DynType),
		cel.Variable("apiVersion", cel.DynType), cel.Variable("kind", cel.DynType),
		cel.Variable("metadata", cel.DynType), cel.Variable("spec", cel.DynType), cel.Variable("status", cel.DynType),
	)
	if err != nil {
		return nil, err
	}
	out := &Rules{source: source, byKind: map[schema.GroupKind][]*compiledRule{}}
	for i, r := range rules {
		gv, err := schema.ParseGroupVersion(strings.Replace(r.APIVersion, "/*", "/any", 1))
		if err != nil || r.Kind == "" || r.APIVersion == "" {
			return nil, fmt.Errorf("health rule %d: apiVersion %q and kind %q must both be set", i, r.APIVersion, r.Kind)
		}
		c := &compiledRule{version: gv.Version, name: fmt.Sprintf("%s/%s (%s rule)", gv.Group, r.Kind, source)}
		if strings.HasSuffix(r.APIVersion, "/*") {
			c.version = "*"
		}
		if gv.Group == "" {
			c.name = fmt.Sprintf("%s (%s rule)", r.Kind, source)
		}
		if r.Current == "" {
			return nil, fmt.Errorf("health rule %d (%s): current must be set", i, c.name)
		}
		for _, e := range []struct {
			field, src string
			prg        *cel.Program
		}{{"current", r.Current, &c.current}, {"inProgress", r.InProgress, &c.inProgress}, {"failed", r.Failed, &c.failed}} {
			if e.src == "" {
				continue
			}
			if *e.prg, err = compile(env, e.src); err != nil {
				return nil, fmt.Errorf("health rule %d (%s): %s: %w", i, c.name, e.field, err)
			}
		}
		gk := schema.GroupKind{Group: gv.Group, Kind: r.Kind}
		out.byKind[gk] = append(out.byKind[gk], c)
	}
	return out, nil
}

func compile(env *cel.Env, src string) (cel.Program, error) {
	ast, iss := env.Compile(src)
	if iss.Err() != nil {
		return nil, iss.Err()
	}
	if t := ast.OutputType(); t != cel.BoolType && t != cel.DynType {
		return nil, fmt.Errorf("%q is a %s, not a bool", src, t)
	}
	return env.Program(ast, cel.CostLimit(ruleCostLimit), cel.InterruptCheckFrequency(100))
}

// Rate applies the first rule for u's kind and version; ok is false when
// none applies (and for nil Rules).
func (r *Rules) Rate(u *unstructured.Unstructured) (Result, bool) {
	if r == nil {
		return Result{}, false
	}
	gvk := u.GroupVersionKind()
	for _, c := range r.byKind[gvk.GroupKind()] {
		if c.version != "*" && c.version != gvk.Version {
			continue
		}
		st, msg := c.eval(u)
		return Result{Status: st, Reason: msg, Source: c.name}, true
	}
	return Result{}, false
}

// eval runs the rule's expressions within the budgets; an error (a type
// error, a missing field, the budget spent, a panic) is this object's
// Unknown, with the message.
func (c *compiledRule) eval(u *unstructured.Unstructured) (st Status, msg string) {
	defer func() {
		if p := recover(); p != nil {
			st, msg = Unknown, fmt.Sprintf("rule failed: %v", p)
		}
	}()
	vars := map[string]any{"self": u.Object, "apiVersion": u.GetAPIVersion(), "kind": u.GetKind(),
		"metadata": field(u, "metadata"), "spec": field(u, "spec"), "status": field(u, "status")}
	ctx, cancel := context.WithTimeout(context.Background(), ruleTimeout)
	defer cancel()
	for _, e := range []struct {
		name string
		prg  cel.Program
		st   Status
	}{{"inProgress", c.inProgress, Progressing}, {"failed", c.failed, Degraded}, {"current", c.current, Healthy}} {
		if e.prg == nil {
			continue
		}
		out, _, err := e.prg.ContextEval(ctx, vars)
		if err != nil {
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				err = fmt.Errorf("over the %s time budget", ruleTimeout)
			}
			return Unknown, fmt.Sprintf("rule error: %s: %v", e.name, err)
		}
		b, ok := out.(types.Bool)
		if !ok {
			return Unknown, fmt.Sprintf("rule error: %s: returned %s, not a bool", e.name, out.Type())
		}
		if b {
			return e.st, ruleMessage(u, e.name)
		}
	}
	return Progressing, "no expression is true yet"
}

// ruleMessage says which expression decided, with the object's own word
// on it: the message of its Ready (or first) condition.
func ruleMessage(u *unstructured.Unstructured, expr string) string {
	msg := expr + " is true"
	conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	for i, c := range conds {
		m, _ := c.(map[string]any)
		if text, ok := m["message"].(string); ok && text != "" && (m["type"] == "Ready" || i == len(conds)-1) {
			return msg + ": " + text
		}
	}
	return msg
}

// field is a top-level field of u, an empty map when absent (a new object
// has no status yet: has(status.x) then answers false, not an error).
func field(u *unstructured.Unstructured, name string) any {
	if v, ok := u.Object[name]; ok {
		return v
	}
	return map[string]any{}
}
