package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/plumbhq/plumb/git"
	"github.com/plumbhq/plumb/internal/gittest"
)

// BenchmarkServe: the controller's no-op reconcile (a pass that finds every
// object unchanged; the goal is no request at all) and one changed object
// for an App of N objects, and the resident memory of plumb serve managing
// 10,000 objects in 20 Apps.
func BenchmarkServe(b *testing.B) {
	requireEnvB(b)
	proxy := newCountingProxy(b)
	kubeconfig := proxy.kubeconfig(b)
	srv := gitServerB(b)
	const secret = "bench-webhook-secret"
	for _, n := range benchSizes(b) {
		b.Run(fmt.Sprintf("N=%d", n), func(b *testing.B) {
			benchServeApp(b, srv, proxy, kubeconfig, secret, n)
		})
	}
	b.Run("memory/20-apps-10000-objects", oneShot(func(b *testing.B) {
		benchServeMemory(b, srv, kubeconfig, secret)
	}))
}

// benchServeApp is BenchmarkServe for one App of n objects: its no-op
// reconcile, one changed object and the inventory checkpoint after it.
func benchServeApp(b *testing.B, srv *gittest.Server, proxy *countingProxy, kubeconfig, secret string, n int) {
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
		measureHookPass(b, d, proxy, repo.URL, secret, result)
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
}

// measureHookPass sends a signed push webhook for repoURL and reports the
// reconcile pass it triggers (result: "unchanged" or "synced").
func measureHookPass(b *testing.B, d *plumbd, proxy *countingProxy, repoURL, secret, result string) {
	settle(b)
	label := fmt.Sprintf(`result="%s"`, result)
	sumBefore, countBefore := d.histogram("plumb_reconcile_duration_seconds", label)
	proxy.take()
	stopTrace := d.profile(result+"-trace.out", "/debug/pprof/trace?seconds=3")
	body := githubPush(repoURL)
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

// benchServeMemory is BenchmarkServe's memory measurement: plumb serve
// syncing 20 Apps of 501 objects from one repository.
func benchServeMemory(b *testing.B, srv *gittest.Server, kubeconfig, secret string) {
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
}

func benchApps(b *testing.B, name, repoURL, path string) string {
	return fmt.Sprintf("apiVersion: plumb.dev/v1alpha1\nkind: App\nmetadata:\n  name: %s\n  namespace: default\nspec:\n  source:\n    repoURL: %s\n    ref: main\n    path: %s\n  syncPolicy:\n    prune: true\n    selfHeal: true\n    interval: 1h\n", name, repoURL, path)
}

// startBenchServe runs plumb serve (through the counting proxy) on the Apps
// of a config file, with webhooks signed by secret.
func startBenchServe(b *testing.B, kubeconfig, secret, apps string, extra ...string) *plumbd {
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
	return startServe(b, append(args, extra...)...)
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
