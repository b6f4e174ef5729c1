package charts_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/plumbhq/plumb/charts"

	"github.com/google/go-cmp/cmp"

	"github.com/plumbhq/plumb/internal/chartstest"
)

func newFetcher(t *testing.T, opts charts.Options) *charts.Fetcher {
	t.Helper()
	cache, err := charts.NewCache(t.TempDir(), 0)
	if err != nil {
		t.Fatal(err)
	}
	f, err := charts.NewFetcher(cache, opts)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestHelmRepository(t *testing.T) {
	ctx := context.Background()
	r := chartstest.NewHelmRepo(t)
	v100, v120, v200 := chartstest.Package(t, "web", "1.0.0", nil), chartstest.Package(t, "web", "1.2.0", nil), chartstest.Package(t, "web", "2.0.0", nil)
	for _, c := range [][]byte{v100, v120, v200} {
		r.Publish(t, c)
	}
	f := newFetcher(t, charts.Options{CABundle: chartstest.CAPEM(r.Server)})

	tests := []struct {
		name, version, want string
		archive             []byte
	}{
		{"an exact version", "1.0.0", "1.0.0", v100},
		{"a range takes the highest match", "^1.0.0", "1.2.0", v120},
		{"no version is the newest", "", "2.0.0", v200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, data, err := f.Get(ctx, charts.Ref{RepoURL: r.Server.URL, Name: "web", Version: tt.version}, nil)
			if err != nil {
				t.Fatal(err)
			}
			if got.Version != tt.want || got.Digest != charts.DigestOf(tt.archive) || string(data) != string(tt.archive) {
				t.Errorf("got %s@%s %s, want %s %s", got.Ref.Name, got.Version, got.Digest, tt.want, charts.DigestOf(tt.archive))
			}
		})
	}

	before := r.Requests.Load()
	if _, _, err := f.Get(ctx, charts.Ref{RepoURL: r.Server.URL, Name: "web", Version: "1.0.0"}, nil); err != nil {
		t.Fatal(err)
	}
	if n := r.Requests.Load() - before; n != 0 {
		t.Errorf("a pinned version fetched again made %d requests, want none", n)
	}
	notMod := r.NotModified.Load()
	if _, err := f.Resolve(ctx, charts.Ref{RepoURL: r.Server.URL, Name: "web", Version: "^1.0.0"}, nil); err != nil {
		t.Fatal(err)
	}
	if r.NotModified.Load() != notMod+1 {
		t.Error("an unchanged index was not answered 304 to the cached ETag")
	}
	r.Publish(t, chartstest.Package(t, "web", "1.3.0", nil))
	if got, err := f.Resolve(ctx, charts.Ref{RepoURL: r.Server.URL, Name: "web", Version: "^1.0.0"}, nil); err != nil || got.Version != "1.3.0" {
		t.Errorf("after publishing 1.3.0 the range resolved to %+v, %v", got, err)
	}
	_, err := f.Resolve(ctx, charts.Ref{RepoURL: r.Server.URL, Name: "web", Version: "9.9.9"}, nil)
	if !errors.Is(err, charts.ErrNotFound) || !strings.Contains(err.Error(), `chart "web" version "9.9.9" not found`) {
		t.Errorf("missing version: %v", err)
	}
}

