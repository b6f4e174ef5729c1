package sync

import (
	"context"
	"fmt"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/plumbhq/plumb/cluster"
	"github.com/plumbhq/plumb/diff"
	"github.com/plumbhq/plumb/resource"
)

// Applier is one App's conversation with a cluster. It holds what the App's
// syncs and diffs share between calls: the inventory as last read or
// written, the intent hashes of the current render and an inventory that
// renewed only fingerprints and waits for Flush. A CLI command makes one
// per run; the controller keeps one per App across passes, so that a pass
// over an unchanged App costs no request and a pass that changes one object
// costs one apply. An Applier is not safe for concurrent use: one App is
// reconciled by one goroutine at a time.
type Applier struct {
	c     *cluster.Client
	opts  ApplierOptions
	owner owner
	inv   *Inventory // nil until read, and after a sync that failed
	ready bool       // intents belong to the current render (Prepare)
	// intents are the current render's intent hashes (nil when they depend
	// on the live objects: ignore rules by field manager).
	intents map[resource.Ref]string
	// unwritten renews only fingerprints; Flush writes it at flushAt.
	unwritten *Inventory
	flushAt   time.Time
}

// ApplierOptions configure an Applier for the lifetime of the App.
type ApplierOptions struct {
	// App names the App; it labels every object and keys the inventory.
	App string
	// InventoryNamespace holds the inventory ConfigMap (default "default"):
	// the App's namespace, which labels every object too.
	InventoryNamespace string
	// Live answers what the cluster holds without a GET per object (a
	// watch cache). Nil: each Sync, Check and Diff lists what it needs
	// (ListLive), one request per kind and namespace.
	Live LiveState
	// CheckpointDelay holds back an inventory write that renews only
	// fingerprints, so that changes in quick succession make one write
	// (Flush). Zero writes at once. Losing a held write costs no
	// correctness: an object whose stored fingerprint is old goes the exact
	// way once more. A change of the object set (what prune relies on) is
	// always written at once.
	CheckpointDelay time.Duration
}

// NewApplier returns the Applier of one App.
func NewApplier(c *cluster.Client, opts ApplierOptions) (*Applier, error) {
	if errs := validation.IsDNS1123Label(opts.App); len(errs) > 0 {
		return nil, fmt.Errorf("app name %q: %s", opts.App, strings.Join(errs, "; "))
	}
	if opts.InventoryNamespace == "" {
		opts.InventoryNamespace = "default"
	}
	return &Applier{c: c, opts: opts, owner: owner{name: opts.App, namespace: opts.InventoryNamespace}}, nil
}

// Client is the cluster the Applier talks to.
func (a *Applier) Client() *cluster.Client { return a.c }

// Inventory returns the App's inventory, read once and then kept as Sync
// records it.
func (a *Applier) Inventory(ctx context.Context) (Inventory, error) {
	if a.inv != nil {
		return *a.inv, nil
	}
	inv, err := ReadInventory(ctx, a.c, a.opts.InventoryNamespace, a.opts.App)
	if err != nil {
		return inv, err
	}
	a.inv = &inv
	return inv, nil
}

// Prepare labels a new render (the caller's own objects, in place) and
// hashes the intent of each object once for every later Check and Sync of
// it. It returns each object's JSON, which the hashes were made from where
// the payload is the object itself, for a caller that keeps the render
// encoded between calls.
func (a *Applier) Prepare(desired []*unstructured.Unstructured, ignore []diff.IgnoreDifference) ([][]byte, error) {
	for _, d := range desired {
		a.owner.setLabels(d)
	}
	intents, encoded, err := intentsOf(desired, ignore, true)
	if err != nil {
		return nil, err
	}
	a.intents, a.ready = intents, true
	return encoded, nil
}

// Check returns the objects of desired whose fingerprint in the inventory
// still matches the live state: a sync would change nothing there, and a
// diff need not ask. It reads the inventory if it was not read yet and, with
// a watch cache, makes no other request. desired may be stubs that carry
// only identities when Prepare hashed the render.
func (a *Applier) Check(ctx context.Context, desired []*unstructured.Unstructured, ignore []diff.IgnoreDifference) (map[resource.Ref]bool, error) {
	inv, err := a.Inventory(ctx)
	if err != nil {
		return nil, err
	}
	return fresh(desired, inv, a.live(ctx, desired), ignore, a.currentIntents(desired, ignore)), nil
}

// Leftovers reports whether the inventory holds objects desired does not
// (what a pruning sync would look at).
func (a *Applier) Leftovers(ctx context.Context, desired []*unstructured.Unstructured) (bool, error) {
	inv, err := a.Inventory(ctx)
	if err != nil {
		return false, err
	}
	return len(notRendered(inv, desired)) > 0, nil
}

// DiffOptions say what Diff compares.
type DiffOptions struct {
	// Prune lists the live objects a pruning sync would delete.
	Prune bool
	// PruneDefinitions counts CRDs and Namespaces among them.
	PruneDefinitions bool
	// Diff are the comparison's options; Unchanged is set by Diff.
	Diff diff.Options
	// Hooks are the render's hooks, compared with the hooks as they last
	// ran (recorded in the inventory): a new or changed hook is a change.
	Hooks []*unstructured.Unstructured
	// Adopt is Options.Adopt: whether objects no App manages may be taken.
	Adopt bool
}

