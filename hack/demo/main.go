// Command demo is `make demo`: it starts the local control plane with kwok
// nodes, shows it through kubectl and the plumb binary, and keeps it up until
// Ctrl-C, then stops every process it started.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/plumbhq/plumb/internal/testenv"
)

type demoFlags struct {
	plumb string
	nodes int
}

func main() {
	f := demoFlags{}
	flag.StringVar(&f.plumb, "plumb", "bin/plumb", "the plumb binary to show")
	flag.IntVar(&f.nodes, "nodes", 3, "number of kwok nodes")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Stdout, f); err != nil {
		fmt.Fprintf(os.Stderr, "demo: %v\n", err)
		stop()
		os.Exit(1)
	}
}

func run(ctx context.Context, out io.Writer, f demoFlags) error {
	fmt.Fprintf(out, "==> starting etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kwok (%d nodes)\n", f.nodes)
	started := time.Now()
	env, err := testenv.Start(ctx, testenv.Options{Nodes: f.nodes})
	if err != nil {
		return err
	}
	defer func() {
		fmt.Fprintln(out, "==> stopping the control plane")
		env.Stop()
		fmt.Fprintln(out, "==> stopped; nothing left running")
	}()
	fmt.Fprintf(out, "==> control plane up in %s\n", time.Since(started).Round(100*time.Millisecond))
	fmt.Fprintf(out, "    kubeconfig: %s\n    logs:       %s/*.log\n\n", env.Kubeconfig, env.Dir)

	show(ctx, out, "kubectl", "--kubeconfig", env.Kubeconfig, "get", "nodes", "-o", "wide")
	show(ctx, out, f.plumb, "version")

	fmt.Fprintf(out, "\nTry it from another terminal:\n  export KUBECONFIG=%s\n  kubectl get nodes\n  kubectl create deployment web --image=nginx --replicas=3 && kubectl get pods -w\n\nPress Ctrl-C to stop.\n", env.Kubeconfig)
	<-ctx.Done()
	fmt.Fprintln(out)
	return nil
}

func show(ctx context.Context, out io.Writer, name string, args ...string) {
	fmt.Fprintf(out, "$ %s %s\n", name, strings.Join(args, " "))
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stdout = out
	cmd.Stderr = out
	if err := cmd.Run(); err != nil {
		fmt.Fprintf(out, "(%s: %v)\n", name, err)
	}
	fmt.Fprintln(out)
}
