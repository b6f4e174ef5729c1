package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
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
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/plumbhq/plumb/controller"
	"github.com/plumbhq/plumb/git"
	"github.com/plumbhq/plumb/internal/gittest"
	"github.com/plumbhq/plumb/render"
)

// The cluster benchmarks (make bench): plumb, kubectl and a raw
// server-side apply loop on the same generated workload, against the real
// control plane, in one run. Every client goes through a counting proxy, so
// each result carries the API requests it made by verb; processes report
// their peak RSS. Sizes come from PLUMB_BENCH_SIZES (default "100,1501,10000").

// countingProxy forwards plain HTTP on loopback to the API server (as the
// administrator) and counts requests by verb.
type countingProxy struct {
	url    string
	mu     gosync.Mutex
	counts map[string]int
}

func newCountingProxy(b *testing.B) *countingProxy {
	b.Helper()
	target, err := url.Parse(env.Config.Host)
	if err != nil {
		b.Fatal(err)
	}
	rt, err := rest.TransportFor(env.Config)
	if err != nil {
		b.Fatal(err)
	}
	p := &countingProxy{counts: map[string]int{}}
	rp := httputil.NewSingleHostReverseProxy(target)
	rp.Transport = rt
	rp.FlushInterval = -1 // watches stream
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
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
		rp.ServeHTTP(w, r)
	})}
	go srv.Serve(l)
	b.Cleanup(func() { srv.Close() })
	p.url = "http://" + l.Addr().String()
	return p
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

// BenchmarkCluster: for each size, cold sync, no-op sync, one object
// changed and diff with nothing changed, for plumb, kubectl and the raw
// 16-worker server-side apply loop (the write floor).
func BenchmarkCluster(b *testing.B) {
	requireEnvB(b)
	proxy := newCountingProxy(b)
	kubeconfig := proxy.kubeconfig(b)
	for _, n := range benchSizes(b) {
		b.Run(fmt.Sprintf("N=%d", n), func(b *testing.B) {
			// plumb
			dir := filepath.Join(b.TempDir(), "plumb")
			ns := fmt.Sprintf("bench-plumb-%d", n)
			workload(b, dir, ns, n, "v1")
			scenarios(b, proxy, "plumb", dir, func(b *testing.B, verb string) (time.Duration, float64) {
				args := []string{"--kubeconfig", kubeconfig, verb, dir, "--app", ns, "--inventory-namespace", "default"}
				if verb == "sync" {
					args = append(args, "--prune")
				}
				took, rss, _ := plumbProcess(b, args...)
				return took, rss
			})

			// kubectl: client-bound here (one core at 100% for over ten minutes
			// per step at N = 10,000), so above PLUMB_BENCH_KUBECTL_MAX (default
			// 1501) it is left out of the run.
			if n > kubectlMax(b) {
				b.Logf("kubectl skipped at N=%d (PLUMB_BENCH_KUBECTL_MAX=%d)", n, kubectlMax(b))
			} else {
				benchKubectl(b, proxy, kubeconfig, n)
			}

			// the floor: parse once, then 16 workers of server-side apply
			fdir := filepath.Join(b.TempDir(), "floor")
			fns := fmt.Sprintf("bench-floor-%d", n)
			workload(b, fdir, fns, n, "v1")
			res, err := render.Render(context.Background(), render.Source{Root: fdir}, render.Options{})
			if err != nil {
				b.Fatal(err)
			}
			floor := func(b *testing.B) {
				settle(b)
				proxy.take()
				took := rawApply(b, proxy.url, res.Objects)
				report(b, took, 0, proxy.take())
			}
			b.Run("floor/cold", oneShot(floor))
			b.Run("floor/noop", oneShot(floor))
			for _, ns := range []string{ns, fmt.Sprintf("bench-kubectl-%d", n), fns} {
				_ = kubernetes.NewForConfigOrDie(env.Config).CoreV1().Namespaces().Delete(context.Background(), ns, metav1.DeleteOptions{})
			}
		})
	}
}

func kubectlMax(b *testing.B) int {
	if v := os.Getenv("PLUMB_BENCH_KUBECTL_MAX"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			b.Fatalf("PLUMB_BENCH_KUBECTL_MAX: %q", v)
		}
		return n
	}
	return 1501
}

