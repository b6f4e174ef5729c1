package sync

import (
	"context"
	"errors"
	"fmt"
	"strings"
	gosync "sync"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/util/csaupgrade"

	"github.com/plumbhq/plumb/diff"
	"github.com/plumbhq/plumb/render"
)

// Ownership and policy annotations and labels.
const (
	// AppLabel marks every object plumb applies with the App it belongs to.
	// Prune only ever deletes objects that still carry it.
	AppLabel = "plumb.dev/app"
	// PruneAnnotation "false" keeps an object when its App stops rendering it.
	PruneAnnotation = "plumb.dev/prune"
	// ForceAnnotation "true" lets plumb delete and recreate the object when a
	// change touches an immutable field.
	ForceAnnotation = "plumb.dev/force"
)

// Action is what happened to one object.
type Action string

// Actions.
const (
	Created    Action = "created"
	Configured Action = "configured"
	Recreated  Action = "recreated"
	Unchanged  Action = "unchanged"
	Pruned     Action = "pruned"
	Skipped    Action = "skipped"
	Failed     Action = "failed"
)

// Change is the outcome for one object. Texts are masked.
type Change struct {
	Ref    render.Ref `json:"ref"`
	Action Action     `json:"action"`
	Stage  string     `json:"stage,omitempty"`
	Reason string     `json:"reason,omitempty"`
	Error  string     `json:"error,omitempty"`
}

// ChangeSet is every change of one sync, in the order they happened.
type ChangeSet []Change

// Counts returns the number of changes per action.
func (cs ChangeSet) Counts() map[Action]int {
	c := map[Action]int{}
	for _, ch := range cs {
		c[ch.Action]++
	}
	return c
}

// Failed returns the changes that failed.
func (cs ChangeSet) Failed() ChangeSet {
	var out ChangeSet
	for _, ch := range cs {
		if ch.Action == Failed {
			out = append(out, ch)
		}
	}
	return out
}

// Errors callers branch on.
var (
	// ErrPruneRefused: the sync would have deleted objects it must not.
	ErrPruneRefused = errors.New("prune refused")
	// ErrApplyFailed: at least one object failed; later stages and prune
	// were skipped and the inventory was not written.
	ErrApplyFailed = errors.New("apply failed")
)

// Options for one sync of one App.
type Options struct {
	// App names the App; it labels every object and keys the inventory.
	App string
	// InventoryNamespace holds the inventory ConfigMap (default "default").
	InventoryNamespace string
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
	// Live, if set, answers what the cluster holds without a GET per object
	// (a watch cache, or ListLive). Objects whose fingerprint still matches
	// it are unchanged with no request at all.
	Live LiveState
	// Previous, if set, is the App's inventory as the caller last read it
	// (saves reading it again); Intents are the intent hashes from Intents.
	// A controller that keeps both makes a sync of one changed object cost
	// one apply and the inventory write.
	Previous *Inventory
	Intents  map[render.Ref]string
	// Record, if set, stores the new inventory in place of Sync's own write
	// (WriteInventory). It is called only when the inventory changed;
	// sameObjects says that only fingerprints did, so that the record is a
	// cache a caller may write later: a fingerprint that is not stored only
	// sends its object the exact way once more. A change of the object set
	// (what prune relies on) must be written before Record returns.
	Record func(ctx context.Context, inv Inventory, sameObjects bool) error
}

// clientSideManagers are the field managers of kubectl's client-side apply
// (and of objects created before server-side apply existed); their fields
// are moved to plumb so a field removed from Git is removed from the cluster.
var clientSideManagers = sets.New("kubectl-client-side-apply", "kubectl", "before-first-apply")

