package controller

import (
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/plumbhq/plumb/api/v1alpha1"
)

// ReasonDependencyNotReady: an App waits for the Apps it depends on.
const ReasonDependencyNotReady = "DependencyNotReady"

// dependencies are the keys of the Apps app depends on.
func dependencies(app *v1alpha1.App) []types.NamespacedName {
	out := make([]types.NamespacedName, 0, len(app.Spec.DependsOn))
	for _, d := range app.Spec.DependsOn {
		ns := d.Namespace
		if ns == "" {
			ns = app.Namespace
		}
		out = append(out, types.NamespacedName{Namespace: ns, Name: d.Name})
	}
	return out
}

// waitingFor says which dependency of app is not Ready at its current
// revision ("" when all are), or the cycle app's dependencies form. Callers
// hold c.mu.
func (c *Controller) waitingFor(app *v1alpha1.App) (waiting string, cycle error) {
	key := types.NamespacedName{Namespace: app.Namespace, Name: app.Name}
	if path := c.cycle(key, key, app, nil, map[types.NamespacedName]bool{}); path != nil {
		names := make([]string, len(path))
		for i, k := range path {
			names[i] = k.String()
		}
		return "", fmt.Errorf("spec.dependsOn: a cycle: %s", strings.Join(names, " → "))
	}
	for _, d := range dependencies(app) {
		dep, ok := c.apps[d]
		if !ok {
			return fmt.Sprintf("App %s, which does not exist", d), nil
		}
		if !readyAtRevision(&dep.app) {
			msg := "not Ready"
			if c := meta.FindStatusCondition(dep.app.Status.Conditions, ConditionReady); c != nil && c.Message != "" {
				msg = c.Reason + ": " + c.Message
			}
			return fmt.Sprintf("App %s (%s)", d, msg), nil
		}
	}
	return "", nil
}

// cycle returns the path from start back to start through the
// dependencies of at (the App atApp), nil when there is none.
func (c *Controller) cycle(start, at types.NamespacedName, atApp *v1alpha1.App, path []types.NamespacedName, seen map[types.NamespacedName]bool) []types.NamespacedName {
	path = append(path, at)
	if seen[at] {
		return nil
	}
	seen[at] = true
	for _, d := range dependencies(atApp) {
		if d == start {
			return append(path, d)
		}
		if st, ok := c.apps[d]; ok {
			if p := c.cycle(start, d, &st.app, path, seen); p != nil {
				return p
			}
		}
	}
	return nil
}

// readyAtRevision: Ready, for the App's current spec, with what it last
// attempted applied.
func readyAtRevision(a *v1alpha1.App) bool {
	c := meta.FindStatusCondition(a.Status.Conditions, ConditionReady)
	return c != nil && c.Status == metav1.ConditionTrue && c.ObservedGeneration == a.Generation &&
		a.Status.ObservedGeneration == a.Generation && a.Status.LastAppliedRevision != "" &&
		a.Status.LastAppliedRevision == a.Status.LastAttemptedRevision
}

// wakeDependants queues every App that depends on key, at once: the
// watches plumb has (its own status writes) are the signal, not a poll.
// Callers hold c.mu.
func (c *Controller) wakeDependants(key types.NamespacedName) {
	for k, st := range c.apps {
		for _, d := range dependencies(&st.app) {
			if d == key {
				c.queue.Add(k)
				break
			}
		}
	}
}
