package controller

import (
	"math/rand/v2"
	"time"

	"github.com/plumbhq/plumb/api/v1alpha1"
)

// jitter spreads polls of many Apps over ±10% of the interval, so that
// Apps created together do not poll their remotes together.
func jitter(d time.Duration) time.Duration {
	return d + time.Duration((rand.Float64()*0.2-0.1)*float64(d))
}

// retryAfter is the backoff after n consecutive failures: the App's
// retry.backoff (default 2s) doubling up to 5 minutes. With a retry limit,
// an App that failed that often waits for its next poll instead.
func retryAfter(app *v1alpha1.App, n int, nextPoll time.Time) time.Duration {
	base := defaultRetryBackoff
	limit := 0
	if r := app.Spec.SyncPolicy.Retry; r != nil {
		if r.Backoff != nil && r.Backoff.Duration > 0 {
			base = r.Backoff.Duration
		}
		limit = r.Limit
	}
	if limit > 0 && n > limit {
		return max(time.Until(nextPoll), 0)
	}
	d := base
	for i := 1; i < n && d < maxRetryBackoff; i++ {
		d *= 2
	}
	return min(d, maxRetryBackoff)
}

func interval(app *v1alpha1.App) time.Duration {
	if i := app.Spec.SyncPolicy.Interval; i != nil && i.Duration > 0 {
		return i.Duration
	}
	return DefaultInterval
}
