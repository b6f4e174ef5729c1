package health

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/plumbhq/plumb/resource"
)

// Getter reads the live counterpart of a desired object; it returns nil and
// no error when the object does not exist.
type Getter interface {
	Get(ctx context.Context, desired *unstructured.Unstructured) (*unstructured.Unstructured, error)
}

// WaitOptions bound a wait.
type WaitOptions struct {
	Timeout  time.Duration // default 5 minutes
	Interval time.Duration // default 1 second
	// Rater rates each object (nil: the built-in kinds and kstatus), so a
	// wait fails fast on what a user rule calls Degraded.
	Rater *Rater
}

// ErrDegraded and ErrTimeout let callers tell a failed rollout from a slow one.
var (
	ErrDegraded = errors.New("rollout failed")
	ErrTimeout  = errors.New("timed out waiting for health")
)

// done reports whether a status ends the wait for that object. Suspended
// counts: a paused rollout will not progress until someone resumes it.
func done(s Status) bool { return s == Healthy || s == Suspended }

// Wait polls objects until every one is Healthy or Suspended, one is
// Degraded (fail fast), or the timeout passes. progress, if set, is called
// with each round's report so a CLI can draw it.
func Wait(ctx context.Context, g Getter, objs []*unstructured.Unstructured, opts WaitOptions, progress func(Report)) (Report, error) {
	if opts.Timeout <= 0 {
		opts.Timeout = 5 * time.Minute
	}
	if opts.Interval <= 0 {
		opts.Interval = time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, opts.Timeout)
	defer cancel()
	tick := time.NewTicker(opts.Interval)
	defer tick.Stop()
	for {
		results := make([]Result, 0, len(objs))
		for _, d := range objs {
			live, err := g.Get(ctx, d)
			if err != nil && ctx.Err() == nil {
				return Aggregate(results), fmt.Errorf("%s: health: %w", resource.RefOf(d), err)
			}
			r := opts.Rater.Of(live)
			r.Ref = resource.RefOf(d)
			results = append(results, r)
		}
		rep := Aggregate(results)
		if progress != nil {
			progress(rep)
		}
		var degraded, pending []string
		for _, r := range results {
			switch {
			case r.Status == Degraded:
				degraded = append(degraded, r.Explain())
			case !done(r.Status):
				pending = append(pending, fmt.Sprintf("%s: %s (%s)", r.Ref, r.Status, r.Reason))
			}
		}
		if len(degraded) > 0 {
			return rep, fmt.Errorf("%w: %s", ErrDegraded, strings.Join(degraded, "; "))
		}
		if len(pending) == 0 {
			return rep, nil
		}
		select {
		case <-ctx.Done():
			return rep, fmt.Errorf("%w after %s: %s", ErrTimeout, opts.Timeout, strings.Join(pending, "; "))
		case <-tick.C:
		}
	}
}