func TestRefusals(t *testing.T) {
	ctx := context.Background()
	r := chartstest.NewHelmRepo(t)
	r.User, r.Password = "robot", "s3cret-repo-password"
	data := chartstest.Package(t, "web", "1.0.0", nil)
	r.Publish(t, data)
	other := chartstest.NewHelmRepo(t)
	other.Mirror(r) // lists archives on r's host
	wrong := chartstest.NewHelmRepo(t)
	wrong.WrongDigest = strings.Repeat("ab", 32)
	wrong.Publish(t, data)
	cred := &charts.Credentials{Username: "robot", Password: "s3cret-repo-password"}
	tests := []struct {
		name string
		opts charts.Options
		ref  charts.Ref
		cred *charts.Credentials
		want string
	}{
		{"no credentials", charts.Options{CABundle: chartstest.CAPEM(r.Server)}, charts.Ref{RepoURL: r.Server.URL, Name: "web", Version: "1.0.0"}, nil, "401 Unauthorized"},
		{"wrong password", charts.Options{CABundle: chartstest.CAPEM(r.Server)}, charts.Ref{RepoURL: r.Server.URL, Name: "web", Version: "1.0.0"}, &charts.Credentials{Username: "robot", Password: "nope"}, "401 Unauthorized"},
		{"an untrusted certificate", charts.Options{}, charts.Ref{RepoURL: r.Server.URL, Name: "web", Version: "1.0.0"}, cred, "certificate"},
		{"http without the option", charts.Options{}, charts.Ref{RepoURL: "http://127.0.0.1:1", Name: "web", Version: "1.0.0"}, nil, "http is not allowed"},
		{"another scheme", charts.Options{}, charts.Ref{RepoURL: "file:///etc", Name: "web", Version: "1.0.0"}, nil, `scheme "file"`},
		{"an archive on another host", charts.Options{CABundle: chartstest.CAPEM(other.Server)}, charts.Ref{RepoURL: other.Server.URL, Name: "web", Version: "1.0.0"}, nil, "on another host"},
		{"a digest that does not match", charts.Options{CABundle: chartstest.CAPEM(wrong.Server)}, charts.Ref{RepoURL: wrong.Server.URL, Name: "web", Version: "1.0.0"}, nil, "the archive's digest is"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := newFetcher(t, tt.opts).Get(ctx, tt.ref, tt.cred)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to say %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "s3cret") {
				t.Errorf("the error shows the password: %v", err)
			}
		})
	}
	got, _, err := newFetcher(t, charts.Options{CABundle: chartstest.CAPEM(r.Server)}).Get(ctx, charts.Ref{RepoURL: r.Server.URL, Name: "web", Version: "1.0.0"}, cred)
	if err != nil || got.Digest != charts.DigestOf(data) {
		t.Errorf("with credentials: %+v, %v", got, err)
	}
}

func TestOCIRegistry(t *testing.T) {
	ctx := context.Background()
	for _, auth := range []bool{false, true} {
		t.Run(map[bool]string{false: "anonymous", true: "basic auth"}[auth], func(t *testing.T) {
			user, pass := "", ""
			if auth {
				user, pass = "robot", "s3cret-registry-password"
			}
			o := chartstest.NewOCIRegistry(t, user, pass)
			pushed := map[string][]byte{}
			for _, v := range []string{"1.0.0", "1.4.0", "2.0.0"} {
				pushed[v] = chartstest.Package(t, "db", v, nil)
				o.Push(t, pushed[v])
			}
			f := newFetcher(t, charts.Options{CABundle: chartstest.CAPEM(o.Server)})
			var cred *charts.Credentials
			if auth {
				cred = &charts.Credentials{Username: user, Password: pass}
				if _, err := f.Resolve(ctx, charts.Ref{RepoURL: "oci://" + o.Host() + "/charts", Name: "db", Version: "1.0.0"}, nil); err == nil {
					t.Error("resolved without credentials")
				}
			}
			got := map[string]string{}
			for _, v := range []string{"1.0.0", "~1.0.0 || ^1.2.0", "*"} {
				r, data, err := f.Get(ctx, charts.Ref{RepoURL: "oci://" + o.Host() + "/charts", Name: "db", Version: v}, cred)
				if err != nil {
					t.Fatalf("%s: %v", v, err)
				}
				if string(data) != string(pushed[r.Version]) || r.Digest != charts.DigestOf(data) {
					t.Errorf("%s: the archive of %s differs from what was pushed", v, r.Version)
				}
				got[v] = r.Version
			}
			if d := cmp.Diff(map[string]string{"1.0.0": "1.0.0", "~1.0.0 || ^1.2.0": "1.4.0", "*": "2.0.0"}, got); d != "" {
				t.Errorf("resolved versions (-want +got):\n%s", d)
			}
		})
	}
}
