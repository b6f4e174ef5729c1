package sync

import (
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// The engine's contract, against the control plane: what each sync does to
// each object, as change-set actions and as live objects.

func TestSyncCreatesUpdatesAndLeavesUnchanged(t *testing.T) {
	e := newEngine(t, "actions")
	cm := func(v string) string { return configMap("settings", map[string]string{"level": v}) }
	web := deployment("web", "web", "nginx:1.0")
	steps := []struct {
		name string
		docs []string
		opts Options
		want map[string]Action
		// level is data.level of the live ConfigMap afterwards.
		level string
	}{
		{"a first sync creates", []string{cm("1"), web}, Options{},
			map[string]Action{"ConfigMap/settings": Created, "Deployment.apps/web": Created}, "1"},
		{"the same render changes nothing", []string{cm("1"), web}, Options{},
			map[string]Action{"ConfigMap/settings": Unchanged, "Deployment.apps/web": Unchanged}, "1"},
		{"a dry-run of a change writes nothing", []string{cm("2"), web}, Options{DryRun: true},
			map[string]Action{"ConfigMap/settings": Configured, "Deployment.apps/web": Unchanged}, "1"},
		{"a change configures only its object", []string{cm("2"), web}, Options{},
			map[string]Action{"ConfigMap/settings": Configured, "Deployment.apps/web": Unchanged}, "2"},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			e.t = t
			objs := e.objs(st.docs...)
			e.mustSync(objs, st.opts, st.want)
			live := e.live(objs[0])
			if got, _, _ := unstructured.NestedString(live.Object, "data", "level"); got != st.level {
				t.Errorf("live data.level = %q, want %q", got, st.level)
			}
			if got := live.GetLabels()[AppLabel]; got != "actions" {
				t.Errorf("live label %s = %q, want the App", AppLabel, got)
			}
		})
	}
}

func TestPruneGuards(t *testing.T) {
	e := newEngine(t, "prune")
	all := e.objs(
		configMap("gone", nil),
		configMap("kept", nil, `plumb.dev/prune: "false"`),
		configMap("unlabelled", nil),
		configMap("stays", nil),
		"apiVersion: v1\nkind: Namespace\nmetadata: {name: sync-prune-extra}\n",
	)
	e.mustSync(all, Options{}, map[string]Action{
		"ConfigMap/gone": Created, "ConfigMap/kept": Created, "ConfigMap/unlabelled": Created,
		"ConfigMap/stays": Created, "Namespace/sync-prune-extra": Created,
	})
	// Someone takes an object out of the App: prune must forget it.
	if _, err := e.cs.CoreV1().ConfigMaps(e.ns).Patch(e.ctx, "unlabelled", "application/json-patch+json",
		[]byte(`[{"op":"remove","path":"/metadata/labels/plumb.dev~1app"}]`), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	stays := e.objs(configMap("stays", nil))
	e.mustSync(stays, Options{}, map[string]Action{
		"ConfigMap/stays": Unchanged, "ConfigMap/gone": Skipped, "ConfigMap/kept": Skipped,
		"ConfigMap/unlabelled": Skipped, "Namespace/sync-prune-extra": Skipped,
	})
	e.mustSync(stays, Options{Prune: true}, map[string]Action{
		"ConfigMap/stays": Unchanged, "ConfigMap/gone": Pruned, "ConfigMap/kept": Skipped,
		"Namespace/sync-prune-extra": Skipped, // protected without PruneDefinitions
	})
	for _, name := range []string{"kept", "unlabelled", "stays"} {
		if e.live(e.objs(configMap(name, nil))[0]) == nil {
			t.Errorf("ConfigMap %s was deleted", name)
		}
	}
	if _, err := e.sync(nil, Options{Prune: true}); !errors.Is(err, ErrPruneRefused) {
		t.Errorf("empty render: err = %v, want ErrPruneRefused", err)
	}
	if e.live(stays[0]) == nil {
		t.Fatal("an empty render pruned")
	}
	e.mustSync(nil, Options{Prune: true, AllowEmpty: true, PruneDefinitions: true}, map[string]Action{
		"ConfigMap/stays": Pruned, "ConfigMap/kept": Skipped, "Namespace/sync-prune-extra": Pruned,
	})
	if e.live(all[1]) == nil {
		t.Error(`allowEmpty pruned an object annotated plumb.dev/prune: "false"`)
	}
}

func TestImmutableChangeRecreatesOnlyWhenForced(t *testing.T) {
	e := newEngine(t, "immutable")
	e.mustSync(e.objs(deployment("web", "web", "nginx")), Options{}, map[string]Action{"Deployment.apps/web": Created})
	before := e.live(e.objs(deployment("web", "web", "nginx"))[0])
	moved := e.objs(deployment("web", "web2", "nginx"))
	tests := []struct {
		name      string
		opts      Options
		want      Action
		errSays   string // "" for no error
		recreated bool
	}{
		{"refused without force", Options{}, Failed, "--force", false},
		{"a forced dry-run says so and writes nothing", Options{Force: true, DryRun: true}, Recreated, "", false},
		{"forced, deleted and recreated", Options{Force: true}, Recreated, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e.t = t
			changes, err := e.a.Sync(e.ctx, moved, tt.opts)
			if got := e.actions(changes)["Deployment.apps/web"]; got != tt.want {
				t.Errorf("action = %s, want %s (%v)", got, tt.want, changes)
			}
			if tt.errSays != "" && (err == nil || !strings.Contains(err.Error(), tt.errSays) || !strings.Contains(err.Error(), "immutable")) {
				t.Errorf("err = %v, want it to say immutable and %q", err, tt.errSays)
			}
			if tt.errSays == "" && err != nil {
				t.Errorf("err = %v", err)
			}
			after := e.live(moved[0])
			if got := after != nil && after.GetUID() != before.GetUID(); got != tt.recreated {
				t.Errorf("recreated = %v, want %v", got, tt.recreated)
			}
		})
	}
}

