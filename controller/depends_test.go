package controller

import (
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/plumbhq/plumb/api/v1alpha1"
)

func TestWaitingFor(t *testing.T) {
	app := func(name string, ready bool, deps ...string) *appState {
		a := v1alpha1.App{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", Generation: 2}}
		for _, d := range deps {
			a.Spec.DependsOn = append(a.Spec.DependsOn, v1alpha1.AppReference{Name: d})
		}
		a.Status = v1alpha1.AppStatus{ObservedGeneration: 2, LastAttemptedRevision: "main@sha1:1", LastAppliedRevision: "main@sha1:1"}
		status := metav1.ConditionFalse
		if ready {
			status = metav1.ConditionTrue
		}
		a.Status.Conditions = []metav1.Condition{{Type: ConditionReady, Status: status, Reason: "Progressing", Message: "waiting for Deployment.apps/ns/db", ObservedGeneration: 2}}
		return &appState{app: a}
	}
	stale := app("stale", true)
	stale.app.Status.LastAttemptedRevision = "main@sha1:2" // Ready, but not at its current revision
	c := &Controller{apps: map[types.NamespacedName]*appState{}}
	for _, st := range []*appState{
		app("ready", true), app("progressing", false), stale,
		app("after-ready", false, "ready"), app("after-progressing", true, "ready", "progressing"),
		app("after-stale", false, "stale"), app("after-missing", false, "missing"),
		app("x", false, "y"), app("y", false, "z"), app("z", false, "x"), app("after-cycle", false, "x"),
	} {
		c.apps[types.NamespacedName{Namespace: "ns", Name: st.app.Name}] = st
	}
	tests := []struct {
		app, waiting, cycle string
	}{
		{"after-ready", "", ""},
		{"after-progressing", "App ns/progressing (Progressing: waiting for Deployment.apps/ns/db)", ""},
		{"after-stale", "App ns/stale (", ""},
		{"after-missing", "App ns/missing, which does not exist", ""},
		{"x", "", "spec.dependsOn: a cycle: ns/x → ns/y → ns/z → ns/x"},
		{"after-cycle", "App ns/x (", ""},
	}
	for _, tt := range tests {
		t.Run(tt.app, func(t *testing.T) {
			waiting, cycle := c.waitingFor(&c.apps[types.NamespacedName{Namespace: "ns", Name: tt.app}].app)
			if !strings.HasPrefix(waiting, tt.waiting) || (tt.waiting == "" && waiting != "") {
				t.Errorf("waiting = %q, want %q", waiting, tt.waiting)
			}
			got := ""
			if cycle != nil {
				got = cycle.Error()
			}
			if got != tt.cycle {
				t.Errorf("cycle = %q, want %q", got, tt.cycle)
			}
		})
	}
}
