package main

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/dynamic"
	"sigs.k8s.io/yaml"

	"github.com/plumbhq/plumb/api/v1alpha1"
	"github.com/plumbhq/plumb/controller"
	"github.com/plumbhq/plumb/internal/gittest"
	"github.com/plumbhq/plumb/internal/testenv"
)

// serveEnv is one controller test: a namespace, a Git server and a
// repository holding examples/apps.
type serveEnv struct {
	*e2e
	srv  *gittest.Server
	repo *gittest.Repo
	dyn  dynamic.Interface
	head string
}

func newServeEnv(t *testing.T, name string, opts gittest.Options) *serveEnv {
	t.Helper()
	e := newE2E(t, name)
	e.kubectl("apply", "--server-side", "-f", filepath.Join(repoRootDir(t), "examples", "install", "plumb.dev_apps.yaml"))
	e.kubectl("wait", "--for=condition=Established", "crd/apps.plumb.dev", "--timeout=60s")
	return withGit(e, opts)
}

// withGit gives e a Git server (opts) holding the example repository.
func withGit(e *e2e, opts gittest.Options) *serveEnv {
	e.t.Helper()
	srv, err := gittest.NewServer(opts)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { srv.Close() })
	repo, head := exampleRepo(e.t, srv, "apps")
	return &serveEnv{e2e: e, srv: srv, repo: repo, dyn: dynamic.NewForConfigOrDie(env.Config), head: head}
}

// exampleRepo creates the repository name on srv holding examples/apps.
func exampleRepo(t testing.TB, srv *gittest.Server, name string) (*gittest.Repo, string) {
	t.Helper()
	repo, err := srv.CreateRepo(name)
	if err != nil {
		t.Fatal(err)
	}
	head, err := repo.CommitDir("main", filepath.Join(repoRootDir(t), "examples", "apps"), "the example apps")
	if err != nil {
		t.Fatal(err)
	}
	return repo, head
}

// commit changes files on main and returns the new head.
func (s *serveEnv) commit(files map[string]string, msg string) string {
	s.t.Helper()
	head, err := s.repo.Update("main", gittest.Files(files), nil, msg)
	if err != nil {
		s.t.Fatal(err)
	}
	s.head = head
	return head
}

// exampleApps are the three example apps of one repository.
func (s *serveEnv) exampleApps(url string, mutate func(*v1alpha1.App)) []v1alpha1.App {
	mk := func(name, path string) v1alpha1.App {
		a := v1alpha1.App{
			TypeMeta:   metav1.TypeMeta{APIVersion: v1alpha1.APIVersion, Kind: v1alpha1.Kind},
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: s.ns},
			Spec: v1alpha1.AppSpec{
				Source:     v1alpha1.Source{RepoURL: url, Ref: "main", Path: path},
				SyncPolicy: v1alpha1.SyncPolicy{Prune: true, Interval: &metav1.Duration{Duration: 2 * time.Second}},
			},
		}
		if mutate != nil {
			mutate(&a)
		}
		return a
	}
	return []v1alpha1.App{mk("plain", "plain"), mk("kustomize", "kustomize/overlays/production"), mk("helm", "helm")}
}

func appsYAML(t *testing.T, apps []v1alpha1.App) []byte {
	t.Helper()
	var buf bytes.Buffer
	for _, a := range apps {
		b, err := yaml.Marshal(a)
		if err != nil {
			t.Fatal(err)
		}
		buf.WriteString("---\n")
		buf.Write(b)
	}
	return buf.Bytes()
}

// createApps creates App resources.
func (s *serveEnv) createApps(apps []v1alpha1.App) {
	s.t.Helper()
	file := filepath.Join(s.t.TempDir(), "apps.yaml")
	if err := os.WriteFile(file, appsYAML(s.t, apps), 0o600); err != nil {
		s.t.Fatal(err)
	}
	s.kubectl("apply", "--server-side", "-f", file)
}

// app reads an App resource.
func (s *serveEnv) app(name string) v1alpha1.App {
	s.t.Helper()
	u, err := s.dyn.Resource(controller.AppsResource).Namespace(s.ns).Get(s.ctx, name, metav1.GetOptions{})
	if err != nil {
		s.t.Fatal(err)
	}
	var a v1alpha1.App
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, &a); err != nil {
		s.t.Fatal(err)
	}
	return a
}

// ready reports whether an App is Synced, Healthy and Ready at head.
func ready(a v1alpha1.App, head string) bool {
	c := meta.FindStatusCondition(a.Status.Conditions, controller.ConditionReady)
	return c != nil && c.Status == metav1.ConditionTrue && a.Status.SyncStatus == controller.Synced &&
		a.Status.Health == "Healthy" && a.Status.LastAppliedRevision == "main@sha1:"+head &&
		a.Status.ObservedGeneration == a.Generation
}

func describe(a v1alpha1.App) string {
	var conds []string
	for _, c := range a.Status.Conditions {
		conds = append(conds, fmt.Sprintf("%s=%s/%s: %s", c.Type, c.Status, c.Reason, c.Message))
	}
	return fmt.Sprintf("%s: sync %s, health %s, applied %q, attempted %q; %s", a.Name, a.Status.SyncStatus, a.Status.Health,
		a.Status.LastAppliedRevision, a.Status.LastAttemptedRevision, strings.Join(conds, "; "))
}

