// Package chartstest serves Helm charts the way the real world does, for
// tests: a Helm chart repository (index.yaml and archives over HTTPS, with
// ETags and optional basic auth) and an OCI registry in-process
// (go-containerregistry's) that Helm's own registry client pushes to.
// Charts are packaged with the Helm SDK, as helm package does.
package chartstest

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	gosync "sync"
	"sync/atomic"
	"testing"

	ggcr "github.com/google/go-containerregistry/pkg/registry"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/registry"
	"helm.sh/helm/v3/pkg/repo"
	"sigs.k8s.io/yaml"

	"github.com/plumbhq/plumb/charts"
)

// Package builds a chart archive as helm package does (the Helm SDK's
// chartutil.Save) from files relative to the chart's directory.
func Package(t testing.TB, name, version string, files map[string]string) []byte {
	t.Helper()
	bf := []*loader.BufferedFile{{Name: "Chart.yaml", Data: []byte("apiVersion: v2\nname: " + name + "\nversion: " + version + "\n")}}
	if _, ok := files["templates/cm.yaml"]; !ok && files["Chart.yaml"] == "" {
		bf = append(bf, &loader.BufferedFile{Name: "templates/cm.yaml", Data: []byte("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: " + name + "}\ndata: {version: \"" + version + "\"}\n")})
	}
	for n, d := range files {
		if n == "Chart.yaml" {
			bf[0].Data = []byte(d)
			continue
		}
		bf = append(bf, &loader.BufferedFile{Name: n, Data: []byte(d)})
	}
	c, err := loader.LoadFiles(bf)
	if err != nil {
		t.Fatal(err)
	}
	return save(t, c)
}

// HelmRepo is a Helm chart repository over HTTPS: index.yaml (with an ETag,
// answering If-None-Match with 304) and the archives under /charts/.
type HelmRepo struct {
	Server *httptest.Server
	// User and Password turn on basic auth.
	User, Password string
	// Requests counts every request; NotModified the 304 answers.
	Requests, NotModified atomic.Int64
	// WrongDigest, if set, is the digest the index lists for what is
	// published after it is set.
	WrongDigest string
	mu          gosync.Mutex
	index       *repo.IndexFile
	archives    map[string][]byte
}

func NewHelmRepo(t testing.TB) *HelmRepo {
	r := &HelmRepo{index: repo.NewIndexFile(), archives: map[string][]byte{}}
	r.Server = httptest.NewTLSServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.Server.Close)
	return r
}

// publish adds a packaged chart to the repository.
func (r *HelmRepo) Publish(t testing.TB, data []byte) {
	t.Helper()
	c, err := loader.LoadArchive(strings.NewReader(string(data)))
	if err != nil {
		t.Fatal(err)
	}
	file := fmt.Sprintf("%s-%s.tgz", c.Metadata.Name, c.Metadata.Version)
	sum := sha256.Sum256(data)
	digest := hex.EncodeToString(sum[:])
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.WrongDigest != "" {
		digest = r.WrongDigest
	}
	if err := r.index.MustAdd(c.Metadata, file, r.Server.URL+"/charts", digest); err != nil {
		t.Fatal(err)
	}
	r.index.SortEntries()
	r.archives["/charts/"+file] = data
}

func (r *HelmRepo) serve(w http.ResponseWriter, req *http.Request) {
	r.Requests.Add(1)
	if !basicAuth(w, req, r.User, r.Password, "charts") {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if req.URL.Path == "/index.yaml" {
		body, err := yaml.Marshal(r.index)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		sum := sha256.Sum256(body)
		etag := `"` + hex.EncodeToString(sum[:8]) + `"`
		if req.Header.Get("If-None-Match") == etag {
			r.NotModified.Add(1)
			w.WriteHeader(http.StatusNotModified)
			return
		}
		w.Header().Set("ETag", etag)
		_, _ = w.Write(body)
		return
	}
	if data, ok := r.archives[req.URL.Path]; ok {
		_, _ = w.Write(data)
		return
	}
	http.NotFound(w, req)
}

// CAPEM is the PEM of a test server's certificate, for Options.CABundle.
func CAPEM(srv *httptest.Server) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
}

// OCIRegistry is an OCI registry in-process (go-containerregistry's), over
// HTTPS, optionally behind basic auth; charts are pushed to it with Helm's
// own registry client.
type OCIRegistry struct {
	Server *httptest.Server
	// User and Password turn on basic auth.
	User, Password string
	// Requests counts every request.
	Requests atomic.Int64
}

func NewOCIRegistry(t testing.TB, user, pass string) *OCIRegistry {
	o := &OCIRegistry{User: user, Password: pass}
	h := ggcr.New(ggcr.Logger(log.New(io.Discard, "", 0)))
	o.Server = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		o.Requests.Add(1)
		if !basicAuth(w, req, o.User, o.Password, "registry") {
			return
		}
		h.ServeHTTP(w, req)
	}))
	t.Cleanup(o.Server.Close)
	return o
}

// host is the registry's host:port.
func (o *OCIRegistry) Host() string { return strings.TrimPrefix(o.Server.URL, "https://") }

// push stores a packaged chart at oci://host/charts/<name>:<version>.
func (o *OCIRegistry) Push(t testing.TB, data []byte) {
	t.Helper()
	c, err := loader.LoadArchive(strings.NewReader(string(data)))
	if err != nil {
		t.Fatal(err)
	}
	opts := []registry.ClientOption{registry.ClientOptHTTPClient(o.Server.Client()), registry.ClientOptWriter(&strings.Builder{})}
	if o.User != "" {
		opts = append(opts, registry.ClientOptBasicAuth(o.User, o.Password))
	}
	client, err := registry.NewClient(opts...)
	if err != nil {
		t.Fatal(err)
	}
	ref := fmt.Sprintf("%s/charts/%s:%s", o.Host(), c.Metadata.Name, c.Metadata.Version)
	if _, err := client.Push(data, ref, registry.PushOptStrictMode(true)); err != nil {
		t.Fatalf("helm push %s: %v", ref, err)
	}
}

// Mirror serves other's index (whose archive URLs point at other's host).
func (r *HelmRepo) Mirror(other *HelmRepo) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.index = other.index
}

// PackageDir packages the chart in dir as helm package does.
func PackageDir(t testing.TB, dir string) []byte {
	t.Helper()
	c, err := loader.LoadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	return save(t, c)
}

// save writes c's archive as helm package does and returns it.
func save(t testing.TB, c *chart.Chart) []byte {
	t.Helper()
	p, err := chartutil.Save(c, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// NewFetcher is a chart fetcher with its own cache that trusts the test
// servers' certificate (every httptest TLS server shares one).
func NewFetcher(t testing.TB, srv *httptest.Server) *charts.Fetcher {
	t.Helper()
	cache, err := charts.NewCache(t.TempDir(), 0)
	if err != nil {
		t.Fatal(err)
	}
	f, err := charts.NewFetcher(cache, charts.Options{CABundle: CAPEM(srv)})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// basicAuth answers 401 unless req carries user and pass (when user is set).
func basicAuth(w http.ResponseWriter, req *http.Request, user, pass, realm string) bool {
	if user == "" {
		return true
	}
	if u, p, ok := req.BasicAuth(); ok && u == user && p == pass {
		return true
	}
	w.Header().Set("WWW-Authenticate", `Basic realm="`+realm+`"`)
	http.Error(w, "unauthorized", http.StatusUnauthorized)
	return false
}
