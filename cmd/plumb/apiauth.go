package main

import (
	"context"
	"crypto/sha256"
	"net"
	"net/http"
	"strings"
	gosync "sync"
	"time"

	authnv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/plumbhq/plumb/api/v1alpha1"
	"github.com/plumbhq/plumb/git"
)

// apiAuth guards GET /api/v1/apps. On a loopback listener only local
// processes reach it, and it is open; on any other, a client must send a
// bearer token the cluster authenticates (a TokenReview, as a kubelet or
// metrics-server checks a caller), and anything else gets 401. Answers are
// kept a minute per token, so a busy client costs one review a minute.
type apiAuth struct {
	open    bool
	reviews tokenReviewer
	mu      gosync.Mutex
	known   map[[32]byte]time.Time // token hash → authenticated until
}

// tokenReviewer is the part of the cluster's API apiAuth uses.
type tokenReviewer interface {
	Review(ctx context.Context, token string) (bool, error)
}

func newAPIAuth(ln net.Listener, kube kubernetes.Interface) *apiAuth {
	a := &apiAuth{known: map[[32]byte]time.Time{}}
	if tcp, ok := ln.Addr().(*net.TCPAddr); ok && tcp.IP.IsLoopback() {
		a.open = true
	}
	if kube != nil {
		a.reviews = kubeReviewer{kube}
	}
	return a
}

func (a *apiAuth) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !a.open && !a.authenticated(r) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="plumb"`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	})
}

func (a *apiAuth) authenticated(r *http.Request) bool {
	token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || token == "" || a.reviews == nil {
		return false
	}
	key := sha256.Sum256([]byte(token))
	a.mu.Lock()
	until, seen := a.known[key]
	a.mu.Unlock()
	if seen && time.Now().Before(until) {
		return true
	}
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	if ok, err := a.reviews.Review(ctx, token); err != nil || !ok {
		return false
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.known) > 1000 { // forget everyone rather than grow without bound
		clear(a.known)
	}
	a.known[key] = time.Now().Add(time.Minute)
	return true
}

type kubeReviewer struct{ kube kubernetes.Interface }

func (k kubeReviewer) Review(ctx context.Context, token string) (bool, error) {
	tr, err := k.kube.AuthenticationV1().TokenReviews().Create(ctx, &authnv1.TokenReview{Spec: authnv1.TokenReviewSpec{Token: token}}, metav1.CreateOptions{})
	if err != nil {
		return false, err
	}
	return tr.Status.Authenticated, nil
}

// apiApp is an App as the API serves it: repository URLs without their
// credentials (a token as user name or in the query), and none of the
// metadata that copies the spec (kubectl's last-applied annotation,
// managed fields).
func apiApp(a v1alpha1.App) v1alpha1.App {
	a.TypeMeta = metav1.TypeMeta{APIVersion: v1alpha1.APIVersion, Kind: v1alpha1.Kind}
	a.ManagedFields = nil
	if _, ok := a.Annotations["kubectl.kubernetes.io/last-applied-configuration"]; ok {
		ann := make(map[string]string, len(a.Annotations))
		for k, v := range a.Annotations {
			ann[k] = v
		}
		delete(ann, "kubectl.kubernetes.io/last-applied-configuration")
		a.Annotations = ann
	}
	if a.Spec.Source.RepoURL != "" {
		a.Spec.Source.RepoURL = git.Redact(a.Spec.Source.RepoURL)
	}
	if c := a.Spec.Source.Chart; c != nil {
		cc := *c
		cc.RepoURL = git.Redact(cc.RepoURL)
		a.Spec.Source.Chart = &cc
	}
	return a
}
