package sync

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/plumbhq/plumb/resource"
)

// hookRun is what one Sync does with the App's hooks.
type hookRun struct {
	phases map[Phase][]Hook
	// due: the render differs from the one whose hooks last ran.
	due     bool
	content string
	// prev are the hook objects earlier runs left; kept those that stay.
	prev, kept []HookEntry
	keys       map[string]bool // the keys of the render's hooks
}

// planHooks reads the render's hooks: their phases for this sync (install:
// the App has no inventory yet) and whether they are due. Hooks that never
// run here and Argo CD's Skip are recorded as skipped, with the reason.
func (s *syncer) planHooks(hooks, objs []*unstructured.Unstructured, prev Inventory) (*hookRun, error) {
	hr := &hookRun{phases: map[Phase][]Hook{}, prev: prev.Hooks, keys: map[string]bool{}}
	if len(hooks) == 0 {
		return hr, nil
	}
	install := len(prev.Objects) == 0 && len(prev.Hooks) == 0 && prev.HookContent == ""
	for _, u := range hooks {
		h, ok, err := ParseHook(u)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, fmt.Errorf("%s: given as a hook but has no hook annotation", HookName(u))
		}
		hr.keys[HookName(u)] = true
		phases, unsupported, skip := h.Phases(install)
		for _, e := range unsupported {
			s.record(Change{Ref: hookKey(u), Action: Skipped, Hook: h.Events, Reason: fmt.Sprintf("hook %s: not run: plumb does not run this hook", e)})
		}
		if skip {
			s.record(Change{Ref: hookKey(u), Action: Skipped, Hook: h.Events, Reason: "argocd.argoproj.io/hook: Skip: neither applied nor run"})
		}
		if len(phases) == 0 && len(unsupported) == 0 && !skip {
			when := "on the App's first sync only"
			if install {
				when = "on later syncs, not on the App's first"
			}
			s.record(Change{Ref: hookKey(u), Action: Skipped, Hook: h.Events, Reason: "not this time: it runs " + when})
		}
		for _, p := range phases {
			hr.phases[p] = append(hr.phases[p], h)
		}
	}
	var err error
	if hr.content, err = contentDigest(objs, hooks); err != nil {
		return nil, err
	}
	hr.due = hr.content != prev.HookContent
	if !hr.due {
		for _, list := range hr.phases {
			for _, h := range list {
				s.record(Change{Ref: hookKey(h.Object), Action: Skipped, Hook: h.Events, Reason: "ran for this render already (hooks run on new content only)"})
			}
		}
		hr.phases = map[Phase][]Hook{}
	}
	return hr, nil
}

// contentDigest identifies a render: its objects and hooks, in any order.
func contentDigest(objs, hooks []*unstructured.Unstructured) (string, error) {
	sums := make([]string, 0, len(objs)+len(hooks))
	for _, list := range [][]*unstructured.Unstructured{objs, hooks} {
		for _, o := range list {
			b, err := json.Marshal(o.Object)
			if err != nil {
				return "", fmt.Errorf("%s: %w", HookName(o), err)
			}
			sum := sha256.Sum256(b)
			sums = append(sums, hex.EncodeToString(sum[:]))
		}
	}
	sort.Strings(sums)
	h := sha256.New()
	for _, s := range sums {
		h.Write([]byte(s))
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil)), nil
}

// runPhase runs a phase's hooks step by step: each step's hooks are
// created, then waited for; a failure stops the phase.
func (s *syncer) runPhase(ctx context.Context, hr *hookRun, p Phase, filter func(Hook) bool) error {
	var hooks []Hook
	for _, h := range hr.phases[p] {
		if filter == nil || filter(h) {
			hooks = append(hooks, h)
		}
	}
	for _, step := range hookSteps(hooks) {
		if err := s.runStep(ctx, hr, p, step); err != nil {
			return err
		}
	}
	return nil
}

