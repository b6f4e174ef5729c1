package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/plumbhq/plumb/internal/testenv"
	"github.com/plumbhq/plumb/render/sandbox"
)

var env *testenv.Env

// plumbArgsEnv makes the test binary stand in for plumb: started with it
// set (to a JSON array of arguments), TestMain runs the command instead of
// the tests. Controller tests use it to run `plumb serve` as a real process
// they can SIGKILL, without building a second binary.
const plumbArgsEnv = "PLUMB_TEST_RUN_ARGS"

// plumbBinEnv names a plumb binary for the benchmarks to run instead of the
// test binary (make bench sets it to bin/plumb, built as shipped): memory
// and start-up are then the product's own, not a test binary's.
const plumbBinEnv = "PLUMB_BIN"

// plumbCommand returns the program and environment that run plumb with args.
func plumbCommand(args []string) (bin string, environ []string, argv []string) {
	if bin := os.Getenv(plumbBinEnv); bin != "" {
		return bin, nil, args
	}
	raw, _ := json.Marshal(args) // a []string always encodes
	return os.Args[0], []string{plumbArgsEnv + "=" + string(raw)}, nil
}

func TestMain(m *testing.M) {
	if sandbox.IsWorker() {
		os.Exit(sandbox.WorkerMain())
	}
	if raw, ok := os.LookupEnv(plumbArgsEnv); ok {
		var args []string
		if err := json.Unmarshal([]byte(raw), &args); err != nil {
			fmt.Fprintf(os.Stderr, "%s: %v\n", plumbArgsEnv, err)
			os.Exit(exitError)
		}
		os.Exit(run(args, streams{in: os.Stdin, out: os.Stdout, errOut: os.Stderr}))
	}
	os.Exit(testenv.Main(m, testenv.Options{Nodes: 2}, &env))
}

// e2e is one test's namespace, app directory and clients.
type e2e struct {
	t   *testing.T
	ns  string
	dir string
	cs  kubernetes.Interface
	ctx context.Context
}

func newE2E(t *testing.T, name string) *e2e {
	t.Helper()
	testenv.RequireEnv(t, env)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	t.Cleanup(cancel)
	cs := kubernetes.NewForConfigOrDie(env.Config)
	e := &e2e{t: t, ns: "e2e-" + name, dir: filepath.Join(t.TempDir(), name), cs: cs, ctx: ctx}
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: e.ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(e.dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return e
}

// write replaces the app directory's files with files (paths may name
// subdirectories).
func (e *e2e) write(files map[string]string) {
	e.t.Helper()
	ents, _ := os.ReadDir(e.dir)
	for _, ent := range ents {
		os.RemoveAll(filepath.Join(e.dir, ent.Name()))
	}
	for name, content := range files {
		p := filepath.Join(e.dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			e.t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			e.t.Fatal(err)
		}
	}
}

// plumb runs the real command tree against the control plane.
func (e *e2e) plumb(args ...string) (int, string, string) {
	e.t.Helper()
	full := append([]string{"--kubeconfig", env.Kubeconfig, "-n", e.ns}, args...)
	code, out, errOut := runCmd(e.t, full...)
	e.t.Logf("plumb %s -> exit %d\n%s%s", strings.Join(args, " "), code, out, errOut)
	return code, out, errOut
}

func (e *e2e) mustPlumb(want int, args ...string) string {
	e.t.Helper()
	code, out, errOut := e.plumb(args...)
	if code != want {
		e.t.Fatalf("plumb %v: exit %d, want %d\n%s%s", args, code, want, out, errOut)
	}
	return out + errOut
}

func (e *e2e) kubectl(args ...string) string {
	e.t.Helper()
	out, err := e.kubectlIn(e.ns, args...)
	if err != nil {
		e.t.Fatalf("kubectl %v: %v\n%s", args, err, out)
	}
	return out
}

// kubectlIn runs kubectl in namespace ns ("": the manifests' own) and
// returns its error instead of failing the test.
func (e *e2e) kubectlIn(ns string, args ...string) (string, error) {
	full := []string{"--kubeconfig", env.Kubeconfig}
	if ns != "" {
		full = append(full, "-n", ns)
	}
	out, err := exec.CommandContext(e.ctx, "kubectl", append(full, args...)...).CombinedOutput()
	return string(out), err
}

func (e *e2e) configMapExists(name string) bool {
	_, err := e.cs.CoreV1().ConfigMaps(e.ns).Get(e.ctx, name, metav1.GetOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		e.t.Fatal(err)
	}
	return err == nil
}

func deployment(name, image string, replicas int, extra string) string {
	return fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata:
  name: %[1]s
spec:
  replicas: %[3]d
  selector:
    matchLabels: {app: %[1]s}
  template:
    metadata:
      labels: {app: %[1]s}
    spec:
      terminationGracePeriodSeconds: 0
      containers:
      - name: main
        image: %[2]s
%[4]s`, name, image, replicas, extra)
}

func configMap(name, annotations string) string {
	return fmt.Sprintf("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: %s\n%sdata:\n  k: v\n", name, annotations)
}

func repoRootDir(t testing.TB) string {
	t.Helper()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(wd, "..", "..")
}