// eventually polls cond until it holds or timeout passes; cond describes
// the state it saw, for the failure message.
func eventually(t testing.TB, timeout time.Duration, what string, cond func() (bool, string)) time.Duration {
	t.Helper()
	start := time.Now()
	last := ""
	for time.Since(start) < timeout {
		ok, desc := cond()
		if ok {
			return time.Since(start)
		}
		last = desc
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s: not within %s; last seen: %s", what, timeout, last)
	return 0
}

// waitReady waits until every named App is Ready at head.
func (s *serveEnv) waitReady(timeout time.Duration, names ...string) time.Duration {
	s.t.Helper()
	return eventually(s.t, timeout, "Apps Synced and Healthy at "+s.head[:8], func() (bool, string) {
		var desc []string
		ok := true
		for _, n := range names {
			a := s.app(n)
			if !ready(a, s.head) {
				ok = false
				desc = append(desc, describe(a))
			}
		}
		return ok, strings.Join(desc, " | ")
	})
}

// liveVersions maps each object the namespace's Apps manage, and their
// inventories, to its resourceVersion.
func (s *serveEnv) liveVersions() map[string]string {
	s.t.Helper()
	out := map[string]string{}
	for _, kind := range []string{"deployments.apps", "services", "configmaps"} {
		list := s.kubectl("get", kind, "-o", `jsonpath={range .items[*]}{.kind}/{.metadata.name}={.metadata.resourceVersion}{"\n"}{end}`)
		for _, line := range strings.Fields(list) {
			k, v, _ := strings.Cut(line, "=")
			if k != "ConfigMap/kube-root-ca.crt" {
				out[k] = v
			}
		}
	}
	return out
}

// plumbd is one `plumb serve` process.
type plumbd struct {
	t    testing.TB
	proc *testenv.Process
	url  string
}

var serveSeq atomic.Int64

// startServe runs `plumb serve` with args; it is stopped when the test ends.
func startServe(t testing.TB, args ...string) *plumbd {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return startServeOn(t, addr, addr, args...)
}

// startServeOn is startServe listening on listen, reached at addr.
func startServeOn(t testing.TB, listen, addr string, args ...string) *plumbd {
	t.Helper()
	full := append([]string{"--kubeconfig", env.Kubeconfig, "serve", "--listen", listen, "--cache-dir", t.TempDir(), "--drift-interval", "1s", "--git-allow-http"}, args...)
	name := fmt.Sprintf("plumb-serve-%d", serveSeq.Add(1))
	bin, environ, argv := plumbCommand(full)
	proc, err := env.StartProcess(name, environ, bin, argv...)
	if err != nil {
		t.Fatal(err)
	}
	d := &plumbd{t: t, proc: proc, url: "http://" + addr}
	t.Cleanup(func() {
		proc.Stop()
		if t.Failed() {
			t.Logf("%s log:\n%s", name, lastLines(proc.Log(), 60))
		}
	})
	eventually(t, 30*time.Second, name+" answers /healthz", func() (bool, string) {
		if done, err := proc.Exited(); done {
			t.Fatalf("%s exited: %v\n%s", name, err, proc.Log())
		}
		code, body := d.get("/healthz")
		return code == http.StatusOK, fmt.Sprintf("%d %s", code, body)
	})
	return d
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func (d *plumbd) get(path string) (int, string) {
	resp, err := http.Get(d.url + path)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func (d *plumbd) post(path string, header http.Header, body []byte) int {
	d.t.Helper()
	req, err := http.NewRequest(http.MethodPost, d.url+path, bytes.NewReader(body))
	if err != nil {
		d.t.Fatal(err)
	}
	req.Header = header
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		d.t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// histogram returns the sum and count of a histogram's samples whose labels
// include every k="v" given.
func (d *plumbd) histogram(name string, labels ...string) (sum, count float64) {
	body := d.scrape() // one scrape: a pass may end between two
	return sumSamples(body, name+"_sum", labels), sumSamples(body, name+"_count", labels)
}

// memMiB reads a memory figure of the process (VmRSS, VmHWM) in MiB.
func (d *plumbd) memMiB(field string) float64 {
	return float64(procMemKiB(d.t, d.proc.Pid(), field)) / 1024
}

// metric sums the samples of name whose labels include every k="v" given.
func (d *plumbd) metric(name string, labels ...string) float64 {
	d.t.Helper()
	return sumSamples(d.scrape(), name, labels)
}

// scrape returns /metrics.
func (d *plumbd) scrape() string {
	d.t.Helper()
	code, body := d.get("/metrics")
	if code != http.StatusOK {
		d.t.Fatalf("/metrics: %d %s", code, body)
	}
	return body
}

// sumSamples sums the samples of name in a scrape whose labels include
// every k="v" given.
func sumSamples(body, name string, labels []string) float64 {
	sum := 0.0
	for _, line := range strings.Split(body, "\n") {
		if !strings.HasPrefix(line, name+"{") && !strings.HasPrefix(line, name+" ") {
			continue
		}
		series, value, _ := strings.Cut(line, " ")
		match := true
		for _, l := range labels {
			match = match && strings.Contains(series, l)
		}
		if v, err := strconv.ParseFloat(strings.TrimSpace(value), 64); match && err == nil {
			sum += v
		}
	}
	return sum
}

func rendersOf(d *plumbd, ns string, names ...string) map[string]float64 {
	out := map[string]float64{}
	for _, n := range names {
		out[n] = d.metric("plumb_renders_total", fmt.Sprintf(`app="%s/%s"`, ns, n))
	}
	return out
}

func readExample(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRootDir(t), "examples", "apps", path))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
