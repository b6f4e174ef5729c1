package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	gosync "sync"
	"sync/atomic"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/plumbhq/plumb/render"
)

// The cluster benchmarks (make bench): plumb, kubectl and a raw
// server-side apply loop on the same generated workload, against the real
// control plane, in one run. Every client goes through a counting proxy, so
// each result carries the API requests it made by verb; processes report
// their peak RSS. Sizes come from PLUMB_BENCH_SIZES (default "100,1501,10000").

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

func requireEnvB(b *testing.B) {
	if env == nil {
		b.Skip("needs the control plane")
	}
}