// runStep creates the hooks of one step and waits until they completed.
func (s *syncer) runStep(ctx context.Context, hr *hookRun, p Phase, step []Hook) error {
	created := make([]*unstructured.Unstructured, 0, len(step))
	for _, h := range step {
		obj, err := s.createHook(ctx, hr, p, h)
		if err != nil {
			s.record(Change{Ref: hookKey(h.Object), Action: Failed, Hook: h.Events, Stage: string(p), Error: s.opts.Masker.Scrub(err.Error())})
			return fmt.Errorf("%w: %s", ErrHookFailed, s.opts.Masker.Scrub(err.Error()))
		}
		created = append(created, obj)
	}
	if s.opts.WaitWave == nil {
		return fmt.Errorf("%w: %s: no way to wait for hooks was given", ErrHookFailed, HookName(created[0]))
	}
	werr := s.opts.WaitWave(ctx, created)
	for i, h := range step {
		ch := Change{Ref: resource.RefOf(created[i]), Action: Ran, Hook: h.Events, Stage: string(p)}
		policy := HookSucceeded
		if werr != nil {
			ch.Action, ch.Error, policy = Failed, s.opts.Masker.Scrub(werr.Error()), HookFailed
		}
		deleted := false
		if h.Policies[policy] {
			if err := s.c.Delete(ctx, created[i], metav1.DeletePropagationBackground); err != nil {
				ch.Reason = s.opts.Masker.Scrub(fmt.Sprintf("delete (%s): %v", policy, err))
			} else {
				ch.Reason, deleted = "deleted ("+policy+")", true
			}
		}
		if !deleted {
			hr.kept = append(hr.kept, HookEntry{Entry: entryOf(created[i]), Key: HookName(h.Object), Phase: p})
		}
		s.record(ch)
	}
	if werr != nil {
		return fmt.Errorf("%w: %s hook %s: %w", ErrHookFailed, p, HookName(created[0]), werr)
	}
	return nil
}

// createHook deletes the hook's earlier objects where before-hook-creation
// says so, and creates it anew.
func (s *syncer) createHook(ctx context.Context, hr *hookRun, p Phase, h Hook) (*unstructured.Unstructured, error) {
	key, name := HookName(h.Object), h.Object.GetName()
	if h.Policies[BeforeHookCreation] {
		var old []*unstructured.Unstructured
		if name != "" {
			old = append(old, h.Object)
		}
		rest := hr.prev[:0:0]
		for _, e := range hr.prev {
			switch {
			case e.Key != key:
				rest = append(rest, e)
			case e.Name != name:
				old = append(old, e.object())
			}
		}
		hr.prev = rest
		for _, o := range old {
			if err := s.deleteAndWait(ctx, o); err != nil {
				return nil, fmt.Errorf("%s: before-hook-creation: %w", key, err)
			}
		}
	}
	u := h.Object.DeepCopy()
	s.owner.setLabels(u)
	obj, err := s.c.Create(ctx, u)
	if err != nil {
		if h.Object.GetName() != "" && !h.Policies[BeforeHookCreation] && apierrors.IsAlreadyExists(err) {
			return nil, fmt.Errorf("%s (%s hook): an earlier run's object is still there and the hook's delete policy has no before-hook-creation: delete it, or add the policy", key, p)
		}
		return nil, fmt.Errorf("%s (%s hook): create: %w", key, p, err)
	}
	return obj, nil
}

// deleteAndWait deletes o and waits until it is gone, so that a hook of
// the same name can be created.
func (s *syncer) deleteAndWait(ctx context.Context, o *unstructured.Unstructured) error {
	if err := s.c.Delete(ctx, o, metav1.DeletePropagationBackground); err != nil {
		return err
	}
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		live, err := s.c.Get(ctx, o)
		if err != nil {
			return err
		}
		if live == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: still being deleted: %w", resource.RefOf(o), ctx.Err())
		case <-tick.C:
		}
	}
}

// syncFail runs the SyncFail hooks after cause stopped the sync; their own
// failure is added to cause.
func (s *syncer) syncFail(ctx context.Context, cause error) error {
	hr := s.hooks
	if hr == nil || !hr.due || len(hr.phases[SyncFail]) == 0 {
		return cause
	}
	if err := s.runPhase(ctx, hr, SyncFail, nil); err != nil {
		return errors.Join(cause, err)
	}
	return cause
}

