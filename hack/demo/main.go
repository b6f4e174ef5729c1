// Command demo is `make demo`: it starts the local control plane with kwok
// nodes and a local Git server holding a repository made from
// examples/apps (a plain, a Kustomize and a Helm app), installs the App CRD,
// runs `plumb serve` on those Apps, commits a change and shows it arrive,
// then tells the user how to try drift and a webhook. Ctrl-C stops every
// process it started.
package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/plumbhq/plumb/git"
	"github.com/plumbhq/plumb/internal/gittest"
	"github.com/plumbhq/plumb/internal/testenv"
)

type demoFlags struct {
	plumb    string
	examples string
	nodes    int
	listen   string
}

func main() {
	f := demoFlags{}
	flag.StringVar(&f.plumb, "plumb", "bin/plumb", "the plumb binary to run")
	flag.StringVar(&f.examples, "examples", "examples", "the examples directory (apps/ and install/)")
	flag.IntVar(&f.nodes, "nodes", 3, "number of kwok nodes")
	flag.StringVar(&f.listen, "listen", "127.0.0.1:8080", "address for plumb serve (webhooks, metrics, API); a free port if taken")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Stdout, f); err != nil && !errors.Is(err, context.Canceled) {
		fmt.Fprintf(os.Stderr, "demo: %v\n", err)
		stop()
		os.Exit(1)
	}
}

// demo is what run sets up.
type demo struct {
	out        io.Writer
	env        *testenv.Env
	kubeconfig string
	plumb      string
}

func run(ctx context.Context, out io.Writer, f demoFlags) error {
	plumb, err := filepath.Abs(f.plumb)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "==> starting etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kwok (%d nodes)\n", f.nodes)
	started := time.Now()
	env, err := testenv.Start(ctx, testenv.Options{Nodes: f.nodes})
	if err != nil {
		return err
	}
	defer func() {
		fmt.Fprintln(out, "==> stopping plumb serve, the Git server and the control plane")
		env.Stop()
		fmt.Fprintln(out, "==> stopped; nothing left running")
	}()
	d := &demo{out: out, env: env, kubeconfig: env.Kubeconfig, plumb: plumb}
	fmt.Fprintf(out, "==> control plane up in %s\n    kubeconfig: %s\n    logs:       %s/*.log\n\n", time.Since(started).Round(100*time.Millisecond), env.Kubeconfig, env.Dir)
	d.show(ctx, "kubectl", "get", "nodes")

	// A Git server with the example apps.
	gitDir := filepath.Join(env.Dir, "git")
	srv, err := gittest.NewServer(gittest.Options{Dir: gitDir})
	if err != nil {
		return err
	}
	defer srv.Close()
	repo, err := srv.CreateRepo("demo")
	if err != nil {
		return err
	}
	head, err := repo.CommitDir("main", filepath.Join(f.examples, "apps"), "the example apps")
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "==> Git server: %s (commit %s, made from %s/apps)\n\n", repo.URL, head[:8], f.examples)

	// The CRD, a namespace and the three Apps.
	if err := d.installApps(ctx, f.examples, repo.URL); err != nil {
		return err
	}

	// plumb serve.
	serve, addr, secret, err := d.startServe(ctx, f.listen, head)
	if err != nil {
		return err
	}

	// A change in Git, announced by a signed webhook.
	body, err := d.pushChange(ctx, repo, f.examples, serve, addr, secret)
	if err != nil {
		return err
	}

	d.printTryIt(repo.URL, addr, secret, body, serve.LogPath())
	<-ctx.Done()
	fmt.Fprintln(out)
	return nil
}

// installApps installs the App CRD, creates namespace demo and applies the
// example Apps, pointed at repoURL.
func (d *demo) installApps(ctx context.Context, examples, repoURL string) error {
	apps, err := os.ReadFile(filepath.Join(examples, "apps", "apps.yaml"))
	if err != nil {
		return err
	}
	appsFile := filepath.Join(d.env.Dir, "apps.yaml")
	if err := os.WriteFile(appsFile, bytes.ReplaceAll(apps, []byte("REPO_URL"), []byte(repoURL)), 0o600); err != nil {
		return err
	}
	d.show(ctx, "kubectl", "apply", "--server-side", "-f", filepath.Join(examples, "install", "plumb.dev_apps.yaml"))
	d.show(ctx, "kubectl", "wait", "--for=condition=Established", "crd/apps.plumb.dev")
	d.show(ctx, "kubectl", "create", "namespace", "demo")
	d.show(ctx, "kubectl", "apply", "--server-side", "-f", appsFile)
	return nil
}

// startServe starts plumb serve, listening on listen or a free port, with a
// random webhook secret, and waits until the Apps are Ready at head. It
// returns the process, its address and the secret.
func (d *demo) startServe(ctx context.Context, listen, head string) (*testenv.Process, string, []byte, error) {
	secret := make([]byte, 16)
	_, _ = rand.Read(secret)
	secretFile := filepath.Join(d.env.Dir, "webhook-secret")
	if err := os.WriteFile(secretFile, []byte(hex.EncodeToString(secret)), 0o600); err != nil {
		return nil, "", nil, err
	}
	addr := freeAddr(listen)
	serve, err := d.env.StartProcess("plumb-serve", nil, d.plumb, "--kubeconfig", d.env.Kubeconfig, "serve",
		"--listen", addr, "--webhook-secret-file", secretFile, "--cache-dir", filepath.Join(d.env.Dir, "plumb-cache"),
		"--git-allow-http") // the demo's Git server is plain http on loopback
	if err != nil {
		return nil, "", nil, err
	}
	fmt.Fprintf(d.out, "==> plumb serve on http://%s (log: %s)\n", addr, serve.LogPath())
	start := time.Now()
	if err := d.waitApps(ctx, serve, head, 2*time.Minute); err != nil {
		return nil, "", nil, err
	}
	fmt.Fprintf(d.out, "==> the three Apps are Synced and Healthy, %.1fs after plumb serve started\n\n", time.Since(start).Seconds())
	d.show(ctx, "kubectl", "get", "apps.plumb.dev", "-n", "demo")
	d.show(ctx, "kubectl", "get", "deployments,services,configmaps", "-n", "demo", "-l", "plumb.dev/app")
	return serve, addr, secret, nil
}

