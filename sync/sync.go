package sync

import (
	"context"
	"errors"
	"fmt"
	gosync "sync"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/plumbhq/plumb/cluster"
	"github.com/plumbhq/plumb/diff"
	"github.com/plumbhq/plumb/resource"
)

// Options for one sync of an App.
type Options struct {
	// Prune deletes objects the previous sync applied that are no longer
	// rendered.
	Prune bool
	// AllowEmpty lets an empty render prune everything the App had.
	AllowEmpty bool
	// PruneDefinitions allows pruning CustomResourceDefinitions and
	// Namespaces, which delete everything in them.
	PruneDefinitions bool
	// Force recreates objects whose change hits an immutable field.
	Force bool
	// DryRun computes the changes with server-side dry-run and writes nothing.
	DryRun bool
	// Propagation for prune (default Foreground).
	Propagation metav1.DeletionPropagation
	// Ignore leaves fields alone (removed from the apply payload).
	Ignore []diff.IgnoreDifference
	// Workers bounds parallel applies within a stage (default 16).
	Workers int
	// Masker scrubs Secret values from errors (one is made if nil).
	Masker *diff.Masker
	// Progress, if set, is called after each object.
	Progress func(Change)
	// WaitWave, if set, is called with the objects of each sync wave but
	// the last once they are applied, and the next wave waits until it
	// returns: callers wait for health there (sync does not import health).
	// An error stops the sync as a failed stage does: nothing later is
	// applied or pruned and the inventory is not written.
	WaitWave func(ctx context.Context, objs []*unstructured.Unstructured) error
	// Adopt takes over objects that exist without a plumb.dev/app label
	// (created by hand or by another tool); without it they fail, unless
	// the desired object is annotated plumb.dev/adopt: "true".
	Adopt bool
	// MaxPrune is the deletion budget: a sync that would prune more of
	// the App's objects than this (a count, or a percentage of the
	// previous inventory, rounded up) holds every prune, as Held changes,
	// and applies the rest. Nil: no budget.
	MaxPrune *intstr.IntOrString
	// ApprovePrune lets the prunes past the budget go.
	ApprovePrune bool
	// Hooks are the render's hook objects (Helm's and Argo CD's). They run
	// by phase when the render differs from the one whose hooks last ran,
	// and are waited for through WaitWave, which they need.
	Hooks []*unstructured.Unstructured
}

func (o *Options) defaults() {
	if o.Workers <= 0 {
		o.Workers = 16
	}
	if o.Propagation == "" {
		o.Propagation = metav1.DeletePropagationForeground
	}
	if o.Masker == nil {
		o.Masker = diff.NewMasker()
	}
}

// Sync applies desired (already rendered, all of it) stage by stage, then
// prunes, then records the inventory. Objects whose fingerprint vouches for
// them cost no request. Callers must not call it after a render error: the
// object set must be complete.
func (a *Applier) Sync(ctx context.Context, desired []*unstructured.Unstructured, opts Options) (ChangeSet, error) {
	opts.defaults()
	if len(desired) == 0 && !opts.AllowEmpty {
		return nil, fmt.Errorf("%w: the render is empty; refusing to sync (and prune) app %s without allowEmpty", ErrPruneRefused, a.opts.App)
	}
	objs := a.owner.label(desired)
	for _, o := range objs {
		opts.Masker.Learn(o)
	}
	batches, err := plan(objs)
	if err != nil {
		return nil, err
	}
	prev, err := a.Inventory(ctx)
	if err != nil {
		return nil, err
	}
	s := &syncer{
		c: a.c, owner: a.owner, opts: opts, prereq: diff.PrerequisitesOf(objs),
		live: a.live(ctx, objs), intents: a.currentIntents(objs, opts.Ignore),
		prev: prev.fingerprints(), fps: map[resource.Ref]string{}, recorded: prev.refs(),
	}
	if s.hooks, err = s.planHooks(opts.Hooks, objs, prev); err != nil {
		return nil, err
	}
	due := s.hooks.due && !opts.DryRun
	if s.hooks.due && opts.DryRun {
		s.wouldRun(s.hooks)
		s.hooks.phases = map[Phase][]Hook{} // a dry run runs none
	}
	if due {
		if err := s.preSync(ctx, objs); err != nil {
			a.inv = nil
			return s.changes, s.syncFail(ctx, fmt.Errorf("%w; nothing else was applied or pruned", err))
		}
	}
	kept, applied, err := s.run(ctx, batches, prev, objs)
	if opts.DryRun || !applied || errors.Is(err, ErrPruneRefused) {
		if err != nil && !opts.DryRun {
			a.inv = nil // read again: the sync may have applied what the inventory does not say
			err = s.syncFail(ctx, err)
		}
		return s.changes, err
	}
	// Everything applied: record it, with what prune kept (or failed to
	// delete), even when some deletions failed, so that the new objects
	// are known to the next sync.
	inv := Inventory{App: a.opts.App, HookContent: prev.HookContent, RanHooks: prev.RanHooks}
	for _, o := range objs {
		e := entryOf(o)
		e.Fingerprint = s.fps[resource.RefOf(o)]
		inv.Objects = append(inv.Objects, e)
	}
	inv.Objects = append(inv.Objects, kept...)
	if err == nil && due {
		if err = s.postSync(ctx, objs); err != nil {
			err = s.syncFail(ctx, err)
		} else if inv.RanHooks, err = ranHooks(opts.Hooks); err == nil {
			inv.HookContent = s.hooks.content
		}
	}
	// Once, after every phase: it prunes the objects of hooks no longer
	// rendered and records what the phases left.
	inv.Hooks = s.hookRecords(ctx, s.hooks)
	if err == nil && len(opts.Hooks) == 0 { // the render has no hooks (any more)
		inv.HookContent, inv.RanHooks = "", nil
	}
	if werr := a.record(ctx, inv, prev); werr != nil {
		a.inv = nil
		return s.changes, werr
	}
	return s.changes, err
}