// conflicts turns the results of objects a sync would refuse (another
// App's, or no App's without Adopt) into errors that say so. It looks only
// at what the live state knows, at no cost: Sync checks every object.
func (a *Applier) conflicts(rep *diff.Report, desired []*unstructured.Unstructured, live LiveState, recorded map[resource.Ref]bool, adopt bool) {
	at := make(map[resource.Ref]int, len(rep.Results))
	for i, r := range rep.Results {
		at[r.Ref] = i
	}
	for _, d := range desired {
		m, known := live.Lookup(d)
		if !known || m == nil {
			continue
		}
		ref := resource.RefOf(d)
		if _, err := a.owner.claim(d, m, recorded[ref], adopt); err != nil {
			if i, ok := at[ref]; ok {
				rep.Results[i].Action, rep.Results[i].Diff = diff.Error, ""
				rep.Results[i].Error = fmt.Sprintf("%s: %v", ref, err)
			}
		}
	}
}

// Diff is the plan of a sync: every front end's one way from a render to
// what a sync would do. It reads the inventory, finds the prune candidates
// (live objects the App applied, no longer renders and may delete), lets
// the fingerprints vouch for what they can without a request and compares
// the rest exactly (server-side dry-run as plumb).
func (a *Applier) Diff(ctx context.Context, desired []*unstructured.Unstructured, opts DiffOptions) (diff.Report, error) {
	desired = a.owner.label(desired)
	var prune []*unstructured.Unstructured
	if opts.Prune {
		var err error
		if prune, err = a.PruneCandidates(ctx, desired, opts.PruneDefinitions); err != nil {
			return diff.Report{}, err
		}
	}
	inv, err := a.Inventory(ctx)
	if err != nil {
		return diff.Report{}, err
	}
	live := a.live(ctx, desired)
	dopts := opts.Diff
	if !dopts.Normalize.CompareStatus { // fingerprints speak for plumb's fields, not for status
		fresh := fresh(desired, inv, live, dopts.Ignore, a.currentIntents(desired, dopts.Ignore))
		dopts.Unchanged = func(d *unstructured.Unstructured) bool { return fresh[resource.RefOf(d)] }
	}
	rep := diff.Compute(ctx, a.c, desired, prune, dopts)
	a.conflicts(&rep, desired, live, inv.refs(), opts.Adopt)
	if len(opts.Hooks) > 0 || len(inv.RanHooks) > 0 {
		hooks, err := hookDiff(inv.RanHooks, opts.Hooks, opts.Diff)
		if err != nil {
			return diff.Report{}, err
		}
		rep.Results = append(rep.Results, hooks...)
	}
	return rep, nil
}

// Flush writes an inventory that Sync held back (it renewed only
// fingerprints) once its delay has passed, or at once with force. It
// reports whether a write is still pending.
func (a *Applier) Flush(ctx context.Context, force bool) (pending bool, err error) {
	if a.unwritten == nil {
		return false, nil
	}
	if !force && time.Now().Before(a.flushAt) {
		return true, nil
	}
	if err := WriteInventory(ctx, a.c, a.opts.InventoryNamespace, *a.unwritten); err != nil {
		a.flushAt = time.Now().Add(a.opts.CheckpointDelay)
		return true, err
	}
	a.unwritten = nil
	return false, nil
}

// FlushAt is when Flush has work to do; ok is false when nothing waits.
func (a *Applier) FlushAt() (at time.Time, ok bool) {
	return a.flushAt, a.unwritten != nil
}

// record makes inv the App's inventory after a sync: a changed object set
// is written at once, renewed fingerprints when CheckpointDelay allows.
func (a *Applier) record(ctx context.Context, inv, prev Inventory) error {
	if inv.equal(prev) {
		return nil
	}
	if a.opts.CheckpointDelay > 0 && inv.sameObjects(prev) {
		if a.unwritten == nil {
			a.flushAt = time.Now().Add(a.opts.CheckpointDelay)
		}
		a.unwritten, a.inv = &inv, &inv
		return nil
	}
	if err := WriteInventory(ctx, a.c, a.opts.InventoryNamespace, inv); err != nil {
		return err
	}
	a.unwritten, a.inv = nil, &inv // a held write is superseded
	return nil
}

// live is the Applier's view of the cluster for desired.
func (a *Applier) live(ctx context.Context, desired []*unstructured.Unstructured) LiveState {
	if a.opts.Live != nil {
		return a.opts.Live
	}
	return ListLive(ctx, a.c, desired)
}

// currentIntents are Prepare's hashes once Prepare ran: they stand for every
// later call until the next Prepare, so a caller that renders anew must
// Prepare the new render. Before any Prepare they are made now.
func (a *Applier) currentIntents(desired []*unstructured.Unstructured, ignore []diff.IgnoreDifference) map[resource.Ref]string {
	if a.ready {
		return a.intents
	}
	intents, _, _ := intentsOf(desired, ignore, false)
	return intents
}
