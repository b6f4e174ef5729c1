package controller

import (
	"context"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/plumbhq/plumb/health"
	"github.com/plumbhq/plumb/resource"
)

// healthOf rates each object. A rating is kept with the resourceVersion it
// was made at: while the watch cache shows the same version, it stands
// without a request, so a pass over an unchanged App reads nothing and a
// pass after one change reads that one object. A read error makes the
// object's health Unknown rather than failing the pass.
func (c *Controller) healthOf(ctx context.Context, w *appState, desired []*unstructured.Unstructured) *health.Report {
	results := make([]health.Result, 0, len(desired))
	seen := make(map[resource.Ref]healthEntry, len(desired))
	for _, d := range desired {
		ref := resource.RefOf(d)
		if m, known := c.live.Lookup(d); known && m != nil {
			if e, ok := w.health[ref]; ok && e.rv == m.GetResourceVersion() && e.rater == w.rater {
				results = append(results, health.Result{Ref: ref, Status: e.status, Reason: e.reason, Source: e.source})
				seen[ref] = e
				continue
			}
		}
		live, err := w.applier.Client().Get(ctx, d) // as the App
		r := w.rater.Of(live)
		if err != nil {
			r = health.Result{Status: health.Unknown, Reason: err.Error()}
		}
		r.Ref = ref
		results = append(results, r)
		if err == nil && live != nil {
			seen[ref] = healthEntry{rv: live.GetResourceVersion(), status: r.Status, reason: r.Reason, source: r.Source, rater: w.rater}
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
	source string
	rater  *health.Rater // the rules it was made by
}
