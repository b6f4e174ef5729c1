package controller

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"

	"github.com/plumbhq/plumb/api/v1alpha1"
	"github.com/plumbhq/plumb/diff"
	"github.com/plumbhq/plumb/git"
	"github.com/plumbhq/plumb/health"
	"github.com/plumbhq/plumb/render"
	"github.com/plumbhq/plumb/sync"
)

// Condition reasons, also the Event reasons.
const (
	ReasonSucceeded     = "Succeeded"
	ReasonProgressing   = "Progressing"
	ReasonOutOfSync     = "OutOfSync"
	ReasonDegraded      = "Degraded"
	ReasonInvalidSpec   = "InvalidSpec"
	ReasonGitFailed     = "GitOperationFailed"
	ReasonRenderFailed  = "RenderFailed"
	ReasonDiffFailed    = "ComparisonFailed"
	ReasonSyncFailed    = "SyncFailed"
	ReasonHealthUnknown = "HealthCheckFailed"
)

// Sync statuses.
const (
	Synced    = "Synced"
	OutOfSync = "OutOfSync"
	Unknown   = "Unknown"
)

// outcome is what one pass found and did; status, Events, metrics and the
// next wake-up are derived from it.
type outcome struct {
	// result labels the reconcile metric.
	result string
	// failure is the condition reason of an error, with err (masked).
	failure string
	err     error
	// outOfSync: live objects differ from the render and were left so.
	outOfSync int
	// counts are the actions of a sync that ran.
	counts map[string]int
	// health is set when it was computed in this pass.
	health *health.Report
}

// reconcile runs one pass for key and says when to come back (false: not
// until something else asks).
func (c *Controller) reconcile(ctx context.Context, key types.NamespacedName) (time.Duration, bool) {
	start := time.Now()
	c.mu.Lock()
	st, ok := c.apps[key]
	if !ok {
		c.mu.Unlock()
		return 0, false
	}
	w := *st
	w.app = *st.app.DeepCopy()
	st.pollNow = false
	c.mu.Unlock()

	pctx, cancel := context.WithTimeout(ctx, c.opts.Timeout)
	tm := &phases{last: start}
	out := c.pass(pctx, &w, start, tm)
	cancel()
	if ctx.Err() != nil {
		return 0, false // shutting down: leave the status as it was
	}
	c.checkpoint(ctx, &w, tm)

	old := w.app.Status
	w.app.Status = c.statusFor(&w, out)
	c.events(&w, old, out)
	if c.opts.Status != nil && !statusEqual(old, w.app.Status) {
		sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		if err := c.opts.Status.WriteStatus(sctx, &w.app); err != nil {
			c.log.Error("writing status", "app", key.String(), "error", err)
		}
		cancel()
		tm.mark("status")
	}
	c.opts.Metrics.reconciled(key.String(), out.result, time.Since(start))
	c.opts.Metrics.appState(key.String(), w.app.Status.SyncStatus == Synced, w.app.Status.Health, w.unwritten != nil)
	logArgs := []any{"app", key.String(), "revision", w.app.Status.LastAttemptedRevision, "result", out.result,
		"sync", w.app.Status.SyncStatus, "health", w.app.Status.Health, "duration", time.Since(start).Round(time.Millisecond), "phases", tm.String()}
	if out.counts != nil {
		logArgs = append(logArgs, "changes", out.counts)
	}
	if out.err != nil {
		c.log.Warn("reconcile failed", append(logArgs, "reason", out.failure, "error", out.err)...)
	} else if out.result != "unchanged" {
		c.log.Info("reconciled", logArgs...)
	} else {
		c.log.Debug("reconciled", logArgs...)
	}

	next := c.nextWake(&w, out)
	c.mu.Lock()
	cur, ok := c.apps[key]
	if !ok {
		c.mu.Unlock()
		return 0, false
	}
	// The spec may have changed meanwhile (Upsert then asked for a poll);
	// the worker's own fields are written back either way.
	cur.app.Status = w.app.Status
	cur.nextPoll, cur.nextDrift = w.nextPoll, w.nextDrift
	cur.rev, cur.inputs, cur.renderKey, cur.desired, cur.syncedKey = w.rev, w.inputs, w.renderKey, w.desired, w.syncedKey
	cur.inv, cur.health, cur.intents, cur.failures, cur.lastEvent = w.inv, w.health, w.intents, w.failures, w.lastEvent
	cur.unwritten, cur.checkpointAt = w.unwritten, w.checkpointAt
	dropped := false // a resource this App no longer renders
	for gvr := range cur.watched {
		dropped = dropped || !w.watched[gvr]
	}
	cur.watched = w.watched
	c.mu.Unlock()
	if dropped {
		c.releaseWatches()
	}
	return next, next >= 0
}

