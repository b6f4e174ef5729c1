package main

import (
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/plumbhq/plumb/internal/gittest"
	"github.com/plumbhq/plumb/internal/testreport"
)

// Acceptance (S) 4: a token planted in repository URLs, as user name, as
// password and in the query, appears in no output of plumb serve: its log
// at -v 2, the Apps' status, Events, metrics and the API. The API, on a
// listener that is not loopback, answers only a client the cluster
// authenticates.
func TestLeakURLCredentialsFromServe(t *testing.T) {
	s := newServeEnv(t, "leak-url", gittest.Options{})
	planted := []string{"tokuser4f1", "tokpass5e2", "tokquery6d3"}
	u, err := url.Parse(s.repo.URL)
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.UserPassword(planted[0], planted[1])
	withUser := u.String()
	u.RawQuery = "token=" + planted[2]
	withQuery := u.String()
	apps := s.exampleApps(withUser, nil)[:1] // plain, through a URL with user and password
	q := s.exampleApps(withQuery, nil)[0]
	q.Name = "query"
	s.createApps(append(apps, q))

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	listen := net.JoinHostPort("0.0.0.0", strconv.Itoa(port))
	d := startServeOn(t, listen, net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), "--watch-namespace", s.ns, "-v", "2")
	s.waitReady(60*time.Second, "plain")
	eventually(t, 30*time.Second, "the query App reports its outcome", func() (bool, string) {
		a := s.app("query")
		return len(a.Status.Conditions) > 0, describe(a)
	})

	api := func(token string) (int, string) {
		req, _ := http.NewRequest(http.MethodGet, d.url+"/api/v1/apps", nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, _ := api(""); code != http.StatusUnauthorized {
		t.Errorf("GET /api/v1/apps without a token on %s: %d, want 401", listen, code)
	}
	if code, _ := api("not-a-token"); code != http.StatusUnauthorized {
		t.Errorf("GET /api/v1/apps with a bad token: %d, want 401", code)
	}
	sa, err := env.ServiceAccountConfig(s.ctx, s.ns, "default")
	if err != nil {
		t.Fatal(err)
	}
	code, body := api(sa.BearerToken)
	if code != http.StatusOK || !strings.Contains(body, `"name": "plain"`) {
		t.Errorf("GET /api/v1/apps with a ServiceAccount token: %d\n%s", code, body)
	}
	outputs := map[string]string{
		"plumb serve log (-v 2)": d.proc.Log(),
		"App status":             s.kubectl("get", "apps.plumb.dev", "-o", "jsonpath={.items[*].status}"),
		"Events":                 s.kubectl("get", "events", "-o", "yaml"),
		"GET /api/v1/apps":       body,
	}
	_, outputs["/metrics"] = d.get("/metrics")
	for name, text := range outputs {
		rec := &testreport.Entry{Kind: testreport.Leak, Name: "serve: repository URL credentials in " + name, OK: true}
		testreport.Record(t, rec)
		for _, p := range planted {
			if strings.Contains(text, p) {
				rec.Leaks++
				t.Errorf("%s: a planted credential leaked (%q)", name, p)
			}
		}
	}
	t.Logf("query App: %s", describe(s.app("query")))
}
