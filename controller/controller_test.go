package controller

import (
	"context"
	"errors"
	"maps"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	metadatafake "k8s.io/client-go/metadata/fake"

	"github.com/plumbhq/plumb/api/v1alpha1"
	"github.com/plumbhq/plumb/git"
	"github.com/plumbhq/plumb/health"
	"github.com/plumbhq/plumb/resource"
	"github.com/plumbhq/plumb/sync"
)

func TestRevision(t *testing.T) {
	tests := []struct {
		name string
		rev  git.Revision
		want string
	}{
		{"branch", git.Revision{Ref: "refs/heads/main", Commit: "abc"}, "main@sha1:abc"},
		{"tag", git.Revision{Ref: "refs/tags/v1.2.0", Commit: "abc"}, "v1.2.0@sha1:abc"},
		{"pinned commit", git.Revision{Commit: "abc"}, "sha1:abc"},
		{"unknown", git.Revision{}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Revision(tt.rev); got != tt.want {
				t.Errorf("Revision(%+v) = %q, want %q", tt.rev, got, tt.want)
			}
		})
	}
}

// conditions is the part of a status the table compares.
type conditions struct {
	Sync, Health                string
	Ready, Reconciling, Stalled string // "Status/Reason"
	Applied                     string
}

func summarise(s v1alpha1.AppStatus) conditions {
	get := func(typ string) string {
		for _, c := range s.Conditions {
			if c.Type == typ {
				return string(c.Status) + "/" + c.Reason
			}
		}
		return ""
	}
	return conditions{
		Sync: s.SyncStatus, Health: s.Health, Applied: s.LastAppliedRevision,
		Ready: get(ConditionReady), Reconciling: get(ConditionReconciling), Stalled: get(ConditionStalled),
	}
}

func TestStatusFor(t *testing.T) {
	off := false
	rev := git.Revision{Ref: "refs/heads/main", Commit: "c2"}
	synced := func(w *appState) { w.renderKey, w.syncedKey = "k2", "k2" }
	healthy := &health.Report{Status: health.Healthy}
	progressing := &health.Report{Status: health.Progressing, Objects: []health.Result{
		{Ref: resource.Ref{Group: "apps", Kind: "Deployment", Namespace: "shop", Name: "web"}, Status: health.Progressing, Reason: "1 of 3 updated"},
	}}
	tests := []struct {
		name  string
		setup func(*appState)
		out   outcome
		want  conditions
	}{
		{
			name:  "synced and healthy",
			setup: synced,
			out:   outcome{result: "synced", counts: map[string]int{"created": 2}, health: healthy},
			want:  conditions{Sync: Synced, Health: "Healthy", Applied: "main@sha1:c2", Ready: "True/Succeeded", Reconciling: "False/Succeeded", Stalled: "False/Succeeded"},
		},
		{
			name:  "rolling out",
			setup: synced,
			out:   outcome{result: "synced", health: progressing},
			want:  conditions{Sync: Synced, Health: "Progressing", Applied: "main@sha1:c2", Ready: "False/Progressing", Reconciling: "True/Progressing", Stalled: "False/Progressing"},
		},
		{
			name:  "degraded",
			setup: synced,
			out:   outcome{result: "unchanged", health: &health.Report{Status: health.Degraded}},
			want:  conditions{Sync: Synced, Health: "Degraded", Applied: "main@sha1:c2", Ready: "False/Degraded", Reconciling: "False/Degraded", Stalled: "True/Degraded"},
		},
		{
			name: "detect-only out of sync",
			setup: func(w *appState) {
				w.app.Spec.SyncPolicy.Auto = &off
				w.renderKey = "k2"
			},
			out:  outcome{result: "out_of_sync", outOfSync: 2, health: &health.Report{Status: health.Missing}},
			want: conditions{Sync: OutOfSync, Health: "Missing", Ready: "False/OutOfSync", Reconciling: "False/OutOfSync", Stalled: "False/OutOfSync"},
		},
		{
			name: "git down keeps the last applied revision",
			setup: func(w *appState) {
				synced(w)
				w.app.Status = v1alpha1.AppStatus{LastAppliedRevision: "main@sha1:c1", Health: "Healthy", SyncStatus: Synced}
			},
			out:  outcome{result: "git_error", failure: ReasonGitFailed, err: errors.New("ls-remote: connection refused")},
			want: conditions{Sync: Unknown, Health: "Healthy", Applied: "main@sha1:c1", Ready: "False/GitOperationFailed", Reconciling: "False/GitOperationFailed", Stalled: "True/GitOperationFailed"},
		},
		{
			name:  "sync failed",
			setup: func(w *appState) { w.renderKey = "k2" },
			out:   outcome{result: "sync_error", failure: ReasonSyncFailed, err: errors.New("apply failed")},
			want:  conditions{Sync: OutOfSync, Ready: "False/SyncFailed", Reconciling: "False/SyncFailed", Stalled: "True/SyncFailed"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := &appState{rev: rev, app: v1alpha1.App{ObjectMeta: metav1.ObjectMeta{Name: "shop", Namespace: "apps", Generation: 3}}}
			tt.setup(w)
			c := &Controller{}
			s := c.statusFor(w, tt.out)
			if diff := cmp.Diff(tt.want, summarise(s)); diff != "" {
				t.Errorf("status (-want +got):\n%s", diff)
			}
			if s.ObservedGeneration != 3 || s.Inventory != "ConfigMap/apps/plumb-inventory-shop" {
				t.Errorf("observedGeneration %d, inventory %q", s.ObservedGeneration, s.Inventory)
			}
			// The same state gives the same status: an unchanged App writes nothing.
			w.app.Status = s
			again := c.statusFor(w, tt.out)
			if diff := cmp.Diff(s, again, cmpopts.EquateApproxTime(0)); diff != "" || !statusEqual(s, again) {
				t.Errorf("status not stable (-first +second):\n%s", diff)
			}
		})
	}
}

