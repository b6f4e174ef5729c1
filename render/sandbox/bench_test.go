package sandbox

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/plumbhq/plumb/render"
)

// BenchmarkWorker renders two corpus inputs in-process and through a
// worker process, in the same run: the sandbox's cost. `make bench` puts
// the ratio in docs/benchmarks.md (goal: within 1.2x).
func BenchmarkWorker(b *testing.B) {
	wd, err := os.Getwd()
	if err != nil {
		b.Fatal(err)
	}
	root := filepath.Join(wd, "..", "..", "..", "shared", "corpus")
	if _, err := os.Stat(root); err != nil {
		b.Skipf("corpus: %v", err)
	}
	// The worker is plumb as make build builds it (static, optimised), as
	// plumb serve runs it; without it, this test binary.
	exe, _ := filepath.Abs(filepath.Join("..", "..", "bin", "plumb"))
	if _, err := os.Stat(exe); err != nil {
		exe = ""
	}
	s, err := New(Options{Spares: 1, Executable: exe})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	s.Prestart()
	inputs := []struct {
		name, path string
		opts       render.Options
	}{
		{"prometheus-operator-crds", "charts/prometheus-operator-crds", render.Options{Namespace: "bench", Helm: render.HelmOptions{ReleaseName: "bench", KubeVersion: "v1.37.2"}}},
		{"sock-shop", "argocd-example-apps/sock-shop", render.Options{}},
		{"kube-state-metrics", "charts/kube-state-metrics", render.Options{Namespace: "bench", Helm: render.HelmOptions{ReleaseName: "bench"}}},
	}
	for _, in := range inputs {
		src := render.Source{Root: root, Path: in.path}
		b.Run(in.name+"/in-process", func(b *testing.B) {
			for b.Loop() {
				if _, err := render.Render(context.Background(), src, in.opts); err != nil {
					b.Fatal(err)
				}
			}
		})
		// With a spare worker ready, as plumb serve keeps one: the time a
		// render takes, not a process start (the spare is started and warmed
		// between renders, off the clock).
		b.Run(in.name+"/worker", func(b *testing.B) {
			for b.Loop() {
				b.StopTimer()
				s.waitSpare()
				b.StartTimer()
				if _, err := s.Render(context.Background(), src, in.opts); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// waitSpare waits until a spare worker is started and warm: it is waiting
// on stdin, so the moment its CPU time stops growing.
func (s *Sandbox) waitSpare() {
	for len(s.spares) == 0 {
		time.Sleep(time.Millisecond)
	}
	w := <-s.spares
	var last time.Duration
	for {
		time.Sleep(20 * time.Millisecond)
		now := procCPU(w.Process.Pid)
		if now == last && now > 0 {
			break
		}
		last = now
	}
	s.spares <- w
}

// procCPU is the CPU time a process has used, from /proc (0 if unknown).
func procCPU(pid int) time.Duration {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.Atoi(f[11])
	s, _ := strconv.Atoi(f[12])
	return time.Duration(u+s) * 10 * time.Millisecond // clock ticks of 100 Hz
}