// benchKubectl measures kubectl on the same workload.
func benchKubectl(b *testing.B, proxy *countingProxy, kubeconfig string, n int) {
	kdir := filepath.Join(b.TempDir(), "kubectl")
	kns := fmt.Sprintf("bench-kubectl-%d", n)
	workload(b, kdir, kns, n, "v1")
	scenarios(b, proxy, "kubectl", kdir, func(b *testing.B, verb string) (time.Duration, float64) {
		if verb == "sync" {
			verb = "apply"
		}
		took, rss, _ := runProcess(b, nil, "kubectl", "--kubeconfig", kubeconfig, verb, "--server-side", "-f", kdir)
		return took, rss
	})
}

// scenarios measures one tool on the workload in dir: cold sync, no-op
// sync, one object changed, and diff with nothing changed (after the
// change was applied). run runs the tool's "sync" or "diff" once.
func scenarios(b *testing.B, proxy *countingProxy, tool, dir string, run func(b *testing.B, verb string) (time.Duration, float64)) {
	measure := func(verb string) func(b *testing.B) {
		return oneShot(func(b *testing.B) {
			settle(b)
			proxy.take()
			took, rss := run(b, verb)
			report(b, took, rss, proxy.take())
		})
	}
	b.Run(tool+"/cold", measure("sync"))
	b.Run(tool+"/noop", measure("sync"))
	changeOne(b, dir, "v2")
	b.Run(tool+"/one-changed", measure("sync"))
	b.Run(tool+"/diff", measure("diff"))
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

// oneShot runs f once however many iterations the framework asks for: a
// cold sync can only be cold once.
func oneShot(f func(b *testing.B)) func(b *testing.B) {
	return func(b *testing.B) {
		if b.N > 1 {
			b.Skip("one-shot measurement; run with -benchtime 1x")
		}
		f(b)
	}
}

// rawApply is the write floor: a server-side apply per object, Namespaces
// first, 16 workers, no client-side rate limit, no reads.
func rawApply(b *testing.B, host string, objs []render.Object) time.Duration {
	b.Helper()
	cfg := &rest.Config{Host: host, QPS: -1}
	dyn := dynamic.NewForConfigOrDie(cfg)
	resource := func(u *unstructured.Unstructured) dynamic.ResourceInterface {
		plural := map[string]string{"Namespace": "namespaces", "ConfigMap": "configmaps", "Deployment": "deployments", "Service": "services"}[u.GetKind()]
		gv := u.GroupVersionKind().GroupVersion()
		r := dyn.Resource(schema.GroupVersionResource{Group: gv.Group, Version: gv.Version, Resource: plural})
		if u.GetNamespace() != "" {
			return r.Namespace(u.GetNamespace())
		}
		return r
	}
	apply := func(u *unstructured.Unstructured) {
		if _, err := resource(u).Apply(context.Background(), u.GetName(), u, metav1.ApplyOptions{FieldManager: "floor", Force: true}); err != nil {
			b.Error(err)
		}
	}
	start := time.Now()
	var others []*unstructured.Unstructured
	for _, o := range objs {
		if o.Object.GetKind() == "Namespace" {
			apply(o.Object)
		} else {
			others = append(others, o.Object)
		}
	}
	var next atomic.Int64
	var wg gosync.WaitGroup
	for range 16 {
		wg.Go(func() {
			for i := next.Add(1) - 1; i < int64(len(others)); i = next.Add(1) - 1 {
				apply(others[i])
			}
		})
	}
	wg.Wait()
	return time.Since(start)
}

// BenchmarkServe: the controller's no-op reconcile (a pass that finds every
// object unchanged; the goal is no request at all) and one changed object
// for an App of N objects, and the resident memory of plumb serve managing
// 10,000 objects in 20 Apps.
func BenchmarkServe(b *testing.B) {
	requireEnvB(b)
	proxy := newCountingProxy(b)
	kubeconfig := proxy.kubeconfig(b)
	srv, err := gittest.NewServer(gittest.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { srv.Close() })
	const secret = "bench-secret"
	for _, n := range benchSizes(b) {
		b.Run(fmt.Sprintf("N=%d", n), func(b *testing.B) {
			repo, err := srv.CreateRepo(fmt.Sprintf("serve-%d", n))
			if err != nil {
				b.Fatal(err)
			}
			dir := filepath.Join(b.TempDir(), "app")
			ns := fmt.Sprintf("bench-serve-%d", n)
			workload(b, dir, ns, n, "v1")
			if _, err := repo.CommitDir("main", dir, "workload"); err != nil {
				b.Fatal(err)
			}
			d := startBenchServe(b, kubeconfig, secret, benchApps(b, ns, repo.URL, "."))
			app := fmt.Sprintf(`app="default/%s"`, ns)
			waitApp(b, d, "plumb_app_synced", 10*time.Minute, app)
			waitApp(b, d, "plumb_app_health", 10*time.Minute, app, `status="Healthy"`)
			time.Sleep(time.Second) // let the last status updates arrive
			hook := func(b *testing.B, result string) {
				settle(b)
				label := fmt.Sprintf(`result="%s"`, result)
				sumBefore, countBefore := d.histogram("plumb_reconcile_duration_seconds", label)
				proxy.take()
				stopTrace := d.profile(result+"-trace.out", "/debug/pprof/trace?seconds=3")
				body := githubPush(repo.URL)
				if code := d.post("/hooks/github", http.Header{"X-Hub-Signature-256": {git.Sign([]byte(secret), body)}}, body); code != http.StatusAccepted {
					b.Fatalf("webhook: %d", code)
				}
				var sum, count float64
				eventually(b, 5*time.Minute, "a "+result+" pass", func() (bool, string) {
					sum, count = d.histogram("plumb_reconcile_duration_seconds", label)
					return count > countBefore, "none yet"
				})
				took := time.Duration((sum - sumBefore) / (count - countBefore) * float64(time.Second))
				counts := proxy.take()
				delete(counts, "watch") // the watches that run all along
				stopTrace()
				if result != "unchanged" { // unchanged passes log at debug level
					b.Logf("the pass: %s", lastMatch(d.proc.Log(), "result="+result))
				}
				report(b, took, d.memMiB("VmRSS"), counts)
			}
			b.Run("noop-reconcile", oneShot(func(b *testing.B) { hook(b, "unchanged") }))
			changeOne(b, dir, "v2")
			if _, err := repo.CommitDir("main", dir, "one changed"); err != nil {
				b.Fatal(err)
			}
			b.Run("one-changed", oneShot(func(b *testing.B) { hook(b, "synced") }))
			// The new fingerprints reach the inventory a moment later, in one
			// write that gathers any changes meanwhile (the checkpoint).
			b.Run("checkpoint", oneShot(func(b *testing.B) {
				start := time.Now()
				eventually(b, time.Minute, "the inventory checkpoint", func() (bool, string) {
					n := d.metric("plumb_inventory_unwritten")
					return n == 0, fmt.Sprintf("%v unwritten", n)
				})
				counts := proxy.take()
				delete(counts, "watch")
				report(b, time.Since(start), d.memMiB("VmRSS"), counts)
			}))
			_ = kubernetes.NewForConfigOrDie(env.Config).CoreV1().Namespaces().Delete(context.Background(), ns, metav1.DeleteOptions{})
		})
	}
	b.Run("memory/20-apps-10000-objects", oneShot(func(b *testing.B) {
		settle(b)
		repo, err := srv.CreateRepo("memory")
		if err != nil {
			b.Fatal(err)
		}
		root := b.TempDir()
		var apps []string
		for i := range 20 {
			ns := fmt.Sprintf("bench-mem-%02d", i)
			workload(b, filepath.Join(root, ns), ns, 501, "v1")
			apps = append(apps, ns)
		}
		if _, err := repo.CommitDir("main", root, "20 apps"); err != nil {
			b.Fatal(err)
		}
		var docs []string
		for _, ns := range apps {
			docs = append(docs, benchApps(b, ns, repo.URL, ns))
		}
		start := time.Now()
		d := startBenchServe(b, kubeconfig, secret, strings.Join(docs, "---\n"))
		for _, ns := range apps {
			waitApp(b, d, "plumb_app_synced", 15*time.Minute, fmt.Sprintf(`app="default/%s"`, ns))
		}
		took := time.Since(start)
		time.Sleep(2 * time.Second)
		rss, peak := d.memMiB("VmRSS"), d.memMiB("VmHWM")
		d.profile("memory-heap.pb.gz", "/debug/pprof/heap?gc=1")()
		b.ReportMetric(rss, "rss-MiB")
		b.ReportMetric(peak, "peak-rss-MiB")
		b.ReportMetric(float64(took.Milliseconds()), "ms")
		anon, file := d.memMiB("RssAnon"), d.memMiB("RssFile")
		recordBench(b, benchRecord{Name: b.Name(), Ms: float64(took.Milliseconds()), RSSMiB: rss, PeakMiB: peak, AnonMiB: anon, FileMiB: file})
		b.Logf("20 Apps, 10,020 objects synced in %s; RSS %.0f MiB, peak %.0f MiB", took.Round(time.Second), rss, peak)
		mib := func(name string) float64 { return d.metric(name) / (1 << 20) }
		b.Logf("RSS: anonymous %.0f MiB, file-backed %.0f MiB", anon, file)
		b.Logf("Go heap: in use %.0f MiB, idle %.0f MiB of which released %.0f MiB, next GC at %.0f MiB",
			mib("go_memstats_heap_inuse_bytes"), mib("go_memstats_heap_idle_bytes"), mib("go_memstats_heap_released_bytes"), mib("go_memstats_next_gc_bytes"))
		for _, ns := range apps {
			_ = kubernetes.NewForConfigOrDie(env.Config).CoreV1().Namespaces().Delete(context.Background(), ns, metav1.DeleteOptions{})
		}
	}))
}

func requireEnvB(b *testing.B) {
	if env == nil {
		b.Skip("needs the control plane")
	}
}

func benchApps(b *testing.B, name, repoURL, path string) string {
	return fmt.Sprintf("apiVersion: plumb.dev/v1alpha1\nkind: App\nmetadata:\n  name: %s\n  namespace: default\nspec:\n  source:\n    repoURL: %s\n    ref: main\n    path: %s\n  syncPolicy:\n    prune: true\n    selfHeal: true\n    interval: 1h\n", name, repoURL, path)
}

// startBenchServe runs plumb serve (through the counting proxy) on the Apps
// of a config file, with webhooks signed by secret.
func startBenchServe(b *testing.B, kubeconfig, secret, apps string) *plumbd {
	b.Helper()
	config := filepath.Join(b.TempDir(), "apps.yaml")
	if err := os.WriteFile(config, []byte(apps), 0o600); err != nil {
		b.Fatal(err)
	}
	b.Setenv(WebhookSecretEnv, secret) // inherited by the serve process
	// The later --kubeconfig and --drift-interval win over startServe's.
	args := []string{"--kubeconfig", kubeconfig, "-n", "default", "--config", config, "--drift-interval", "1h"}
	if os.Getenv(benchProfileEnv) != "" {
		args = append(args, "--profiling")
	}
	return startServe(b, args...)
}

// lastMatch returns the last line of log that contains s.
func lastMatch(log, s string) string {
	lines := strings.Split(log, "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if strings.Contains(lines[i], s) {
			return lines[i]
		}
	}
	return ""
}