// Sync applies desired (already rendered, all of it) for one App, stage by
// stage, then prunes, then records the inventory. Callers must not call it
// after a render error: the object set must be complete.
func Sync(ctx context.Context, c *Client, desired []*unstructured.Unstructured, opts Options) (ChangeSet, error) {
	if errs := validation.IsDNS1123Label(opts.App); len(errs) > 0 {
		return nil, fmt.Errorf("app name %q: %s", opts.App, strings.Join(errs, "; "))
	}
	if opts.InventoryNamespace == "" {
		opts.InventoryNamespace = "default"
	}
	if opts.Workers <= 0 {
		opts.Workers = 16
	}
	if opts.Propagation == "" {
		opts.Propagation = metav1.DeletePropagationForeground
	}
	if opts.Masker == nil {
		opts.Masker = diff.NewMasker()
	}
	if len(desired) == 0 && !opts.AllowEmpty {
		return nil, fmt.Errorf("%w: the render is empty; refusing to sync (and prune) app %s without allowEmpty", ErrPruneRefused, opts.App)
	}
	objs := Label(desired, opts.App)
	for _, o := range objs {
		opts.Masker.Learn(o)
	}
	batches, err := plan(objs)
	if err != nil {
		return nil, err
	}
	var prev Inventory
	if opts.Previous != nil {
		prev = *opts.Previous
	} else if prev, err = ReadInventory(ctx, c, opts.InventoryNamespace, opts.App); err != nil {
		return nil, err
	}

	s := &syncer{c: c, opts: opts, prereq: diff.PrerequisitesOf(objs), prev: prev.fingerprints(), fps: map[render.Ref]string{}}
	for i, b := range batches {
		s.applyBatch(ctx, b)
		if len(s.changes.Failed()) > 0 {
			for _, later := range batches[i+1:] {
				for _, o := range later.objs {
					s.record(Change{Ref: render.RefOf(o), Action: Skipped, Stage: later.String(), Reason: "an earlier stage failed"})
				}
			}
			return s.changes, fmt.Errorf("%w: %s; later stages, prune and the inventory were skipped", ErrApplyFailed, failedList(s.changes))
		}
		if !opts.DryRun {
			if err := s.settle(ctx, b); err != nil {
				return s.changes, err
			}
		}
	}

	kept, pruneErr := s.prune(ctx, prev, objs)
	if opts.DryRun || errors.Is(pruneErr, ErrPruneRefused) {
		return s.changes, pruneErr
	}
	// Everything applied: record it, with what prune kept (or failed to
	// delete), even when some deletions failed, so that the new objects
	// are known to the next sync.
	inv := Inventory{App: opts.App}
	for _, o := range objs {
		e := entryOf(o)
		e.Fingerprint = s.fps[render.RefOf(o)]
		inv.Objects = append(inv.Objects, e)
	}
	inv.Objects = append(inv.Objects, kept...)
	if inv.equal(prev) {
		return s.changes, pruneErr // nothing to record: no write
	}
	record := opts.Record
	if record == nil {
		record = func(ctx context.Context, inv Inventory, _ bool) error {
			return WriteInventory(ctx, c, opts.InventoryNamespace, inv)
		}
	}
	if err := record(ctx, inv, inv.sameObjects(prev)); err != nil {
		return s.changes, err
	}
	return s.changes, pruneErr
}

// failedList names the failures, the first few in full: an error (and the
// App condition made of it) must stay readable when a whole stage failed.
func failedList(cs ChangeSet) string {
	const shown = 5
	var parts []string
	failed := cs.Failed()
	for i, ch := range failed {
		if i == shown {
			parts = append(parts, fmt.Sprintf("and %d more", len(failed)-shown))
			break
		}
		parts = append(parts, ch.Error)
	}
	return strings.Join(parts, "; ")
}

type syncer struct {
	c       *Client
	opts    Options
	prereq  diff.Prerequisites
	prev    map[render.Ref]fingerprint // from the previous inventory
	mu      gosync.Mutex
	changes ChangeSet
	fps     map[render.Ref]string // for the new inventory
}