// nextWake is the delay until the App's next pass: the earliest of its
// next poll, next drift check, a retry and a health recheck; -1 for never.
func (c *Controller) nextWake(w *appState, out outcome) time.Duration {
	if out.failure == ReasonInvalidSpec {
		return -1 // until the spec changes
	}
	if out.err != nil {
		return retryAfter(&w.app, w.failures, w.nextPoll)
	}
	next := time.Until(w.nextPoll)
	if w.desired != nil {
		next = min(next, time.Until(w.nextDrift))
	}
	if w.app.Status.Health == string(health.Progressing) || w.app.Status.Health == string(health.Missing) {
		next = min(next, healthRecheck)
	}
	if w.unwritten != nil {
		next = min(next, time.Until(w.checkpointAt))
	}
	return max(next, 0)
}

// checkpoint writes an inventory that Sync recorded without writing (it
// renewed only fingerprints) once checkpointDelay has passed since the
// first such record: changes in quick succession make one write, and a pass
// that applies one changed object makes one request. Losing it (a crash in
// between) costs no correctness: an object whose stored fingerprint is old
// goes the exact way (one apply) on the next pass. A change of the object
// set is never held back (record).
func (c *Controller) checkpoint(ctx context.Context, w *appState, tm *phases) {
	if w.unwritten == nil || time.Now().Before(w.checkpointAt) {
		return
	}
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := sync.WriteInventory(wctx, c.opts.Client, w.app.Namespace, *w.unwritten); err != nil {
		c.log.Warn("writing the inventory", "app", keyOf(&w.app), "error", err)
		w.checkpointAt = time.Now().Add(checkpointDelay)
		return
	}
	w.unwritten = nil
	tm.mark("checkpoint")
}

// record is sync.Options.Record for w: the new inventory becomes the one
// in memory; a change of the object set is written at once, new
// fingerprints of the same objects at the next checkpoint.
func (c *Controller) record(w *appState) func(context.Context, sync.Inventory, bool) error {
	return func(ctx context.Context, inv sync.Inventory, sameObjects bool) error {
		if !sameObjects {
			if err := sync.WriteInventory(ctx, c.opts.Client, w.app.Namespace, inv); err != nil {
				return err
			}
			w.unwritten = nil // superseded
		} else {
			if w.unwritten == nil {
				w.checkpointAt = time.Now().Add(checkpointDelay)
			}
			w.unwritten = &inv
		}
		w.inv = &inv
		return nil
	}
}