// pushChange commits a change to the Helm app (four replicas), announces it
// with a signed webhook and waits until it is applied; it returns the
// webhook's body.
func (d *demo) pushChange(ctx context.Context, repo *gittest.Repo, examples string, serve *testenv.Process, addr string, secret []byte) (string, error) {
	values, err := os.ReadFile(filepath.Join(examples, "apps", "helm", "values.yaml"))
	if err != nil {
		return "", err
	}
	head, err := repo.Update("main", gittest.Files(map[string]string{
		"helm/values.yaml": strings.Replace(string(values), "replicaCount: 2", "replicaCount: 4", 1),
	}), nil, "helm: four replicas")
	if err != nil {
		return "", err
	}
	fmt.Fprintf(d.out, "==> committed %s: helm/values.yaml replicaCount 2 → 4; sending a signed GitHub push webhook\n", head[:8])
	body := fmt.Sprintf(`{"ref":"refs/heads/main","repository":{"clone_url":%q}}`, repo.URL)
	start := time.Now()
	if code, err := postHook(ctx, addr, secret, body); err != nil || code != http.StatusAccepted {
		return "", fmt.Errorf("webhook: %d %v", code, err)
	}
	if err := d.waitApps(ctx, serve, head, time.Minute); err != nil {
		return "", err
	}
	fmt.Fprintf(d.out, "==> revision %s applied and healthy %.1fs after the push (the poll interval is 30s)\n\n", head[:8], time.Since(start).Seconds())
	d.show(ctx, "kubectl", "get", "deployment", "demo-greeter", "-n", "demo")
	return body, nil
}

// printTryIt tells the user what to try while the demo runs: drift, a
// change of their own with a signed webhook, and what plumb reports.
func (d *demo) printTryIt(repoURL, addr string, secret []byte, body, logPath string) {
	sig := git.Sign([]byte(hex.EncodeToString(secret)), []byte(body))
	fmt.Fprintf(d.out, `Try it from another terminal:
  export KUBECONFIG=%s
  kubectl get apps.plumb.dev -n demo -w

  # drift: plumb reverts it within seconds (selfHeal)
  kubectl -n demo scale deployment hello --replicas 5
  kubectl -n demo get deployment hello -w

  # a change of your own, then a signed webhook so it arrives at once
  git clone %s /tmp/plumb-demo && cd /tmp/plumb-demo
  sed -i 's/count: 3/count: 1/' kustomize/overlays/production/kustomization.yaml
  git commit -am "fewer replicas" && git push
  curl -i -X POST http://%s/hooks/github -H 'X-GitHub-Event: push' \
    -H 'X-Hub-Signature-256: %s' -d '%s'

  # what plumb reports
  curl -s http://%s/metrics | grep ^plumb_
  kubectl -n demo get events --field-selector involvedObject.kind=App
  tail -f %s

Press Ctrl-C to stop.
`, d.env.Kubeconfig, repoURL, addr, sig, body, addr, logPath)
}

// waitApps waits until every App in namespace demo is Ready at head.
func (d *demo) waitApps(ctx context.Context, serve *testenv.Process, head string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		if done, err := serve.Exited(); done {
			return fmt.Errorf("plumb serve exited (%v):\n%s", err, serve.Log())
		}
		out, err := exec.CommandContext(ctx, "kubectl", "--kubeconfig", d.kubeconfig, "get", "apps.plumb.dev", "-n", "demo",
			"-o", `jsonpath={range .items[*]}{.metadata.name} {.status.syncStatus} {.status.health} {.status.lastAppliedRevision} {.status.conditions[?(@.type=="Ready")].status}{"\n"}{end}`).Output()
		if err == nil {
			lines := strings.Split(strings.TrimSpace(string(out)), "\n")
			ok := len(lines) == 3
			for _, l := range lines {
				ok = ok && strings.HasSuffix(l, "Synced Healthy main@sha1:"+head+" True")
			}
			if ok {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("Apps not ready at %s: %w\n%s", head[:8], ctx.Err(), out)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// show prints a command and runs it.
func (d *demo) show(ctx context.Context, name string, args ...string) {
	if name == "kubectl" {
		args = append([]string{"--kubeconfig", d.kubeconfig}, args...)
	}
	fmt.Fprintf(d.out, "$ %s %s\n", name, strings.Join(args, " "))
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stdout = d.out
	cmd.Stderr = d.out
	if err := cmd.Run(); err != nil {
		fmt.Fprintf(d.out, "(%s: %v)\n", name, err)
	}
	fmt.Fprintln(d.out)
}

func postHook(ctx context.Context, addr string, secret []byte, body string) (int, error) {
	key := []byte(hex.EncodeToString(secret))
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+addr+"/hooks/github", strings.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("X-GitHub-Event", "push")
	req.Header.Set("X-Hub-Signature-256", git.Sign(key, []byte(body)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

// freeAddr returns want if it can be listened on, else a free loopback port.
func freeAddr(want string) string {
	if l, err := net.Listen("tcp", want); err == nil {
		l.Close()
		return want
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return want
	}
	defer l.Close()
	return l.Addr().String()
}