// records are the hook objects to keep in the inventory: those this run
// left, those earlier runs left of hooks still rendered, and, unless prune
// deleted them, those of hooks no longer rendered.
func (s *syncer) hookRecords(ctx context.Context, hr *hookRun) []HookEntry {
	byRef := map[resource.Ref]HookEntry{}
	for _, e := range hr.prev {
		if hr.keys[e.Key] || !s.opts.Prune {
			byRef[e.ref()] = e
			continue
		}
		ref := e.ref()
		if err := s.c.Delete(ctx, e.object(), metav1.DeletePropagationBackground); err != nil {
			s.record(Change{Ref: ref, Action: Failed, Stage: "prune", Error: s.opts.Masker.Scrub(fmt.Sprintf("%s: prune hook: %v", ref, err))})
			byRef[ref] = e
			continue
		}
		s.record(Change{Ref: ref, Action: Pruned, Stage: "prune", Reason: "its hook is no longer rendered"})
	}
	for _, e := range hr.kept { // this run's objects replace what earlier runs recorded
		byRef[e.ref()] = e
	}
	out := make([]HookEntry, 0, len(byRef))
	for _, e := range byRef {
		out = append(out, e)
	}
	return out
}

// runSyncHooks runs the Sync-phase hooks whose weight is below wave, in
// order, and takes them off the list.
func (s *syncer) runSyncHooks(ctx context.Context, below int) error {
	hr := s.hooks
	if hr == nil || len(hr.phases[InSync]) == 0 {
		return nil
	}
	var now, later []Hook
	for _, h := range hr.phases[InSync] {
		if h.Weight < below {
			now = append(now, h)
		} else {
			later = append(later, h)
		}
	}
	hr.phases[InSync] = now
	err := s.runPhase(ctx, hr, InSync, nil)
	hr.phases[InSync] = later
	return err
}

// syncHooksLeft reports whether Sync-phase hooks are still to run.
func (s *syncer) syncHooksLeft() bool {
	return s.hooks != nil && len(s.hooks.phases[InSync]) > 0
}

// preSync runs the PreSync hooks; first it applies the rendered Namespaces
// they live in, which a first sync has not created yet.
func (s *syncer) preSync(ctx context.Context, objs []*unstructured.Unstructured) error {
	hr := s.hooks
	if len(hr.phases[PreSync]) == 0 {
		return nil
	}
	need := map[string]bool{}
	for _, h := range hr.phases[PreSync] {
		need[h.Object.GetNamespace()] = true
	}
	var nss []*unstructured.Unstructured
	for _, o := range objs {
		if o.GetKind() == "Namespace" && o.GroupVersionKind().Group == "" && need[o.GetName()] {
			nss = append(nss, o)
		}
	}
	if len(nss) > 0 {
		s.applyBatch(ctx, batch{stage: stageNamespace, objs: nss})
		if len(s.changes.Failed()) > 0 {
			return fmt.Errorf("%w: %s; the PreSync hooks and everything after them were skipped", ErrApplyFailed, failedList(s.changes))
		}
	}
	return s.runPhase(ctx, hr, PreSync, nil)
}

// postSync waits until the App is healthy, then runs the PostSync hooks.
func (s *syncer) postSync(ctx context.Context, objs []*unstructured.Unstructured) error {
	hr := s.hooks
	if len(hr.phases[PostSync]) == 0 {
		return nil
	}
	if s.opts.WaitWave == nil {
		return fmt.Errorf("%w: PostSync hooks: no way to wait for the App's health was given", ErrHookFailed)
	}
	if err := s.opts.WaitWave(ctx, objs); err != nil {
		return fmt.Errorf("%w: the App did not become healthy, so its PostSync hooks did not run: %w", ErrWaveFailed, err)
	}
	return s.runPhase(ctx, hr, PostSync, nil)
}

// wouldRun records the due hooks of a dry run.
func (s *syncer) wouldRun(hr *hookRun) {
	for _, p := range []Phase{PreSync, InSync, PostSync} {
		for _, h := range hr.phases[p] {
			s.record(Change{Ref: hookKey(h.Object), Action: Skipped, Hook: h.Events, Stage: string(p), Reason: "would run"})
		}
	}
}
