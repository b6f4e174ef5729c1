package sync

import (
	"context"
	"fmt"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/plumbhq/plumb/resource"
)

// prune deletes what the previous inventory holds and the render no longer
// does, in reverse stage order, and returns the entries that must stay in
// the inventory (not pruned this time, still ours). Deletions past the
// deletion budget are all held, none made, until approved.
func (s *syncer) prune(ctx context.Context, prev Inventory, desired []*unstructured.Unstructured) ([]Entry, error) {
	candidates := notRendered(prev, desired)
	if len(candidates) == 0 {
		return nil, nil
	}
	if len(desired) == 0 && !s.opts.AllowEmpty {
		return nil, fmt.Errorf("%w: the render is empty", ErrPruneRefused)
	}
	batches, err := plan(candidates)
	if err != nil {
		return nil, err
	}
	var kept []Entry
	var doomed []*unstructured.Unstructured // in the order they go
	for i := len(batches) - 1; i >= 0; i-- {
		for _, cand := range batches[i].objs {
			ref := resource.RefOf(cand)
			live, err := s.c.Get(ctx, cand)
			if meta.IsNoMatchError(err) {
				continue // its kind is no longer served: nothing left to delete
			}
			if err != nil {
				s.record(Change{Ref: ref, Action: Failed, Error: s.opts.Masker.Scrub(fmt.Sprintf("%s: prune: get: %v", ref, err))})
				kept = append(kept, entryOf(cand))
				continue
			}
			if live == nil {
				continue // already gone
			}
			ch := Change{Ref: ref, Action: Skipped, Stage: "prune"}
			reason, forget := keepReason(live, s.owner, s.opts.PruneDefinitions)
			switch {
			case forget:
				ch.Reason = reason
				s.record(ch)
				continue // not ours any more: forget it
			case reason != "":
				ch.Reason = reason
			case !s.opts.Prune:
				ch.Reason = "prune not enabled"
			default:
				doomed = append(doomed, live)
				continue
			}
			s.record(ch)
			kept = append(kept, entryOf(live))
		}
	}
	if held := s.overBudget(len(doomed), len(prev.Objects)); held != "" {
		for _, live := range doomed {
			ref := resource.RefOf(live)
			s.record(Change{Ref: ref, Action: Held, Stage: "prune", Reason: held})
			kept = append(kept, entryOf(live))
		}
		doomed = nil
	}
	kept = append(kept, s.deleteAll(ctx, doomed)...)
	if failed := s.changes.Failed(); len(failed) > 0 {
		return kept, fmt.Errorf("%w: %s", ErrApplyFailed, failedList(s.changes))
	}
	return kept, nil
}

// deleteAll deletes doomed in order (a dry run only says it would) and
// returns the entries of those it failed to delete.
func (s *syncer) deleteAll(ctx context.Context, doomed []*unstructured.Unstructured) []Entry {
	var kept []Entry
	for _, live := range doomed {
		ch := Change{Ref: resource.RefOf(live), Action: Pruned, Stage: "prune"}
		if s.opts.DryRun {
			ch.Reason = "would prune"
		} else if err := s.c.Delete(ctx, live, s.opts.Propagation); err != nil {
			ch.Action, ch.Error = Failed, s.opts.Masker.Scrub(fmt.Sprintf("%s: prune: %v", ch.Ref, err))
			kept = append(kept, entryOf(live))
		}
		s.record(ch)
	}
	return kept
}

// overBudget says why n deletions out of an inventory of total objects
// wait for approval ("" when they may go): more than MaxPrune allows.
func (s *syncer) overBudget(n, total int) string {
	if n == 0 || s.opts.MaxPrune == nil || s.opts.ApprovePrune {
		return ""
	}
	limit, err := intstr.GetScaledValueFromIntOrPercent(s.opts.MaxPrune, total, true)
	if err != nil { // a budget that cannot be read holds everything
		return fmt.Sprintf("held for approval: maxPrune %q is not a count or a percentage", s.opts.MaxPrune.String())
	}
	if n <= limit {
		return ""
	}
	return fmt.Sprintf("held for approval: pruning %d of %d objects exceeds maxPrune %s (%d)", n, total, s.opts.MaxPrune.String(), limit)
}

// PruneCandidates returns the live objects a pruning sync would delete: in
// the App's inventory, not desired,
// still labelled for the App and not annotated to be kept. CRDs and
// Namespaces are included only when allowed.
func (a *Applier) PruneCandidates(ctx context.Context, desired []*unstructured.Unstructured, pruneDefinitions bool) ([]*unstructured.Unstructured, error) {
	inv, err := a.Inventory(ctx)
	if err != nil {
		return nil, err
	}
	var out []*unstructured.Unstructured
	for _, cand := range notRendered(inv, desired) {
		live, err := a.c.Get(ctx, cand)
		if meta.IsNoMatchError(err) {
			continue // its kind is no longer served
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", resource.RefOf(cand), err)
		}
		if live == nil {
			continue
		}
		if reason, _ := keepReason(live, a.owner, pruneDefinitions); reason == "" {
			out = append(out, live)
		}
	}
	return out, nil
}

// notRendered returns skeletons of the inventory's objects that desired no
// longer holds: the prune candidates.
func notRendered(inv Inventory, desired []*unstructured.Unstructured) []*unstructured.Unstructured {
	want := map[resource.Ref]bool{}
	for _, d := range desired {
		want[resource.RefOf(d)] = true
	}
	var out []*unstructured.Unstructured
	for _, e := range inv.Objects {
		if !want[e.ref()] {
			out = append(out, e.object())
		}
	}
	return out
}

// keepReason is the one prune policy, shared by Sync and PruneCandidates
// (what plumb diff lists): it says why live, an object the App applied and
// no longer renders, must not be deleted ("" when it may be). forget means
// the object is not the App's any more and leaves the inventory.
func keepReason(live *unstructured.Unstructured, app owner, pruneDefinitions bool) (reason string, forget bool) {
	switch {
	case !app.owns(live):
		if other := ownerOf(live); other != "" {
			return "now owned by App " + other, true
		}
		return fmt.Sprintf("no longer labelled %s=%s", AppLabel, app.name), true
	case live.GetAnnotations()[PruneAnnotation] == "false":
		return PruneAnnotation + `: "false"`, false
	case (stage(live) == stageCRD || stage(live) == stageNamespace) && !pruneDefinitions:
		return "CustomResourceDefinitions and Namespaces are only pruned when explicitly allowed", false
	}
	return "", false
}
