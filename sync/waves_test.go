package sync

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/plumbhq/plumb/health"
)

// waitHealthy is the WaitWave the front ends pass (apps.WaveWaiter, which
// this package's tests cannot import).
func (e *engine) waitHealthy(ctx context.Context, objs []*unstructured.Unstructured) error {
	_, err := health.Wait(ctx, e.c, objs, health.WaitOptions{Timeout: time.Minute, Interval: 200 * time.Millisecond}, nil)
	return err
}

// Issue W, acceptance 3: wave 1 is created only after wave 0's Deployment
// is Available, in plumb's annotation and in Argo CD's.
func TestWavesWaitForHealth(t *testing.T) {
	for _, key := range []string{WaveAnnotation, ArgoWaveAnnotation} {
		name := "waves-" + strings.Split(key, ".")[0]
		t.Run(key, func(t *testing.T) {
			e := newEngine(t, name)
			// minReadySeconds makes Available come two seconds after the
			// Pod is ready, so an apply that did not wait lands before it.
			db := strings.Replace(deployment("db", "db", "postgres"), "spec:\n  replicas: 1", "spec:\n  minReadySeconds: 2\n  replicas: 1", 1)
			db = strings.Replace(db, "metadata: {name: db}", "metadata: {name: db, annotations: {"+key+": \"0\"}}", 1)
			web := "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: web, annotations: {" + key + ": \"1\"}}\ndata: {db: db}\n"
			e.mustSync(e.objs(db, web), Options{WaitWave: e.waitHealthy}, map[string]Action{"Deployment.apps/db": Created, "ConfigMap/web": Created})
			dep := e.live(e.objs(db)[0])
			var available string
			conds, _, _ := unstructured.NestedSlice(dep.Object, "status", "conditions")
			for _, c := range conds {
				if m := c.(map[string]any); m["type"] == "Available" && m["status"] == "True" {
					available, _ = m["lastTransitionTime"].(string)
				}
			}
			created := e.live(e.objs(web)[0]).GetCreationTimestamp().UTC().Format(time.RFC3339)
			if available == "" || created < available {
				t.Errorf("wave 1 created at %s, wave 0's Deployment Available at %q: wave 1 did not wait", created, available)
			}
		})
	}
}

// A wave that fails stops the sync: nothing later is applied, nothing is
// recorded.
func TestFailedWaveStopsTheSync(t *testing.T) {
	e := newEngine(t, "wave-fails")
	stuck := strings.Replace(deployment("db", "db", "postgres"), "spec:\n  replicas: 1", "spec:\n  progressDeadlineSeconds: 1\n  replicas: 1", 1)
	stuck = strings.Replace(stuck, "      containers:", "      nodeSelector: {no-such-node: \"true\"}\n      containers:", 1)
	web := "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: web, annotations: {" + ArgoWaveAnnotation + ": \"1\"}}\n"
	changes, err := e.a.Sync(e.ctx, e.objs(stuck, web), Options{WaitWave: e.waitHealthy})
	if !errors.Is(err, ErrWaveFailed) || !strings.Contains(err.Error(), "Deployment.apps/sync-wave-fails/db") {
		t.Fatalf("err = %v, want ErrWaveFailed naming the Deployment", err)
	}
	if d := cmp.Diff(map[string]Action{"Deployment.apps/db": Created, "ConfigMap/web": Skipped}, e.actions(changes)); d != "" {
		t.Errorf("actions (-want +got):\n%s", d)
	}
	if e.live(e.objs(web)[0]) != nil {
		t.Error("wave 1 was applied after wave 0 failed")
	}
	if inv, err := ReadInventory(e.ctx, e.c, e.ns, "wave-fails"); err != nil || len(inv.Objects) != 0 {
		t.Errorf("inventory after a failed wave = %+v, %v; want none written", inv, err)
	}
}
