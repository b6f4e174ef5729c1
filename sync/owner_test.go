package sync

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// Two Apps render one ConfigMap: the second fails on it naming the first
// and leaves it as it was; with plumb.dev/adopt it takes the object over,
// and the first then reports it lost and forgets it without pruning it.
func TestOwnershipConflicts(t *testing.T) {
	e := newEngine(t, "owner")
	second, err := NewApplier(e.c, ApplierOptions{App: "second", InventoryNamespace: e.ns})
	if err != nil {
		t.Fatal(err)
	}
	e.mustSync(e.objs(configMap("shared", map[string]string{"by": "first"})), Options{}, map[string]Action{"ConfigMap/shared": Created})

	changes, err := second.Sync(e.ctx, e.objs(configMap("shared", map[string]string{"by": "second"}), configMap("own", nil)), Options{Prune: true})
	if !errors.Is(err, ErrApplyFailed) {
		t.Fatalf("second App: err = %v, want ErrApplyFailed", err)
	}
	want := "ConfigMap/" + e.ns + "/shared: apply: ownership conflict: owned by App " + e.ns + "/owner"
	if f := changes.Failed(); len(f) != 1 || !strings.HasPrefix(f[0].Error, want) {
		t.Errorf("failures = %+v, want one starting %q", f, want)
	}
	cm := e.liveConfigMap("shared")
	if cm.Labels[AppLabel] != "owner" || cm.Data["by"] != "first" {
		t.Errorf("the first App's object changed: labels %v, data %v", cm.Labels, cm.Data)
	}
	rep, err := second.Diff(e.ctx, e.objs(configMap("shared", map[string]string{"by": "second"})), DiffOptions{})
	if errs := rep.Errors(); err != nil || len(errs) != 1 || !strings.HasPrefix(errs[0].Error, strings.Replace(want, ": apply", "", 1)) {
		t.Errorf("diff of the second App: %v %+v, want one error starting %q", err, rep.Errors(), want)
	}

	adopt := configMap("shared", map[string]string{"by": "second"}, AdoptAnnotation+`: "true"`)
	changes, err = second.Sync(e.ctx, e.objs(adopt), Options{Prune: true})
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(ChangeSet{{Ref: changes[0].Ref, Action: Configured, Stage: changes[0].Stage,
		Reason: "adopted from App " + e.ns + "/owner (plumb.dev/adopt)"}}, changes); d != "" {
		t.Errorf("takeover (-want +got):\n%s", d)
	}
	if cm := e.liveConfigMap("shared"); cm.Labels[AppLabel] != "second" || cm.Data["by"] != "second" {
		t.Errorf("after the takeover: labels %v, data %v", cm.Labels, cm.Data)
	}

	// The first App reports the object lost while it renders it, and
	// forgets it (no prune) once it does not.
	if _, err := e.sync(e.objs(configMap("shared", map[string]string{"by": "first"})), Options{Prune: true}); !errors.Is(err, ErrApplyFailed) ||
		!strings.Contains(err.Error(), "owned by App "+e.ns+"/second") {
		t.Errorf("the first App after the takeover: err = %v, want it to name the second App", err)
	}
	changes, err = e.a.Sync(e.ctx, e.objs(configMap("other", nil)), Options{Prune: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, ch := range changes {
		if ch.Ref.Name == "shared" && (ch.Action != Skipped || ch.Reason != "now owned by App "+e.ns+"/second") {
			t.Errorf("the first App's prune of the lost object: %+v", ch)
		}
	}
	if cm := e.liveConfigMap("shared"); cm == nil || cm.Labels[AppLabel] != "second" {
		t.Errorf("the first App's prune touched the second's object: %v", cm)
	}
}

// An object nobody labelled for plumb (created by hand) is adopted only when
// the App says so.
func TestAdoptUnlabelled(t *testing.T) {
	e := newEngine(t, "adopt")
	hand := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "by-hand"}, Data: map[string]string{"a": "1"}}
	if _, err := e.cs.CoreV1().ConfigMaps(e.ns).Create(e.ctx, hand, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	desired := e.objs(configMap("by-hand", map[string]string{"a": "2"}))
	if _, err := e.sync(desired, Options{}); err == nil || !strings.Contains(err.Error(), "no plumb App manages it") {
		t.Errorf("err = %v, want a refusal naming the unmanaged object", err)
	}
	if cm := e.liveConfigMap("by-hand"); cm.Data["a"] != "1" || cm.Labels[AppLabel] != "" {
		t.Errorf("the refused object changed: %v %v", cm.Labels, cm.Data)
	}
	e.mustSync(desired, Options{Adopt: true}, map[string]Action{"ConfigMap/by-hand": Configured})
	if cm := e.liveConfigMap("by-hand"); cm.Data["a"] != "2" || cm.Labels[AppLabel] != "adopt" || cm.Labels[AppNamespaceLabel] != e.ns {
		t.Errorf("the adopted object: %v %v", cm.Labels, cm.Data)
	}
}

// Dropping 4 of 10 objects under maxPrune 25% holds every prune (the rest
// of the change applies), and approval lets them go.
func TestDeletionBudget(t *testing.T) {
	e := newEngine(t, "budget")
	var all []string
	for i := range 10 {
		all = append(all, configMap(fmt.Sprintf("cm-%d", i), map[string]string{"v": "1"}))
	}
	if _, err := e.sync(e.objs(all...), Options{}); err != nil {
		t.Fatal(err)
	}
	budget := intstr.FromString("25%")
	kept := append([]string{configMap("cm-0", map[string]string{"v": "2"})}, all[1:6]...)
	opts := Options{Prune: true, MaxPrune: &budget}
	for range 2 { // held again until approved
		changes, err := e.a.Sync(e.ctx, e.objs(kept...), opts)
		if err != nil {
			t.Fatal(err)
		}
		held := map[string]string{}
		for _, ch := range changes.Held() {
			held[ch.Ref.Name] = ch.Reason
		}
		reason := "held for approval: pruning 4 of 10 objects exceeds maxPrune 25% (3)"
		if d := cmp.Diff(map[string]string{"cm-6": reason, "cm-7": reason, "cm-8": reason, "cm-9": reason}, held); d != "" {
			t.Errorf("held prunes (-want +got):\n%s", d)
		}
		if cm := e.liveConfigMap("cm-0"); cm.Data["v"] != "2" {
			t.Errorf("the rest of the change did not apply: %v", cm.Data)
		}
		for i := 6; i < 10; i++ {
			if e.liveConfigMap(fmt.Sprintf("cm-%d", i)) == nil {
				t.Errorf("cm-%d was pruned past the budget", i)
			}
		}
	}
	opts.ApprovePrune = true
	got, err := e.sync(e.objs(kept...), opts)
	if err != nil {
		t.Fatal(err)
	}
	for i := 6; i < 10; i++ {
		if name := fmt.Sprintf("ConfigMap/cm-%d", i); got[name] != Pruned {
			t.Errorf("%s after approval: %s, want pruned", name, got[name])
		}
	}
	four := intstr.FromInt32(4) // a count: 4 may go
	e.mustSync(e.objs(kept[:2]...), Options{Prune: true, MaxPrune: &four}, map[string]Action{
		"ConfigMap/cm-0": Unchanged, "ConfigMap/cm-1": Unchanged, "ConfigMap/cm-2": Pruned,
		"ConfigMap/cm-3": Pruned, "ConfigMap/cm-4": Pruned, "ConfigMap/cm-5": Pruned,
	})
}

// liveConfigMap returns the live ConfigMap name in the test's namespace (nil
// when there is none).
func (e *engine) liveConfigMap(name string) *corev1.ConfigMap {
	e.t.Helper()
	cm, err := e.cs.CoreV1().ConfigMaps(e.ns).Get(e.ctx, name, metav1.GetOptions{})
	if err != nil {
		return nil
	}
	return cm
}
