package controller

import (
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the controller's Prometheus metrics. They are registered on
// the registry the caller gives (never the global one), so that two
// controllers in one process (tests) do not collide.
type Metrics struct {
	reconcileDuration *prometheus.HistogramVec
	reconciles        *prometheus.CounterVec
	objects           *prometheus.CounterVec
	renders           *prometheus.CounterVec
	appSynced         *prometheus.GaugeVec
	appHealth         *prometheus.GaugeVec
	unwritten         *prometheus.GaugeVec
	gitRequests       *prometheus.CounterVec
	gitDuration       *prometheus.HistogramVec
	webhooks          *prometheus.CounterVec
	apiRequests       *prometheus.CounterVec
	leader            prometheus.Gauge
}

// healthStatuses are the values of plumb_app_health's status label.
var healthStatuses = []string{"Healthy", "Progressing", "Degraded", "Suspended", "Missing", "Unknown"}

// NewMetrics creates the metrics and registers them on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		reconcileDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "plumb_reconcile_duration_seconds",
			Help:    "Time one reconcile of one App took, by result.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120},
		}, []string{"result"}),
		reconciles: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "plumb_reconcile_total",
			Help: "Reconciles by App and result (unchanged, synced, out_of_sync, progressing, git_error, render_error, sync_error, invalid).",
		}, []string{"app", "result"}),
		objects: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "plumb_sync_objects_total",
			Help: "Objects handled by syncs, by App and action (created, configured, recreated, unchanged, pruned, skipped, failed).",
		}, []string{"app", "action"}),
		renders: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "plumb_renders_total",
			Help: "Renders by App and result; a render happens only when the content an App reads changed.",
		}, []string{"app", "result"}),
		appSynced: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "plumb_app_synced",
			Help: "1 when the App's live objects match its last render, 0 otherwise.",
		}, []string{"app"}),
		appHealth: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "plumb_app_health",
			Help: "1 for the App's current health status, 0 for the others.",
		}, []string{"app", "status"}),
		unwritten: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "plumb_inventory_unwritten",
			Help: "1 while the App's inventory holds new fingerprints not yet written to the cluster (they are, a second after the sync that made them).",
		}, []string{"app"}),
		gitRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "plumb_git_requests_total",
			Help: "Requests to Git remotes by operation (ls-remote, fetch) and result (ok, error).",
		}, []string{"op", "result"}),
		gitDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "plumb_git_request_duration_seconds",
			Help:    "Duration of requests to Git remotes by operation.",
			Buckets: prometheus.DefBuckets,
		}, []string{"op"}),
		webhooks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "plumb_webhook_requests_total",
			Help: "Webhook requests by provider and result (accepted, unknown_repo, ignored, unauthorized, too_large, ...).",
		}, []string{"provider", "result"}),
		apiRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "plumb_kube_api_requests_total",
			Help: "Requests to the Kubernetes API by verb (get, list, watch, create, update, patch, apply, delete) and dry-run.",
		}, []string{"verb", "dry_run"}),
		leader: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "plumb_leader",
			Help: "1 while this replica holds the leader lease (or runs without leader election).",
		}),
	}
	reg.MustRegister(m.reconcileDuration, m.reconciles, m.objects, m.renders, m.appSynced, m.appHealth, m.unwritten,
		m.gitRequests, m.gitDuration, m.webhooks, m.apiRequests, m.leader)
	return m
}

// WebhookResult counts one webhook request (git.HookOptions.Result).
func (m *Metrics) WebhookResult(provider, result string) {
	if m != nil {
		m.webhooks.WithLabelValues(provider, result).Inc()
	}
}

// SetLeader records whether this replica leads.
func (m *Metrics) SetLeader(leading bool) {
	if m == nil {
		return
	}
	if leading {
		m.leader.Set(1)
	} else {
		m.leader.Set(0)
	}
}

