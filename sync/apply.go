package sync

import (
	"context"
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/client-go/util/csaupgrade"

	"github.com/plumbhq/plumb/cluster"
	"github.com/plumbhq/plumb/diff"
	"github.com/plumbhq/plumb/resource"
)

// clientSideManagers are the field managers of kubectl's client-side apply
// (and of objects created before server-side apply existed); their fields
// are moved to plumb so a field removed from Git is removed from the cluster.
var clientSideManagers = sets.New("kubectl-client-side-apply", "kubectl", "before-first-apply")

// applying is one object on its way through applyOne.
type applying struct {
	o       *unstructured.Unstructured
	ref     resource.Ref
	live    *unstructured.Unstructured // nil: it does not exist
	meta    metav1.Object              // live's metadata, from the live state or live
	known   bool                       // the live state answered for it
	intent  string
	payload *unstructured.Unstructured
}

// applyOne takes one object through its steps: what is live, whether the
// fingerprint vouches for it, client-side apply takeover, the apply (or its
// dry-run) and what to do when an immutable field changed.
func (s *syncer) applyOne(ctx context.Context, o *unstructured.Unstructured) Change {
	x := &applying{o: o, ref: resource.RefOf(o)}
	ch := Change{Ref: x.ref}
	fail := func(what string, err error) Change { return s.fail(ch, what, err) }
	if err := s.lookup(ctx, x); err != nil {
		return fail("get", err)
	}
	adopted, err := s.owner.claim(o, x.meta, s.recorded[x.ref], s.opts.Adopt)
	if err != nil {
		return fail("apply", err)
	}
	ch.Reason = adopted
	if s.vouched(x) {
		ch.Action, ch.Reason = Unchanged, "fingerprint matches"
		return ch
	}
	if x.known && x.live != nil && s.opts.DryRun {
		// A dry-run compares whole objects: the metadata is not enough.
		full, err := s.c.Get(ctx, o)
		if err != nil {
			return fail("get", err)
		}
		x.live = full
	}
	if x.live != nil && !s.opts.DryRun && hasClientSideManager(x.live) {
		took, err := s.takeOver(ctx, x.live)
		if err != nil {
			return fail("migrate client-side apply ownership", err)
		}
		if took {
			ch.Reason = "took over fields from kubectl client-side apply"
		}
	}
	got, gotFull, err := s.send(ctx, x.payload)
	switch {
	case err != nil && s.opts.DryRun && x.live == nil && s.prereq.Coming(o, err):
		ch.Action, ch.Reason = Created, "would be created after its namespace or CRD"
		return ch
	case err != nil && isImmutable(err) && x.live != nil:
		return s.immutable(ctx, x, ch, err)
	case err != nil:
		return fail("apply", err)
	}
	if !s.opts.DryRun {
		s.remember(x.ref, fingerprintOf(x.intent, got))
	}
	ch.Action = outcomeOf(x.live, got, gotFull, s.opts.DryRun)
	return ch
}

// lookup finds what the cluster holds for x: from the live state when it
// covers the object, else with a GET.
func (s *syncer) lookup(ctx context.Context, x *applying) error {
	if s.live != nil {
		x.meta, x.known = s.live.Lookup(x.o)
	}
	if x.known {
		return nil
	}
	live, err := s.c.Get(ctx, x.o)
	if err != nil && !(s.opts.DryRun && s.prereq.Coming(x.o, err)) {
		return err
	}
	if live != nil {
		x.live, x.meta = live, live
	}
	return nil
}

// vouched reports whether what plumb applied last is still what it would
// apply and the server still holds plumb's fields as it left them: then
// there is nothing to do. The cached intent is checked before the skeleton
// and payload are built: on a pass that changes one object of thousands,
// building them was most of the sync's time. It leaves x's payload and
// intent set for the apply otherwise.
func (s *syncer) vouched(x *applying) bool {
	fp, hasFP := s.prev[x.ref]
	matches := func() bool {
		if !hasFP || !fp.matches(x.intent, x.meta) {
			return false
		}
		s.remember(x.ref, fp)
		return true
	}
	intent, cached := s.intents[x.ref]
	if cached {
		x.intent = intent
		if matches() {
			return true
		}
	}
	if x.known {
		x.live = skeleton(x.o, x.meta)
	}
	x.payload = payloadFor(x.o, x.live, s.opts.Ignore)
	if !cached {
		x.intent = intentHash(x.payload)
		return matches()
	}
	return false
}

// takeOver moves what kubectl's client-side apply owned to plumb, so that
// a field deleted from Git is deleted from the object.
func (s *syncer) takeOver(ctx context.Context, live *unstructured.Unstructured) (bool, error) {
	patch, err := csaupgrade.UpgradeManagedFieldsPatch(live, clientSideManagers, cluster.FieldManager)
	if err != nil || patch == nil {
		return false, err
	}
	return true, s.c.Patch(ctx, live, patch)
}

// send applies payload, or dry-runs it; gotFull is the dry-run's whole
// object (an apply returns metadata only).
func (s *syncer) send(ctx context.Context, payload *unstructured.Unstructured) (got metav1.Object, gotFull *unstructured.Unstructured, err error) {
	if !s.opts.DryRun {
		got, err = s.c.Apply(ctx, payload)
		return got, nil, err
	}
	gotFull, err = s.c.DryRunApply(ctx, payload)
	if gotFull != nil {
		got = gotFull
	}
	return got, gotFull, err
}

// immutable handles an apply refused because an immutable field changed:
// recreate the object when forced, else fail saying how to force it.
func (s *syncer) immutable(ctx context.Context, x *applying, ch Change, err error) Change {
	fail := func(what string, err error) Change { return s.fail(ch, what, err) }
	if !s.opts.Force && x.o.GetAnnotations()[ForceAnnotation] != "true" {
		return fail("apply", fmt.Errorf("%w (an immutable field changed: sync with --force, or annotate %s: \"true\", to delete and recreate it)", err, ForceAnnotation))
	}
	if s.opts.DryRun {
		ch.Action, ch.Reason = Recreated, "would delete and recreate: an immutable field changed"
		return ch
	}
	if err := s.recreate(ctx, x.live, x.payload); err != nil {
		return fail("recreate", err)
	}
	ch.Action, ch.Reason = Recreated, "deleted and recreated: an immutable field changed"
	return ch
}

// fail makes ch a failure of step what, its error masked.
func (s *syncer) fail(ch Change, what string, err error) Change {
	ch.Action = Failed
	ch.Error = s.opts.Masker.Scrub(fmt.Sprintf("%s: %s: %v", ch.Ref, what, err))
	return ch
}

// outcomeOf names what an apply did: a new object, a new resourceVersion,
// or (dry-run) a different object.
func outcomeOf(live *unstructured.Unstructured, got metav1.Object, gotFull *unstructured.Unstructured, dryRun bool) Action {
	switch {
	case live == nil:
		return Created
	case got.GetResourceVersion() != live.GetResourceVersion():
		return Configured
	case dryRun && differs(live, gotFull):
		return Configured
	}
	return Unchanged
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