func (s *syncer) remember(ref render.Ref, fp fingerprint) {
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

func (s *syncer) applyOne(ctx context.Context, o *unstructured.Unstructured) Change {
	ref := render.RefOf(o)
	ch := Change{Ref: ref}
	fail := func(what string, err error) Change {
		ch.Action = Failed
		ch.Error = s.opts.Masker.Scrub(fmt.Sprintf("%s: %s: %v", ref, what, err))
		return ch
	}
	var live *unstructured.Unstructured
	var liveMeta metav1.Object
	known := false
	if s.opts.Live != nil {
		liveMeta, known = s.opts.Live.Lookup(o)
	}
	if !known {
		var err error
		live, err = s.c.Get(ctx, o)
		if err != nil && !(s.opts.DryRun && s.prereq.Coming(o, err)) {
			return fail("get", err)
		}
		if live != nil {
			liveMeta = live
		}
	}
	// What plumb applied last is still what it would apply, and the server
	// still holds plumb's fields as it left them: nothing to do. Checked
	// before the skeleton below is built where the intent is known: on a
	// pass that changes one object of thousands, building them was most of
	// the sync's time.
	fp, hasFP := s.prev[ref]
	vouched := func(intent string) bool {
		if !hasFP || !fp.matches(intent, liveMeta) {
			return false
		}
		ch.Action, ch.Reason = Unchanged, "fingerprint matches"
		s.remember(ref, fp)
		return true
	}
	intent, cached := s.opts.Intents[ref]
	if cached && vouched(intent) {
		return ch
	}
	if known {
		live = skeleton(o, liveMeta)
	}
	var payload *unstructured.Unstructured
	if !cached {
		payload = payloadFor(o, live, s.opts.Ignore)
		intent = intentHash(payload)
		if vouched(intent) {
			return ch
		}
	}
	if payload == nil {
		payload = payloadFor(o, live, s.opts.Ignore)
	}
	if known && live != nil && s.opts.DryRun {
		// A dry-run compares whole objects: the metadata is not enough.
		full, err := s.c.Get(ctx, o)
		if err != nil {
			return fail("get", err)
		}
		live = full
	}

	if live != nil && !s.opts.DryRun && hasClientSideManager(live) {
		// Take over what kubectl's client-side apply owned, so that a field
		// deleted from Git is deleted from the object.
		patch, err := csaupgrade.UpgradeManagedFieldsPatch(live, clientSideManagers, FieldManager)
		if err != nil {
			return fail("migrate client-side apply ownership", err)
		}
		if patch != nil {
			if err := s.c.Patch(ctx, live, patch); err != nil {
				return fail("migrate client-side apply ownership", err)
			}
			ch.Reason = "took over fields from kubectl client-side apply"
		}
	}

	var got metav1.Object
	var gotFull *unstructured.Unstructured // the dry-run's whole object
	var err error
	if s.opts.DryRun {
		gotFull, err = s.c.DryRunApply(ctx, payload)
		if gotFull != nil {
			got = gotFull
		}
	} else {
		got, err = s.c.Apply(ctx, payload)
	}
	if err != nil && s.opts.DryRun && live == nil && s.prereq.Coming(o, err) {
		ch.Action, ch.Reason = Created, "would be created after its namespace or CRD"
		return ch
	}
	if err != nil && isImmutable(err) && live != nil {
		if !s.opts.Force && o.GetAnnotations()[ForceAnnotation] != "true" {
			return fail("apply", fmt.Errorf("%w (an immutable field changed: sync with --force, or annotate %s: \"true\", to delete and recreate it)", err, ForceAnnotation))
		}
		if s.opts.DryRun {
			ch.Action, ch.Reason = Recreated, "would delete and recreate: an immutable field changed"
			return ch
		}
		if err := s.recreate(ctx, live, payload); err != nil {
			return fail("recreate", err)
		}
		ch.Action, ch.Reason = Recreated, "deleted and recreated: an immutable field changed"
		return ch
	}
	if err != nil {
		return fail("apply", err)
	}
	if !s.opts.DryRun {
		s.remember(ref, fingerprintOf(intent, got))
	}
	switch {
	case live == nil:
		ch.Action = Created
	case got.GetResourceVersion() != live.GetResourceVersion():
		ch.Action = Configured
	case s.opts.DryRun && differs(live, gotFull):
		ch.Action = Configured
	default:
		ch.Action = Unchanged
	}
	return ch
}

// differs compares normalised objects (dry-run keeps the resourceVersion).
func differs(live, got *unstructured.Unstructured) bool {
	a := diff.Normalize(live, diff.NormalizeOptions{})
	b := diff.Normalize(got, diff.NormalizeOptions{})
	return !equality.Semantic.DeepEqual(a.Object, b.Object)
}

func hasClientSideManager(u *unstructured.Unstructured) bool {
	for _, mf := range u.GetManagedFields() {
		if clientSideManagers.Has(mf.Manager) {
			return true
		}
	}
	return false
}

func isImmutable(err error) bool {
	return apierrors.IsInvalid(err) && strings.Contains(err.Error(), "immutable")
}

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
	unchanged := map[render.Ref]bool{}
	for _, ch := range s.changes {
		if ch.Action == Unchanged {
			unchanged[ch.Ref] = true
		}
	}
	for _, o := range b.objs {
		ref := render.RefOf(o)
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

// prune deletes what the previous inventory holds and the render no longer
// does, in reverse stage order, and returns the entries that must stay in
// the inventory (not pruned this time, still ours).
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
	for i := len(batches) - 1; i >= 0; i-- {
		for _, cand := range batches[i].objs {
			ref := render.RefOf(cand)
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
			reason, forget := keepReason(live, s.opts.App, s.opts.PruneDefinitions)
			switch {
			case forget:
				ch.Reason = reason
				s.record(ch)
				continue // not ours any more: forget it
			case reason != "":
				ch.Reason = reason
			case !s.opts.Prune:
				ch.Reason = "prune not enabled"
			case s.opts.DryRun:
				ch.Action, ch.Reason = Pruned, "would prune"
				s.record(ch)
				continue
			default:
				if err := s.c.Delete(ctx, live, s.opts.Propagation); err != nil {
					ch.Action, ch.Error = Failed, s.opts.Masker.Scrub(fmt.Sprintf("%s: prune: %v", ref, err))
					s.record(ch)
					kept = append(kept, entryOf(live))
					continue
				}
				ch.Action = Pruned
				s.record(ch)
				continue
			}
			s.record(ch)
			kept = append(kept, entryOf(live))
		}
	}
	if failed := s.changes.Failed(); len(failed) > 0 {
		return kept, fmt.Errorf("%w: %s", ErrApplyFailed, failedList(s.changes))
	}
	return kept, nil
}

// Label returns objs carrying the App label, as Sync applies them; diff
// uses it so that a dry-run sees exactly what sync would send. Objects that
// already carry it are returned as they are, the others are copied.
func Label(objs []*unstructured.Unstructured, app string) []*unstructured.Unstructured {
	out := make([]*unstructured.Unstructured, len(objs))
	for i, o := range objs {
		if o.GetLabels()[AppLabel] == app {
			out[i] = o
			continue
		}
		o = o.DeepCopy()
		SetLabel(o, app)
		out[i] = o
	}
	return out
}

// SetLabel puts the App label on o itself: for objects the caller owns (a
// fresh render), where Label's copy would be wasted.
func SetLabel(o *unstructured.Unstructured, app string) {
	labels := o.GetLabels()
	if labels == nil {
		labels = map[string]string{}
	}
	labels[AppLabel] = app
	o.SetLabels(labels)
}

// PruneCandidates returns the live objects a pruning sync would delete: in
// the App's inventory (inv, as ReadInventory returned it), not desired,
// still labelled for the App and not annotated to be kept. CRDs and
// Namespaces are included only when allowed.
func PruneCandidates(ctx context.Context, c *Client, inv Inventory, desired []*unstructured.Unstructured, pruneDefinitions bool) ([]*unstructured.Unstructured, error) {
	app := inv.App
	var out []*unstructured.Unstructured
	for _, cand := range notRendered(inv, desired) {
		live, err := c.Get(ctx, cand)
		if meta.IsNoMatchError(err) {
			continue // its kind is no longer served
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", render.RefOf(cand), err)
		}
		if live == nil {
			continue
		}
		if reason, _ := keepReason(live, app, pruneDefinitions); reason == "" {
			out = append(out, live)
		}
	}
	return out, nil
}

// notRendered returns skeletons of the inventory's objects that desired no
// longer holds: the prune candidates.
func notRendered(inv Inventory, desired []*unstructured.Unstructured) []*unstructured.Unstructured {
	want := map[render.Ref]bool{}
	for _, d := range desired {
		want[render.RefOf(d)] = true
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
func keepReason(live *unstructured.Unstructured, app string, pruneDefinitions bool) (reason string, forget bool) {
	switch {
	case live.GetLabels()[AppLabel] != app:
		return fmt.Sprintf("no longer labelled %s=%s", AppLabel, app), true
	case live.GetAnnotations()[PruneAnnotation] == "false":
		return PruneAnnotation + `: "false"`, false
	case (stage(live) == stageCRD || stage(live) == stageNamespace) && !pruneDefinitions:
		return "CustomResourceDefinitions and Namespaces are only pruned when explicitly allowed", false
	}
	return "", false
}
