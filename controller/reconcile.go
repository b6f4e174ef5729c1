package controller

import (
	"context"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/types"

	"github.com/plumbhq/plumb/api/v1alpha1"
	"github.com/plumbhq/plumb/cluster"
	"github.com/plumbhq/plumb/health"
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
	ReasonChartFailed   = "ChartOperationFailed"
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
	// held are the prunes the deletion budget holds for approval.
	held sync.ChangeSet
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
	st.pollNow, st.liveChanged, st.respec = false, false, false
	c.mu.Unlock()
	ctx = cluster.ForApp(ctx, key.String()) // its requests say which App they are for

	pctx, cancel := context.WithTimeout(ctx, c.opts.Timeout)
	tm := &phases{last: start}
	out := c.pass(pctx, &w, start, tm)
	cancel()
	if ctx.Err() != nil {
		return 0, false // shutting down: leave the status as it was
	}
	c.flush(ctx, &w, tm)

	old := w.app.Status
	wasReady := readyAtRevision(&w.app)
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
	c.opts.Metrics.appState(key.String(), w.app.Status.SyncStatus == Synced, w.app.Status.Health, pending(&w))
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
	cur.rev, cur.chart, cur.warnings, cur.usedCaps, cur.inputs, cur.renderKey, cur.desired, cur.syncedKey = w.rev, w.chart, w.warnings, w.usedCaps, w.inputs, w.renderKey, w.desired, w.syncedKey
	cur.applier, cur.health, cur.failures, cur.lastEvent, cur.hooks, cur.held = w.applier, w.health, w.failures, w.lastEvent, w.hooks, w.held
	cur.namespaced = w.namespaced
	dropped := false // a resource this App no longer renders
	for gvr := range cur.watched {
		dropped = dropped || !w.watched[gvr]
	}
	cur.watched = w.watched
	if readyAtRevision(&w.app) != wasReady || w.app.Status.LastAppliedRevision != old.LastAppliedRevision {
		c.wakeDependants(key)
	}
	c.mu.Unlock()
	if dropped {
		c.releaseWatches()
	}
	return next, next >= 0
}

// nextWake is the delay until the App's next pass: the earliest of its
// next poll, next drift check, a retry and a health recheck; -1 for never.
func (c *Controller) nextWake(w *appState, out outcome) time.Duration {
	if out.failure == ReasonInvalidSpec && w.specErr == nil {
		return interval(&w.app) // a dependsOn cycle: another App's spec may break it
	}
	if out.failure == ReasonInvalidSpec {
		return -1 // until the spec changes
	}
	if out.failure == ReasonDependencyNotReady {
		return interval(&w.app) // a safety net: a dependency that becomes Ready wakes it at once
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
	if w.applier != nil {
		if at, ok := w.applier.FlushAt(); ok {
			next = min(next, time.Until(at))
		}
	}
	return max(next, 0)
}

// flush writes the inventory the App's applier held back (it renewed only
// fingerprints) once its delay has passed: changes in quick succession make
// one write, and a pass that applies one changed object makes one request.
func (c *Controller) flush(ctx context.Context, w *appState, tm *phases) {
	if !pending(w) {
		return
	}
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if still, err := w.applier.Flush(wctx, false); err != nil {
		c.log.Warn("writing the inventory", "app", keyOf(&w.app), "error", err)
	} else if !still {
		tm.mark("checkpoint")
	}
}

// pending reports whether an inventory write waits for flush.
func pending(w *appState) bool {
	if w.applier == nil {
		return false
	}
	_, ok := w.applier.FlushAt()
	return ok
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

func keyOf(app *v1alpha1.App) string { return app.Namespace + "/" + app.Name }