func (m *Metrics) gitOp(op string, start time.Time, err error) {
	if m == nil {
		return
	}
	result := "ok"
	if err != nil {
		result = "error"
	}
	m.gitRequests.WithLabelValues(op, result).Inc()
	m.gitDuration.WithLabelValues(op).Observe(time.Since(start).Seconds())
}

func (m *Metrics) reconciled(app, result string, d time.Duration) {
	if m == nil {
		return
	}
	m.reconciles.WithLabelValues(app, result).Inc()
	m.reconcileDuration.WithLabelValues(result).Observe(d.Seconds())
}

func (m *Metrics) rendered(app string, err error) {
	if m == nil {
		return
	}
	result := "ok"
	if err != nil {
		result = "error"
	}
	m.renders.WithLabelValues(app, result).Inc()
}

func (m *Metrics) synced(app string, counts map[string]int) {
	if m == nil {
		return
	}
	for action, n := range counts {
		m.objects.WithLabelValues(app, action).Add(float64(n))
	}
}

func (m *Metrics) appState(app string, synced bool, health string, unwritten bool) {
	if m == nil {
		return
	}
	m.appSynced.WithLabelValues(app).Set(one(synced))
	m.unwritten.WithLabelValues(app).Set(one(unwritten))
	for _, s := range healthStatuses {
		v := 0.0
		if s == health {
			v = 1
		}
		m.appHealth.WithLabelValues(app, s).Set(v)
	}
}

func (m *Metrics) forget(app string) {
	if m == nil {
		return
	}
	m.appSynced.DeleteLabelValues(app)
	m.unwritten.DeleteLabelValues(app)
	for _, s := range healthStatuses {
		m.appHealth.DeleteLabelValues(app, s)
	}
}

// WrapTransport counts every request to the Kubernetes API by verb; set it
// as rest.Config.WrapTransport of every client the process uses.
func (m *Metrics) WrapTransport(rt http.RoundTripper) http.RoundTripper {
	return roundTripperFunc(func(r *http.Request) (*http.Response, error) {
		dry := "false"
		if r.URL.Query().Has("dryRun") {
			dry = "true"
		}
		m.apiRequests.WithLabelValues(APIVerb(r), dry).Inc()
		return rt.RoundTrip(r)
	})
}

type roundTripperFunc func(*http.Request) (*http.Response, error)

func (f roundTripperFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// APIVerb names a request the way the API server's audit log does. The
// apiserver's own RequestInfo parser lives in k8s.io/apiserver, far too big a
// dependency for a label, so the few rules are spelled out here: a GET of a
// collection is a list, with watch=true a watch; a PATCH in the apply
// content type is an apply.
func APIVerb(r *http.Request) string {
	switch r.Method {
	case http.MethodGet:
		if r.URL.Query().Get("watch") == "true" {
			return "watch"
		}
		if isCollection(r.URL.Path) {
			return "list"
		}
		return "get"
	case http.MethodPost:
		return "create"
	case http.MethodPut:
		return "update"
	case http.MethodPatch:
		if strings.HasPrefix(r.Header.Get("Content-Type"), "application/apply-patch") {
			return "apply"
		}
		return "patch"
	case http.MethodDelete:
		if isCollection(r.URL.Path) {
			return "deletecollection"
		}
		return "delete"
	}
	return strings.ToLower(r.Method)
}

// isCollection reports whether an API path names a collection
// (/api/v1/namespaces/ns/pods) rather than one object (.../pods/web).
func isCollection(p string) bool {
	parts := strings.Split(strings.Trim(p, "/"), "/")
	switch {
	case len(parts) >= 2 && parts[0] == "api":
		parts = parts[2:]
	case len(parts) >= 3 && parts[0] == "apis":
		parts = parts[3:]
	default:
		return false // discovery and the like
	}
	if len(parts) >= 3 && parts[0] == "namespaces" {
		parts = parts[2:] // a namespaced resource
	}
	return len(parts) == 1
}

func one(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