func TestRetryAfter(t *testing.T) {
	nextPoll := time.Now().Add(time.Hour)
	limited := &v1alpha1.App{Spec: v1alpha1.AppSpec{SyncPolicy: v1alpha1.SyncPolicy{Retry: &v1alpha1.RetryPolicy{Limit: 2, Backoff: &metav1.Duration{Duration: 5 * time.Second}}}}}
	tests := []struct {
		name     string
		app      *v1alpha1.App
		failures int
		want     time.Duration
	}{
		{"first failure", &v1alpha1.App{}, 1, 2 * time.Second},
		{"doubles", &v1alpha1.App{}, 3, 8 * time.Second},
		{"capped", &v1alpha1.App{}, 30, maxRetryBackoff},
		{"own backoff", limited, 2, 10 * time.Second},
		{"limit reached waits for the next poll", limited, 3, time.Hour},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := retryAfter(tt.app, tt.failures, nextPoll)
			if got > tt.want || got < tt.want-time.Second {
				t.Errorf("retryAfter(%d) = %s, want %s", tt.failures, got, tt.want)
			}
		})
	}
}

func TestAPIVerb(t *testing.T) {
	tests := []struct {
		name, method, url, contentType, want string
	}{
		{"get", "GET", "/api/v1/namespaces/shop/configmaps/web", "", "get"},
		{"list", "GET", "/apis/apps/v1/namespaces/shop/deployments", "", "list"},
		{"list cluster-scoped", "GET", "/api/v1/namespaces", "", "list"},
		{"get cluster-scoped", "GET", "/api/v1/namespaces/shop", "", "get"},
		{"watch", "GET", "/apis/plumb.dev/v1alpha1/apps?watch=true", "", "watch"},
		{"apply", "PATCH", "/apis/apps/v1/namespaces/shop/deployments/web?fieldManager=plumb", "application/apply-patch+yaml", "apply"},
		{"merge patch", "PATCH", "/api/v1/namespaces/shop/configmaps/web", "application/merge-patch+json", "patch"},
		{"create", "POST", "/api/v1/namespaces/shop/events", "", "create"},
		{"status update", "PUT", "/apis/plumb.dev/v1alpha1/namespaces/shop/apps/web/status", "", "update"},
		{"delete", "DELETE", "/api/v1/namespaces/shop/configmaps/web", "", "delete"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(tt.method, tt.url, nil)
			if tt.contentType != "" {
				r.Header.Set("Content-Type", tt.contentType)
			}
			if got := APIVerb(r); got != tt.want {
				t.Errorf("APIVerb(%s %s) = %q, want %q", tt.method, tt.url, got, tt.want)
			}
		})
	}
}

// TestLiveCacheRetain: watches follow what the Apps render; resources no
// App renders any more are no longer watched. (A fake metadata client: what
// is tested is the cache's bookkeeping, not the API server.)
func TestLiveCacheRetain(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	scheme := runtime.NewScheme()
	if err := metav1.AddMetaToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	mapper := meta.NewDefaultRESTMapper(nil)
	mapper.Add(schema.GroupVersionKind{Version: "v1", Kind: "ConfigMap"}, meta.RESTScopeNamespace)
	mapper.Add(schema.GroupVersionKind{Version: "v1", Kind: "Service"}, meta.RESTScopeNamespace)
	live := &metav1.PartialObjectMetadata{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
		ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web", Labels: map[string]string{sync.AppLabel: "shop"}},
	}
	l := newLiveCache(ctx, metadatafake.NewSimpleMetadataClient(scheme, live), mapper, func(string) {})
	obj := func(kind string) *unstructured.Unstructured {
		u := &unstructured.Unstructured{}
		u.SetAPIVersion("v1")
		u.SetKind(kind)
		u.SetNamespace("shop")
		u.SetName("web")
		return u
	}
	configMaps := schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}
	services := schema.GroupVersionResource{Version: "v1", Resource: "services"}
	sorted := cmpopts.SortSlices(func(a, b schema.GroupVersionResource) bool { return a.String() < b.String() })
	watching := func() []schema.GroupVersionResource {
		l.mu.Lock()
		defer l.mu.Unlock()
		return slices.Collect(maps.Keys(l.informers))
	}

	watched := l.watch(ctx, []*unstructured.Unstructured{obj("ConfigMap"), obj("Service"), obj("Unserved")})
	if diff := cmp.Diff(map[schema.GroupVersionResource]bool{configMaps: true, services: true}, watched); diff != "" {
		t.Errorf("watch (-want +got):\n%s", diff)
	}
	l.retain(map[schema.GroupVersionResource]bool{configMaps: true})
	if diff := cmp.Diff([]schema.GroupVersionResource{configMaps}, watching(), sorted); diff != "" {
		t.Errorf("after retain (-want +got):\n%s", diff)
	}
	if _, known := l.Lookup(obj("Service")); known {
		t.Error("a Service is still answered from a watch that was stopped")
	}
	if _, known := l.Lookup(obj("ConfigMap")); !known {
		t.Error("a ConfigMap is not answered from its watch")
	}
	l.watch(ctx, []*unstructured.Unstructured{obj("Service")})
	if diff := cmp.Diff([]schema.GroupVersionResource{configMaps, services}, watching(), sorted); diff != "" {
		t.Errorf("watched again (-want +got):\n%s", diff)
	}
}
