package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	gosync "sync"
	"syscall"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/plumbhq/plumb/controller"
)

// countingProxy forwards plain HTTP on loopback to the API server (as the
// administrator) and counts requests by verb.
type countingProxy struct {
	url    string
	mu     gosync.Mutex
	counts map[string]int
}

func newCountingProxy(b *testing.B) *countingProxy {
	b.Helper()
	rt, err := rest.TransportFor(env.Config)
	if err != nil {
		b.Fatal(err)
	}
	p := &countingProxy{counts: map[string]int{}}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := &http.Server{Handler: apiProxy(b, rt, func(r *http.Request) {
		verb := controller.APIVerb(r)
		if r.URL.Query().Has("dryRun") {
			verb += " (dry-run)"
		}
		p.mu.Lock()
		p.counts[verb]++
		p.mu.Unlock()
		if os.Getenv("PLUMB_BENCH_TRACE") != "" {
			fmt.Fprintf(os.Stderr, "proxy: %s %s\n", verb, r.URL.RequestURI())
		}
	})}
	go srv.Serve(l)
	b.Cleanup(func() { srv.Close() })
	p.url = "http://" + l.Addr().String()
	return p
}

// apiProxy forwards every request to the test's API server through rt,
// once observe has seen it; watches stream.
func apiProxy(tb testing.TB, rt http.RoundTripper, observe func(*http.Request)) http.Handler {
	tb.Helper()
	target, err := url.Parse(env.Config.Host)
	if err != nil {
		tb.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(target)
	rp.Transport = rt
	rp.FlushInterval = -1
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		observe(r)
		rp.ServeHTTP(w, r)
	})
}

// take returns the counts since the last take and resets them.
func (p *countingProxy) take() map[string]int {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := p.counts
	p.counts = map[string]int{}
	return out
}

func (p *countingProxy) kubeconfig(b *testing.B) string {
	return writeKubeconfig(b, &rest.Config{Host: p.url})
}

// workload writes n objects (a Namespace, then ConfigMaps, Deployments with
// no replicas and Services in equal parts) into dir, one file per kind.
func workload(b *testing.B, dir, ns string, n int, version string) {
	b.Helper()
	per := (n - 1) / 3
	var cms, deps, svcs strings.Builder
	for i := range per {
		fmt.Fprintf(&cms, "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-%05d\n  namespace: %s\ndata:\n  version: %q\n", i, ns, version)
		fmt.Fprintf(&deps, "---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: app-%05d\n  namespace: %s\nspec:\n  replicas: 0\n  selector:\n    matchLabels: {app: app-%05d}\n  template:\n    metadata:\n      labels: {app: app-%05d}\n    spec:\n      containers:\n      - name: app\n        image: registry.k8s.io/pause:3.10\n", i, ns, i, i)
		fmt.Fprintf(&svcs, "---\napiVersion: v1\nkind: Service\nmetadata:\n  name: svc-%05d\n  namespace: %s\nspec:\n  selector: {app: app-%05d}\n  ports:\n  - port: 80\n", i, ns, i)
	}
	files := map[string]string{
		"namespace.yaml":   fmt.Sprintf("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: %s\n", ns),
		"configmaps.yaml":  cms.String(),
		"deployments.yaml": deps.String(),
		"services.yaml":    svcs.String(),
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.Fatal(err)
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			b.Fatal(err)
		}
	}
}

// changeOne rewrites the first ConfigMap's data.
func changeOne(b *testing.B, dir, version string) {
	b.Helper()
	p := filepath.Join(dir, "configmaps.yaml")
	data, err := os.ReadFile(p)
	if err != nil {
		b.Fatal(err)
	}
	s := string(data)
	i := strings.Index(s, "version: ")
	j := strings.Index(s[i:], "\n")
	s = s[:i] + fmt.Sprintf("version: %q", version) + s[i+j:]
	if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
		b.Fatal(err)
	}
}

// runProcess runs a command to completion and returns its wall time and
// peak RSS in MiB.
func runProcess(b *testing.B, env []string, name string, args ...string) (time.Duration, float64, string) {
	b.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), env...)
	start := time.Now()
	out, err := cmd.CombinedOutput()
	took := time.Since(start)
	if err != nil {
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 { // diff's "changes found"
			b.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, lastLines(string(out), 20))
		}
	}
	rss := 0.0
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		rss = float64(ru.Maxrss) / 1024
	}
	return took, rss, string(out)
}

// plumbProcess runs plumb (this test binary standing in for it).
func plumbProcess(b *testing.B, args ...string) (time.Duration, float64, string) {
	b.Helper()
	bin, environ, argv := plumbCommand(args)
	return runProcess(b, environ, bin, argv...)
}

