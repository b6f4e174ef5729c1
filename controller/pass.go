package controller

import (
	"context"
	"errors"
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/plumbhq/plumb/api/v1alpha1"
	"github.com/plumbhq/plumb/apps"
	"github.com/plumbhq/plumb/charts"
	"github.com/plumbhq/plumb/diff"
	"github.com/plumbhq/plumb/health"
	"github.com/plumbhq/plumb/sync"
)

// pass is one reconcile: poll → render (only when the App's inputs changed)
// → fingerprint check → sync (when auto, and for drift only with selfHeal)
// or diff → health.
func (c *Controller) pass(ctx context.Context, w *appState, now time.Time, tm *phases) outcome {
	if out, stop := c.gate(ctx, w); stop {
		return out
	}
	if out, failed := c.source(ctx, w, now, tm); failed {
		return out
	}
	whole, out, failed := c.renderIfChanged(ctx, w, tm)
	if failed {
		return out
	}
	newContent := w.renderKey != w.syncedKey
	w.nextDrift = now.Add(c.opts.DriftInterval)

	// The fingerprint check: objects whose intent is unchanged and whose
	// live plumb fields are as plumb left them cannot differ. With the watch
	// cache it costs no request; only the rest go the exact way.
	refs := whole // a pass that rendered has the objects themselves
	if refs == nil {
		refs = w.desired.refs()
	}
	if err := c.confine(&w.app, refs, w.hooks); err != nil { // before any request for them
		return c.fail(w, ReasonNotPermitted, "invalid", err)
	}
	w.watched = c.live.watch(ctx, refs)
	ignore := apps.IgnoreRules(&w.app)
	fresh, err := w.applier.Check(ctx, refs, ignore)
	if err != nil {
		return c.fail(w, ReasonDiffFailed, "diff_error", err)
	}
	leftovers := false // only a pruning App looks at what it no longer renders
	if w.app.Spec.SyncPolicy.Prune {
		if leftovers, err = w.applier.Leftovers(ctx, refs); err != nil {
			return c.fail(w, ReasonDiffFailed, "diff_error", err)
		}
	}
	tm.mark("check")
	// New content with hooks goes to Sync, which runs them unless they ran
	// for this render already (the inventory records it).
	hooksDue := newContent && len(w.hooks) > 0
	if len(fresh) == len(refs) && !leftovers && w.failures == 0 && !hooksDue {
		w.syncedKey = w.renderKey
		// Health is rated again when a watched object changed, even for a
		// Healthy App: its status may have turned (a Certificate that failed
		// to renew). Ratings are kept by resourceVersion, so only changed
		// objects cost a read; a Healthy App with no change costs nothing.
		out := outcome{result: "unchanged"}
		if h := health.Status(w.app.Status.Health); w.liveChanged || (h != health.Healthy && h != health.Suspended) {
			out.health = c.healthOf(ctx, w, refs)
			tm.mark("health")
		}
		return out
	}
	if whole == nil {
		if whole, err = w.desired.objects(); err != nil {
			return c.fail(w, ReasonRenderFailed, "render_error", err)
		}
		tm.mark("decode")
	}
	// An approval of held prunes needs a sync too, and so does a new spec
	// (a raised maxPrune, prune turned off) while prunes are held.
	held := len(w.held) > 0 && (w.respec || pruneApproved(&w.app, approvalRevision(w)))
	if auto(&w.app) && (newContent || w.app.Spec.SyncPolicy.SelfHeal || held) {
		return c.apply(ctx, w, whole, tm)
	}
	return c.compare(ctx, w, whole, tm)
}

// gate is what a pass checks before it reads the source: deletion, the
// spec, confinement, the finalizer, dependencies and the App's identity.
// stop says the pass ends with out.
func (c *Controller) gate(ctx context.Context, w *appState) (out outcome, stop bool) {
	if w.app.DeletionTimestamp != nil {
		return c.finalize(ctx, w), true
	}
	if w.specErr != nil {
		return c.fail(w, ReasonInvalidSpec, "invalid", w.specErr), true
	}
	if err := c.confineSpec(&w.app); err != nil {
		return c.fail(w, ReasonNotPermitted, "invalid", err), true
	}
	if err := c.keepFinalizer(ctx, &w.app); err != nil {
		return c.fail(w, ReasonSyncFailed, "sync_error", err), true
	}
	c.mu.Lock()
	waiting, cycle := c.waitingFor(&w.app)
	c.mu.Unlock()
	if cycle != nil {
		return c.fail(w, ReasonInvalidSpec, "invalid", cycle), true
	}
	if waiting != "" { // not a failure: no backoff, woken when it is Ready
		return outcome{result: "waiting", failure: ReasonDependencyNotReady, err: errors.New("waiting for " + waiting)}, true
	}
	return c.ensureApplier(w)
}

// ensureApplier gives the App its Applier, talking through the App's
// client (made anew when its service account changed).
func (c *Controller) ensureApplier(w *appState) (outcome, bool) {
	client, err := c.clientFor(&w.app)
	if err != nil {
		return c.fail(w, ReasonInvalidSpec, "invalid", err), true
	}
	if w.applier != nil && w.applier.Client() == client {
		return outcome{}, false
	}
	a, err := sync.NewApplier(client, sync.ApplierOptions{
		App: w.app.Name, InventoryNamespace: w.app.Namespace, Live: c.live, CheckpointDelay: checkpointDelay,
	})
	if err != nil {
		return c.fail(w, ReasonInvalidSpec, "invalid", err), true
	}
	w.applier = a
	return outcome{}, false
}