func TestCRDAndCustomResourceInOneSync(t *testing.T) {
	e := newEngine(t, "crd")
	objs := e.objs(`apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.sync.plumb.dev}
spec:
  group: sync.plumb.dev
  scope: Namespaced
  names: {kind: Widget, plural: widgets, singular: widget}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            properties:
              size: {type: integer, default: 3}
`, "apiVersion: sync.plumb.dev/v1\nkind: Widget\nmetadata: {name: w1}\nspec: {}\n")
	both := map[string]Action{"CustomResourceDefinition.apiextensions.k8s.io/widgets.sync.plumb.dev": Created, "Widget.sync.plumb.dev/w1": Created}
	e.mustSync(objs, Options{DryRun: true}, both)
	if e.live(objs[0]) != nil {
		t.Fatal("a dry-run created the CRD")
	}
	e.mustSync(objs, Options{}, both)
	if got, _, _ := unstructured.NestedInt64(e.live(objs[1]).Object, "spec", "size"); got != 3 {
		t.Errorf("widget spec.size = %d, want the schema default 3", got)
	}
}

func TestTakeOverFromClientSideApply(t *testing.T) {
	e := newEngine(t, "takeover")
	cm := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: "settings", Labels: map[string]string{"tier": "web"}},
		Data:       map[string]string{"keep": "1", "drop": "2"},
	}
	if _, err := e.cs.CoreV1().ConfigMaps(e.ns).Create(e.ctx, cm, metav1.CreateOptions{FieldManager: "kubectl-client-side-apply"}); err != nil {
		t.Fatal(err)
	}
	e.mustSync(e.objs(configMap("settings", map[string]string{"keep": "1"})), Options{Adopt: true}, map[string]Action{"ConfigMap/settings": Configured})
	live, err := e.cs.CoreV1().ConfigMaps(e.ns).Get(e.ctx, "settings", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(map[string]string{"keep": "1"}, live.Data); d != "" {
		t.Errorf("data after the takeover (-want +got):\n%s", d)
	}
	if _, ok := live.Labels["tier"]; ok {
		t.Errorf("label tier, no longer in Git, is still live: %v", live.Labels)
	}
	for _, mf := range live.ManagedFields {
		if mf.Manager == "kubectl-client-side-apply" {
			t.Errorf("kubectl-client-side-apply still owns fields: %s", mf.FieldsV1.Raw)
		}
	}
}

func TestFailedStageSkipsTheRestAndRecordsNothing(t *testing.T) {
	e := newEngine(t, "failed")
	const planted = "PLANTED-sync-4b1d"
	bad := "apiVersion: v1\nkind: Secret\nmetadata: {name: tls}\ntype: kubernetes.io/tls\ndata:\n  password: " + base64.StdEncoding.EncodeToString([]byte(planted)) + "\n"
	changes, err := e.a.Sync(e.ctx, e.objs(configMap("first", nil), bad, deployment("web", "web", "nginx")), Options{})
	if !errors.Is(err, ErrApplyFailed) {
		t.Fatalf("err = %v, want ErrApplyFailed", err)
	}
	want := map[string]Action{"ConfigMap/first": Created, "Secret/tls": Failed, "Deployment.apps/web": Skipped}
	if d := cmp.Diff(want, e.actions(changes)); d != "" {
		t.Errorf("actions (-want +got):\n%s", d)
	}
	var texts []string
	for _, ch := range changes {
		texts = append(texts, ch.Error, ch.Reason)
	}
	all := err.Error() + strings.Join(texts, " ")
	if strings.Contains(all, planted) || strings.Contains(all, base64.StdEncoding.EncodeToString([]byte(planted))) {
		t.Errorf("the Secret's value leaked into the change set or error: %s", all)
	}
	inv, err := ReadInventory(e.ctx, e.c, e.ns, "failed")
	if err != nil || len(inv.Objects) != 0 {
		t.Errorf("inventory after a failed stage = %+v, %v; want none written", inv, err)
	}
}

func TestFingerprintsWaitForFlush(t *testing.T) {
	e := newEngine(t, "flush")
	a, err := NewApplier(e.c, ApplierOptions{App: "flush", InventoryNamespace: e.ns, CheckpointDelay: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	e.a = a
	e.mustSync(e.objs(configMap("a", map[string]string{"v": "1"})), Options{}, map[string]Action{"ConfigMap/a": Created})
	if _, pending := a.FlushAt(); pending {
		t.Fatal("a new object set was held back; it must be written at once")
	}
	stored := func() string {
		inv, err := ReadInventory(e.ctx, e.c, e.ns, "flush")
		if err != nil || len(inv.Objects) != 1 {
			t.Fatalf("inventory = %+v, %v", inv, err)
		}
		return inv.Objects[0].Fingerprint
	}
	first := stored()
	e.mustSync(e.objs(configMap("a", map[string]string{"v": "2"})), Options{}, map[string]Action{"ConfigMap/a": Configured})
	if _, pending := a.FlushAt(); !pending || stored() != first {
		t.Fatalf("renewed fingerprints: pending %v, stored changed %v; want held until Flush", pending, stored() != first)
	}
	if still, err := a.Flush(e.ctx, false); err != nil || !still {
		t.Errorf("Flush before the delay: pending %v, %v; want it still held", still, err)
	}
	if still, err := a.Flush(e.ctx, true); err != nil || still || stored() == first {
		t.Errorf("forced Flush: pending %v, %v, stored renewed %v", still, err, stored() != first)
	}
}