// report records one measurement: wall time in ms, requests by verb, RSS.
func report(b *testing.B, took time.Duration, rss float64, counts map[string]int) {
	b.ReportMetric(float64(took.Microseconds())/1000, "ms")
	total := 0
	for verb, n := range counts {
		total += n
		b.ReportMetric(float64(n), strings.ReplaceAll(verb, " (dry-run)", "-dryrun")+"-req")
	}
	b.ReportMetric(float64(total), "requests")
	if rss > 0 {
		b.ReportMetric(rss, "rss-MiB")
	}
	verbs := make([]string, 0, len(counts))
	for v, n := range counts {
		verbs = append(verbs, fmt.Sprintf("%s %d", v, n))
	}
	sort.Strings(verbs)
	b.Logf("%s: %s, %d requests (%s), peak RSS %.0f MiB", b.Name(), took.Round(time.Millisecond), total, strings.Join(verbs, ", "), rss)
	recordBench(b, benchRecord{Name: b.Name(), Ms: float64(took.Microseconds()) / 1000, Requests: total, ByVerb: counts, RSSMiB: rss})
}

// benchRecord is one measurement, appended as a JSON line to the file
// PLUMB_BENCH_OUT names, for hack/benchdoc to turn into docs/benchmarks.md.
type benchRecord struct {
	Name     string         `json:"name"`
	Ms       float64        `json:"ms"`
	Requests int            `json:"requests"`
	ByVerb   map[string]int `json:"byVerb,omitempty"`
	RSSMiB   float64        `json:"rssMiB,omitempty"`
	PeakMiB  float64        `json:"peakMiB,omitempty"`
	// AnonMiB and FileMiB split RSSMiB: the heap and stacks, and the pages
	// of the binary itself.
	AnonMiB float64 `json:"anonMiB,omitempty"`
	FileMiB float64 `json:"fileMiB,omitempty"`
}

func recordBench(b *testing.B, r benchRecord) {
	file := os.Getenv("PLUMB_BENCH_OUT")
	if file == "" {
		return
	}
	r.Name = strings.TrimPrefix(r.Name, "Benchmark")
	line, err := json.Marshal(r)
	if err != nil {
		b.Fatal(err)
	}
	f, err := os.OpenFile(file, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(append(line, '\n')); err != nil {
		b.Fatal(err)
	}
}

func benchSizes(b *testing.B) []int {
	raw := os.Getenv("PLUMB_BENCH_SIZES")
	if raw == "" {
		raw = "100,1501,10000"
	}
	var out []int
	for _, f := range strings.Split(raw, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 4 {
			b.Fatalf("PLUMB_BENCH_SIZES: %q", raw)
		}
		out = append(out, n)
	}
	return out
}

// settle waits until the cluster is at rest: the controller manager has
// caught up with every Deployment, no namespace is still being deleted, and
// the API server served fewer than 20 requests in the last second.
// Each measurement starts from rest, so that it does not share the two
// cores with the rollout of the step before or the clean-up of the size
// before (the test control plane's controller manager runs at 500 QPS).
func settle(b *testing.B) {
	b.Helper()
	cs := kubernetes.NewForConfigOrDie(env.Config)
	ctx := context.Background()
	busy := func() string {
		nss, err := cs.CoreV1().Namespaces().List(ctx, metav1.ListOptions{})
		if err != nil {
			return err.Error()
		}
		for _, ns := range nss.Items {
			if ns.Status.Phase == "Terminating" {
				return "namespace " + ns.Name + " is being deleted"
			}
		}
		deps, err := cs.AppsV1().Deployments("").List(ctx, metav1.ListOptions{})
		if err != nil {
			return err.Error()
		}
		for _, d := range deps.Items {
			if d.Status.ObservedGeneration < d.Generation {
				return fmt.Sprintf("Deployment %s/%s not observed yet", d.Namespace, d.Name)
			}
		}
		return ""
	}
	// The controller manager's garbage collector and replica set controller
	// go on working after the Deployments are observed; the API server's
	// own request counter shows when everyone has stopped.
	requests := func() float64 {
		raw, err := cs.CoreV1().RESTClient().Get().AbsPath("/metrics").DoRaw(ctx)
		if err != nil {
			return -1
		}
		sum := 0.0
		for _, line := range strings.Split(string(raw), "\n") {
			if strings.HasPrefix(line, "apiserver_request_total{") {
				if v, err := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64); err == nil {
					sum += v
				}
			}
		}
		return sum
	}
	const quiet = 20 // requests a second, the looks here included
	deadline := time.Now().Add(15 * time.Minute)
	last := requests()
	for {
		why := busy()
		time.Sleep(time.Second)
		now := requests()
		if why == "" && now-last > quiet {
			why = fmt.Sprintf("%.0f API requests in the last second", now-last)
		}
		if why == "" {
			return
		}
		if time.Now().After(deadline) {
			b.Fatalf("the cluster is not at rest after 15 minutes: %s", why)
		}
		last = now
	}
}