// benchProfileEnv names a directory: when set, BenchmarkServe saves an
// execution trace of each measured pass and a heap profile of the memory
// benchmark there (look with go tool trace, go tool pprof).
const benchProfileEnv = "PLUMB_BENCH_PROFILE_DIR"

// profile starts fetching a profile from plumb serve into file (under
// benchProfileEnv); the returned func waits for it. Without the variable it
// does nothing.
func (d *plumbd) profile(file, path string) func() {
	dir := os.Getenv(benchProfileEnv)
	if dir == "" {
		return func() {}
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		resp, err := http.Get(d.url + path)
		if err != nil {
			d.t.Logf("profile %s: %v", path, err)
			return
		}
		defer resp.Body.Close()
		data, err := io.ReadAll(resp.Body)
		if err == nil {
			err = os.WriteFile(filepath.Join(dir, file), data, 0o644)
		}
		if err != nil {
			d.t.Logf("profile %s: %v", path, err)
		}
	}()
	time.Sleep(200 * time.Millisecond) // a trace covers what follows
	return func() { <-done }
}

// waitApp waits until the App's gauge (plumb_app_synced, plumb_app_health)
// with the given labels reads 1.
func waitApp(b *testing.B, d *plumbd, gauge string, timeout time.Duration, labels ...string) {
	b.Helper()
	eventually(b, timeout, gauge+" "+strings.Join(labels, ","), func() (bool, string) {
		return d.metric(gauge, labels...) == 1, "not yet"
	})
}