// pass is one reconcile: poll → render (only when the App's inputs changed)
// → diff (when new content arrived or a drift check is due) → sync (when
// auto, and for drift only with selfHeal) → health.
func (c *Controller) pass(ctx context.Context, w *appState, now time.Time, tm *phases) outcome {
	app := &w.app
	if w.specErr != nil {
		return c.fail(w, ReasonInvalidSpec, "invalid", w.specErr)
	}
	if w.pollNow || !now.Before(w.nextPoll) || w.rev.Commit == "" {
		w.nextPoll = now.Add(jitter(interval(app)))
		rev, err := c.poll(ctx, app)
		if err != nil {
			w.nextPoll = now // poll again on the retry
			return c.fail(w, ReasonGitFailed, "git_error", err)
		}
		w.rev = rev
		tm.mark("git")
	}
	local, err := c.opts.Git.Local(app.Spec.Source.RepoURL, w.rev)
	if err != nil {
		return c.fail(w, ReasonGitFailed, "git_error", err)
	}
	// The inputs of the last render decide whether this revision can change
	// the render: they are the only paths a render of this App reads, and a
	// change that adds an input (a new Kustomize base) changes a file among
	// them (the kustomization that names it).
	key := ""
	if w.inputs != nil {
		if key, err = renderKey(local, w.rev.Commit, w.inputs, app); err != nil {
			return c.fail(w, ReasonGitFailed, "git_error", err)
		}
	}
	var whole []*unstructured.Unstructured // the render's objects, when this pass rendered
	if key == "" || key != w.renderKey || w.desired == nil {
		desired, inputs, err := c.render(ctx, app, local, w.rev.Commit, tm)
		c.opts.Metrics.rendered(keyOf(app), err)
		if err != nil {
			// The last good render stays unused: syncing it would roll the
			// cluster back to an older revision. Nothing is applied or pruned.
			w.desired, w.renderKey = nil, ""
			return c.fail(w, ReasonRenderFailed, "render_error", err)
		}
		if key, err = renderKey(local, w.rev.Commit, inputs, app); err != nil {
			return c.fail(w, ReasonGitFailed, "git_error", err)
		}
		// Labelled once, as sync applies them, and their intents hashed
		// once: the checks of later passes reuse both.
		for _, d := range desired {
			sync.SetLabel(d, app.Name) // the render's own objects: no copy
		}
		tm.mark("render")
		intents, encoded, err := sync.IntentsAndJSON(desired, app.IgnoreRules())
		if err != nil {
			return c.fail(w, ReasonRenderFailed, "render_error", err)
		}
		w.intents = intents
		kept := keep(desired, encoded)
		w.desired, w.inputs, w.renderKey, whole = kept, inputs, key, desired
		tm.mark("intents")
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
	w.watched = c.live.watch(ctx, refs)
	if w.inv == nil {
		inv, err := sync.ReadInventory(ctx, c.opts.Client, app.Namespace, app.Name)
		if err != nil {
			return c.fail(w, ReasonDiffFailed, "diff_error", err)
		}
		w.inv = &inv
	}
	fresh := sync.Fresh(refs, *w.inv, c.live, app.IgnoreRules(), w.intents)
	tm.mark("check")
	if len(fresh) == len(refs) && !(app.Spec.SyncPolicy.Prune && w.inv.Leftovers(refs)) && w.failures == 0 {
		w.syncedKey = w.renderKey
		out := outcome{result: "unchanged"}
		if h := health.Status(app.Status.Health); h != health.Healthy && h != health.Suspended {
			out.health = c.healthOf(ctx, w, refs)
			tm.mark("health")
		}
		return out
	}
	if whole == nil {
		var err error
		if whole, err = w.desired.objects(); err != nil {
			return c.fail(w, ReasonRenderFailed, "render_error", err)
		}
		tm.mark("decode")
	}
	return c.compareAndSync(ctx, w, whole, fresh, newContent, tm)
}

// kept is what the controller holds of a render between passes: each
// object's identity (apiVersion, kind, namespace, name), which is all the
// fingerprint check, the watches and health read, and the object itself as
// JSON, decoded again only by a pass that must apply or diff. Holding the
// decoded objects of every App was the largest part of plumb serve's memory
// (make bench: 10,000 objects in 20 Apps), and their JSON is a fifth of it.
// Rendering again instead would not do: a chart that draws random values
// would render different objects each time.
type kept struct {
	ids     []objectID
	encoded [][]byte
	// whole holds the objects themselves instead of encoded when every
	// check needs them (the intents depend on the live objects).
	whole []*unstructured.Unstructured
}

type objectID struct{ apiVersion, kind, namespace, name string }

// keep keeps objs as encoded, or whole when encoded is nil.
func keep(objs []*unstructured.Unstructured, encoded [][]byte) *kept {
	if encoded == nil {
		return &kept{whole: objs}
	}
	k := &kept{ids: make([]objectID, len(objs)), encoded: encoded}
	for i, o := range objs {
		k.ids[i] = objectID{o.GetAPIVersion(), o.GetKind(), o.GetNamespace(), o.GetName()}
	}
	return k
}

// refs returns objects that identify the render's objects: stubs with
// nothing but apiVersion, kind, namespace and name (made for the pass: a
// map per object kept between passes would cost more than the JSON), or the
// objects themselves. They must not be applied.
func (k *kept) refs() []*unstructured.Unstructured {
	if k.whole != nil {
		return k.whole
	}
	out := make([]*unstructured.Unstructured, len(k.ids))
	for i, id := range k.ids {
		meta := map[string]any{"name": id.name}
		if id.namespace != "" {
			meta["namespace"] = id.namespace
		}
		out[i] = &unstructured.Unstructured{Object: map[string]any{"apiVersion": id.apiVersion, "kind": id.kind, "metadata": meta}}
	}
	return out
}

// objects returns the render's objects. Sync and diff copy what they
// change, so the kept whole objects are handed out as they are, as every
// pass's render was before renders were kept encoded.
func (k *kept) objects() ([]*unstructured.Unstructured, error) {
	if k.whole != nil {
		return k.whole, nil
	}
	out := make([]*unstructured.Unstructured, len(k.encoded))
	for i, b := range k.encoded {
		u := &unstructured.Unstructured{}
		if err := u.UnmarshalJSON(b); err != nil {
			id := k.ids[i]
			gv, _ := schema.ParseGroupVersion(id.apiVersion)
			ref := render.Ref{Group: gv.Group, Kind: id.kind, Namespace: id.namespace, Name: id.name}
			return nil, fmt.Errorf("%s: decoding the kept render: %w", ref, err)
		}
		out[i] = u
	}
	return out, nil
}

// compareAndSync handles the objects the fingerprints could not vouch
// for. When the App's policy lets plumb apply, it syncs at once: Sync skips
// the objects whose fingerprints match and applies the rest, which renews
// their fingerprints when nothing else changed. Otherwise it diffs them
// (GET and dry-run each) to report what is out of sync.
func (c *Controller) compareAndSync(ctx context.Context, w *appState, desired []*unstructured.Unstructured, fresh map[render.Ref]bool, newContent bool, tm *phases) outcome {
	app := &w.app
	cl := c.opts.Client
	masker := diff.NewMasker()
	out := outcome{result: "unchanged"}
	if auto(app) && (newContent || app.Spec.SyncPolicy.SelfHeal) {
		prev := w.inv
		changes, err := sync.Sync(ctx, cl, desired, sync.Options{
			App:                app.Name,
			InventoryNamespace: app.Namespace,
			Prune:              app.Spec.SyncPolicy.Prune,
			AllowEmpty:         app.Spec.SyncPolicy.AllowEmpty,
			Force:              app.Spec.SyncPolicy.Force,
			Ignore:             app.IgnoreRules(),
			Masker:             masker,
			Live:               c.live,
			Previous:           w.inv,
			Intents:            w.intents,
			Record:             c.record(w),
		})
		if err != nil && w.inv == prev {
			w.inv = nil // read again: the sync may have applied what the inventory does not say
		}
		tm.mark("sync")
		counts := map[string]int{}
		for a, n := range changes.Counts() {
			counts[string(a)] = n
		}
		c.opts.Metrics.synced(keyOf(app), counts)
		if err != nil {
			o := c.fail(w, ReasonSyncFailed, "sync_error", masker.ScrubError(err))
			o.counts = counts
			return o
		}
		w.syncedKey = w.renderKey
		if changedObjects(counts) > 0 {
			out.counts, out.result = counts, "synced"
		}
	} else {
		var prune []*unstructured.Unstructured
		if app.Spec.SyncPolicy.Prune && w.inv.Leftovers(desired) {
			var err error
			if prune, err = sync.PruneCandidates(ctx, cl, *w.inv, desired, false); err != nil {
				return c.fail(w, ReasonDiffFailed, "diff_error", masker.ScrubError(err))
			}
		}
		rep := diff.Compute(ctx, cl, desired, prune, diff.Options{
			Ignore:    app.IgnoreRules(),
			Masker:    masker,
			Unchanged: func(d *unstructured.Unstructured) bool { return fresh[render.RefOf(d)] },
		})
		tm.mark("diff")
		if errs := rep.Errors(); len(errs) > 0 {
			return c.fail(w, ReasonDiffFailed, "diff_error", errors.New(errs[0].Error))
		}
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
	}
	w.failures = 0
	out.health = c.healthOf(ctx, w, desired)
	tm.mark("health")
	return out
}

// phases times the parts of a pass, for the log line that reports it.
type phases struct {
	last  time.Time
	parts []string
}

// mark ends the part called name.
func (p *phases) mark(name string) {
	now := time.Now()
	p.parts = append(p.parts, name+"="+now.Sub(p.last).Round(100*time.Microsecond).String())
	p.last = now
}

func (p *phases) String() string { return strings.Join(p.parts, " ") }

// fail records a failed pass.
func (c *Controller) fail(w *appState, reason, result string, err error) outcome {
	w.failures++
	return outcome{result: result, failure: reason, err: err}
}

// poll resolves the App's ref on its remote and fetches the commit when the
// cache lacks it. Concurrent polls of one repository, ref and credentials
// share one ls-remote.
func (c *Controller) poll(ctx context.Context, app *v1alpha1.App) (git.Revision, error) {
	cred, err := c.credentials(ctx, app)
	if err != nil {
		return git.Revision{}, err
	}
	src := app.Spec.Source
	flight := src.RepoURL + "\x00" + src.Ref + "\x00"
	if src.SecretRef != nil {
		flight += app.Namespace + "/" + src.SecretRef.Name
	}
	v, err, _ := c.resolves.Do(flight, func() (any, error) {
		start := time.Now()
		rev, err := c.opts.Git.Resolve(ctx, src.RepoURL, src.Ref, cred)
		c.opts.Metrics.gitOp("ls-remote", start, err)
		return rev, err
	})
	if err != nil {
		return git.Revision{}, err
	}
	rev := v.(git.Revision)
	if !c.opts.Git.Has(src.RepoURL, rev) {
		start := time.Now()
		err := c.opts.Git.Fetch(ctx, src.RepoURL, rev, cred)
		c.opts.Metrics.gitOp("fetch", start, err)
		if err != nil {
			return git.Revision{}, err
		}
	}
	return rev, nil
}

// Secret keys read for repository credentials (the names Flux uses).
const (
	SecretUsername   = "username"
	SecretPassword   = "password"
	SecretIdentity   = "identity"
	SecretKnownHosts = "known_hosts"
)

func (c *Controller) credentials(ctx context.Context, app *v1alpha1.App) (*git.Credentials, error) {
	ref := app.Spec.Source.SecretRef
	if ref == nil {
		return nil, nil
	}
	if c.opts.Secrets == nil {
		return nil, fmt.Errorf("Secret/%s/%s: this controller reads no Secrets", app.Namespace, ref.Name)
	}
	data, err := c.opts.Secrets.Secret(ctx, app.Namespace, ref.Name)
	if err != nil {
		return nil, fmt.Errorf("Secret/%s/%s: %w", app.Namespace, ref.Name, err)
	}
	return &git.Credentials{
		Username:      string(data[SecretUsername]),
		Password:      string(data[SecretPassword]),
		SSHPrivateKey: data[SecretIdentity],
		KnownHosts:    data[SecretKnownHosts],
	}, nil
}

// render exports the commit and renders the App, returning its objects and
// the repository paths the render read.
func (c *Controller) render(ctx context.Context, app *v1alpha1.App, local *git.Local, commit string, tm *phases) ([]*unstructured.Unstructured, []string, error) {
	dir, err := os.MkdirTemp(c.opts.WorkDir, "render-")
	if err != nil {
		return nil, nil, err
	}
	defer os.RemoveAll(dir)
	if err := local.Export(ctx, commit, dir, c.opts.MaxRepoBytes); err != nil {
		return nil, nil, err
	}
	tm.mark("export")
	src := render.Source{Root: dir, Path: app.SourcePath()}
	opts := renderOptions(app)
	opts.Mapper = c.opts.Client.Mapper()
	opts.Cache = c.renders
	inputs, err := render.Inputs(src, opts)
	if err != nil {
		return nil, nil, err
	}
	res, err := render.Render(ctx, src, opts)
	if errors.Is(err, render.ErrEmptyRender) && app.Spec.SyncPolicy.AllowEmpty {
		return []*unstructured.Unstructured{}, inputs, nil
	}
	if err != nil {
		return nil, nil, err
	}
	objs := make([]*unstructured.Unstructured, len(res.Objects))
	for i, o := range res.Objects {
		objs[i] = o.Object
	}
	return objs, inputs, nil
}

// renderOptions are the App's render options; objects that name no
// namespace go to the destination, by default the App's own namespace.
func renderOptions(app *v1alpha1.App) render.Options {
	opts := app.RenderOptions()
	if opts.Namespace == "" {
		opts.Namespace = app.Namespace
	}
	return opts
}

// renderKey identifies a render: the content of every input at commit and
// everything in the spec that changes the output.
func renderKey(local *git.Local, commit string, inputs []string, app *v1alpha1.App) (string, error) {
	content, err := local.ContentHash(commit, inputs)
	if err != nil {
		return "", err
	}
	// The ignore rules do not change the render but do change what is sent
	// (and so the intents cached with it).
	spec, err := json.Marshal(struct {
		Name      string
		Path      string
		Namespace string
		Render    v1alpha1.RenderOptions
		Ignore    []v1alpha1.IgnoreDifference
	}{app.Name, app.SourcePath(), renderOptions(app).Namespace, app.Spec.Render, app.Spec.IgnoreDifferences})
	if err != nil {
		return "", err
	}
	h := sha256.New()
	h.Write(spec)
	h.Write([]byte(content))
	return hex.EncodeToString(h.Sum(nil)), nil
}

// healthOf rates each object. A rating is kept with the resourceVersion it
// was made at: while the watch cache shows the same version, it stands
// without a request, so a pass over an unchanged App reads nothing and a
// pass after one change reads that one object. A read error makes the
// object's health Unknown rather than failing the pass.
func (c *Controller) healthOf(ctx context.Context, w *appState, desired []*unstructured.Unstructured) *health.Report {
	results := make([]health.Result, 0, len(desired))
	seen := make(map[render.Ref]healthEntry, len(desired))
	for _, d := range desired {
		ref := render.RefOf(d)
		if m, known := c.live.Lookup(d); known && m != nil {
			if e, ok := w.health[ref]; ok && e.rv == m.GetResourceVersion() {
				results = append(results, health.Result{Ref: ref, Status: e.status, Reason: e.reason})
				seen[ref] = e
				continue
			}
		}
		live, err := c.opts.Client.Get(ctx, d)
		r := health.Of(live)
		if err != nil {
			r = health.Result{Status: health.Unknown, Reason: err.Error()}
		}
		r.Ref = ref
		results = append(results, r)
		if err == nil && live != nil {
			seen[ref] = healthEntry{rv: live.GetResourceVersion(), status: r.Status, reason: r.Reason}
		}
	}
	w.health = seen
	rep := health.Aggregate(results)
	return &rep
}

// healthEntry is one object's rating and the version it was made at (the
// map's key is the object: the rating's Ref is not kept twice).
type healthEntry struct {
	rv     string
	status health.Status
	reason string
}

func keyOf(app *v1alpha1.App) string { return app.Namespace + "/" + app.Name }
