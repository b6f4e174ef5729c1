package sync

import (
	"context"
	"fmt"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/plumbhq/plumb/resource"
)

// recreate deletes the live object (foreground), waits until it is gone and
// applies the desired one.
func (s *syncer) recreate(ctx context.Context, live, payload *unstructured.Unstructured) error {
	if err := s.c.Delete(ctx, live, metav1.DeletePropagationForeground); err != nil {
		return err
	}
	err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		cur, err := s.c.Get(ctx, live)
		if err != nil {
			return false, err
		}
		return cur == nil || cur.GetUID() != live.GetUID(), nil
	})
	if err != nil {
		return fmt.Errorf("waiting for the old object to go: %w", err)
	}
	_, err = s.c.Apply(ctx, payload)
	return err
}

// settle waits for what later stages depend on: CRDs Established (then
// discovery is refreshed so their custom resources map) and Namespaces
// Active.
func (s *syncer) settle(ctx context.Context, b batch) error {
	if b.stage != stageCRD && b.stage != stageNamespace {
		return nil
	}
	unchanged := map[resource.Ref]bool{}
	for _, ch := range s.changes {
		if ch.Action == Unchanged {
			unchanged[ch.Ref] = true
		}
	}
	for _, o := range b.objs {
		ref := resource.RefOf(o)
		if b.stage == stageNamespace && unchanged[ref] {
			continue // it existed, as it is, before this sync: it is Active
		}
		err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
			live, err := s.c.Get(ctx, o)
			if err != nil || live == nil {
				return false, err
			}
			if b.stage == stageNamespace {
				phase, _, _ := unstructured.NestedString(live.Object, "status", "phase")
				return phase == "Active", nil
			}
			conds, _, _ := unstructured.NestedSlice(live.Object, "status", "conditions")
			for _, c := range conds {
				if m, ok := c.(map[string]any); ok && m["type"] == "Established" && m["status"] == "True" {
					return true, nil
				}
			}
			return false, nil
		})
		if err != nil {
			return fmt.Errorf("%s: waiting until it is ready: %w", ref, err)
		}
	}
	if b.stage == stageCRD {
		s.c.ResetMapper()
	}
	return nil
}