// run applies the batches in order, waiting after each for what later
// stages need, then prunes. applied is false when a stage failed: later
// stages and prune were skipped, and nothing may be recorded.
func (s *syncer) run(ctx context.Context, batches []batch, prev Inventory, objs []*unstructured.Unstructured) (kept []Entry, applied bool, err error) {
	for i, b := range batches {
		if i > 0 && batches[i-1].wave != b.wave {
			if err := s.runSyncHooks(ctx, b.wave); err != nil {
				s.skip(batches[i:], "a Sync hook failed")
				return nil, false, err
			}
		}
		s.applyBatch(ctx, b)
		if len(s.changes.Failed()) > 0 {
			s.skip(batches[i+1:], "an earlier stage failed")
			return nil, false, fmt.Errorf("%w: %s; later stages, prune and the inventory were skipped", ErrApplyFailed, failedList(s.changes))
		}
		if !s.opts.DryRun {
			if err := s.settle(ctx, b); err != nil {
				return nil, false, err
			}
		}
		if err := s.waitWave(ctx, batches, i); err != nil {
			s.skip(batches[i+1:], "an earlier wave did not become healthy")
			return nil, false, err
		}
	}
	if err := s.runSyncHooks(ctx, int(^uint(0)>>1)); err != nil {
		return nil, false, err
	}
	kept, err = s.prune(ctx, prev, objs)
	return kept, true, err
}

// ErrWaveFailed: a sync wave did not become healthy; later waves, prune and
// the inventory were skipped.
var ErrWaveFailed = errors.New("wave failed")

// waitWave waits for the wave that batches[i] ends, when a later wave
// follows and the caller asked to wait.
func (s *syncer) waitWave(ctx context.Context, batches []batch, i int) error {
	last := i+1 == len(batches)
	if s.opts.WaitWave == nil || s.opts.DryRun || (last && !s.syncHooksLeft()) || (!last && batches[i+1].wave == batches[i].wave) {
		return nil
	}
	var objs []*unstructured.Unstructured
	for j := i; j >= 0 && batches[j].wave == batches[i].wave; j-- {
		objs = append(objs, batches[j].objs...)
	}
	if err := s.opts.WaitWave(ctx, objs); err != nil {
		return fmt.Errorf("%w: wave %d: %w; later waves, prune and the inventory were skipped", ErrWaveFailed, batches[i].wave, err)
	}
	return nil
}

// skip records the objects of batches as skipped, for reason.
func (s *syncer) skip(batches []batch, reason string) {
	for _, later := range batches {
		for _, o := range later.objs {
			s.record(Change{Ref: resource.RefOf(o), Action: Skipped, Stage: later.String(), Reason: reason})
		}
	}
}

// syncer is the state of one Sync.
type syncer struct {
	c       *cluster.Client
	owner   owner
	opts    Options
	prereq  diff.Prerequisites
	live    LiveState
	intents map[resource.Ref]string
	prev    map[resource.Ref]fingerprint // from the previous inventory
	// recorded are the previous inventory's objects: the App's own even
	// when someone removed their label.
	recorded map[resource.Ref]bool
	mu       gosync.Mutex
	changes  ChangeSet
	fps      map[resource.Ref]string // for the new inventory
	hooks    *hookRun
}

func (s *syncer) remember(ref resource.Ref, fp fingerprint) {
	s.mu.Lock()
	s.fps[ref] = fp.String()
	s.mu.Unlock()
}

func (s *syncer) record(ch Change) {
	s.mu.Lock()
	s.changes = append(s.changes, ch)
	s.mu.Unlock()
	if s.opts.Progress != nil {
		s.opts.Progress(ch)
	}
}

func (s *syncer) applyBatch(ctx context.Context, b batch) {
	var wg gosync.WaitGroup
	sem := make(chan struct{}, s.opts.Workers)
	for _, o := range b.objs {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			ch := s.applyOne(ctx, o)
			ch.Stage = b.String()
			s.record(ch)
		}()
	}
	wg.Wait()
}