// source polls the App's ref when a poll is due (or asked for) and opens
// the revision; failed says the pass ends here with out.
func (c *Controller) source(ctx context.Context, w *appState, now time.Time, tm *phases) (out outcome, failed bool) {
	polled := w.rev.Commit != "" || w.app.Spec.Source.RepoURL == ""
	if !w.pollNow && now.Before(w.nextPoll) && polled && (w.chart.Digest != "" || w.app.Spec.Source.Chart == nil) {
		return outcome{}, false
	}
	w.nextPoll = now.Add(jitter(interval(&w.app)))
	if w.app.Spec.Source.RepoURL != "" {
		rev, err := c.poll(ctx, &w.app)
		if err != nil {
			w.nextPoll = now // poll again on the retry
			return c.fail(w, ReasonGitFailed, "git_error", err), true
		}
		w.rev = rev
		tm.mark("git")
	}
	w.chart = charts.Resolved{} // none, unless the App names one
	if ref := apps.ChartRef(&w.app); ref != nil {
		ch, err := c.chartsFor(ctx, &w.app)
		if err == nil {
			w.chart, err = ch.Resolve(ctx, *ref)
		}
		if err != nil {
			w.nextPoll = now
			return c.fail(w, ReasonChartFailed, "chart_error", err), true
		}
		tm.mark("chart")
	}
	return outcome{}, false
}

// apply syncs the render. Sync skips the objects whose fingerprints match
// and applies the rest, which renews their fingerprints when nothing else
// changed.
func (c *Controller) apply(ctx context.Context, w *appState, desired []*unstructured.Unstructured, tm *phases) outcome {
	app := &w.app
	masker := diff.NewMasker()
	if key := namespaceKey(app); key != w.namespaced {
		if err := ensureNamespace(ctx, w.applier.Client(), app); err != nil {
			return c.fail(w, ReasonSyncFailed, "sync_error", err)
		}
		w.namespaced = key
	}
	changes, err := w.applier.Sync(ctx, desired, sync.Options{
		Prune:        app.Spec.SyncPolicy.Prune,
		AllowEmpty:   app.Spec.SyncPolicy.AllowEmpty,
		Force:        app.Spec.SyncPolicy.Force,
		Adopt:        app.Spec.SyncPolicy.Adopt,
		MaxPrune:     apps.MaxPrune(app),
		ApprovePrune: pruneApproved(app, approvalRevision(w)),
		Ignore:       apps.IgnoreRules(app),
		Masker:       masker,
		WaitWave:     apps.WaveWaiter(w.applier.Client(), waitTimeout(app, c.opts.Timeout), w.rater),
		Hooks:        w.hooks,
	})
	tm.mark("sync")
	w.held = changes.Held()
	counts := map[string]int{}
	for a, n := range changes.Counts() {
		counts[string(a)] = n
	}
	c.opts.Metrics.synced(keyOf(app), counts)
	if err != nil {
		w.namespaced = "" // the namespace may be what is missing
		o := c.fail(w, ReasonSyncFailed, "sync_error", masker.ScrubError(err))
		o.counts = counts
		return o
	}
	w.syncedKey = w.renderKey
	out := outcome{result: "unchanged", held: w.held}
	if changedObjects(counts) > 0 {
		out.counts, out.result = counts, "synced"
	}
	w.failures = 0
	out.health = c.healthOf(ctx, w, desired)
	tm.mark("health")
	return out
}

// compare diffs the render (the plan every front end shares) to report
// what is out of sync, when the App's policy does not let plumb apply.
func (c *Controller) compare(ctx context.Context, w *appState, desired []*unstructured.Unstructured, tm *phases) outcome {
	app := &w.app
	masker := diff.NewMasker()
	rep, err := w.applier.Diff(ctx, desired, sync.DiffOptions{
		Prune: app.Spec.SyncPolicy.Prune,
		Hooks: w.hooks,
		Adopt: app.Spec.SyncPolicy.Adopt,
		Diff:  diff.Options{Ignore: apps.IgnoreRules(app), Masker: masker},
	})
	tm.mark("diff")
	if err == nil {
		if errs := rep.Errors(); len(errs) > 0 {
			err = errors.New(errs[0].Error)
		}
	}
	if err != nil {
		return c.fail(w, ReasonDiffFailed, "diff_error", masker.ScrubError(err))
	}
	out := outcome{result: "unchanged", held: w.held}
	for _, r := range rep.Results {
		if r.Action != diff.Unchanged {
			out.outOfSync++
		}
	}
	if out.outOfSync == 0 {
		w.syncedKey = w.renderKey
	} else {
		out.result = "out_of_sync"
	}
	w.failures = 0
	out.health = c.healthOf(ctx, w, desired)
	tm.mark("health")
	return out
}

// waitTimeout bounds the wait for each sync wave: the App's
// syncPolicy.waitTimeout, else the reconcile timeout (which bounds it too).
func waitTimeout(app *v1alpha1.App, reconcile time.Duration) time.Duration {
	if t := app.Spec.SyncPolicy.WaitTimeout; t != nil && t.Duration > 0 {
		return t.Duration
	}
	return reconcile
}

func auto(app *v1alpha1.App) bool {
	return app.Spec.SyncPolicy.Auto == nil || *app.Spec.SyncPolicy.Auto
}

// inventoryRef names the ConfigMap that holds an App's inventory.
func inventoryRef(app *v1alpha1.App) string {
	return fmt.Sprintf("ConfigMap/%s/%s", app.Namespace, sync.InventoryName(app.Name))
}
