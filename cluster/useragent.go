package cluster

import (
	"context"
	"net/http"
)

type appKey struct{}

// ForApp marks ctx as the work of one App ("namespace/name"): the requests
// made with it carry "app=<namespace>/<name>" after the User-Agent, so a
// cluster's audit log says which App plumb acted for.
func ForApp(ctx context.Context, app string) context.Context {
	return context.WithValue(ctx, appKey{}, app)
}

// WrapAppUserAgent is a rest.Config WrapTransport that adds the App of a
// request's context (ForApp) to its User-Agent.
func WrapAppUserAgent(rt http.RoundTripper) http.RoundTripper {
	return appUserAgent{rt}
}

type appUserAgent struct{ next http.RoundTripper }

func (a appUserAgent) RoundTrip(req *http.Request) (*http.Response, error) {
	app, ok := req.Context().Value(appKey{}).(string)
	if !ok || app == "" {
		return a.next.RoundTrip(req)
	}
	req = req.Clone(req.Context()) // a RoundTripper must not change its request
	req.Header.Set("User-Agent", req.Header.Get("User-Agent")+" app="+app)
	return a.next.RoundTrip(req)
}
