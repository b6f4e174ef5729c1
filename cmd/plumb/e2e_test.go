package main

import (
	"context"
	"encoding/base64"
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
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"

	"github.com/plumbhq/plumb/cluster"
	"github.com/plumbhq/plumb/internal/gittest"
	"github.com/plumbhq/plumb/internal/testenv"
	"github.com/plumbhq/plumb/internal/testreport"
	"github.com/plumbhq/plumb/sync"
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

// write replaces the app directory's files with files.
func (e *e2e) write(files map[string]string) {
	e.t.Helper()
	ents, _ := os.ReadDir(e.dir)
	for _, ent := range ents {
		os.RemoveAll(filepath.Join(e.dir, ent.Name()))
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(e.dir, name), []byte(content), 0o644); err != nil {
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

// Acceptance 1: the corpus apps reach Healthy, and a second sync writes
// nothing (every resourceVersion unchanged).
func TestSyncCorpusAppsHealthyThenUnchanged(t *testing.T) {
	corpus := corpusDir(t)
	apps := []struct{ name, path string }{
		{"guestbook", "argocd-example-apps/guestbook"},
		{"sock-shop", "argocd-example-apps/sock-shop"},
		{"kube-state-metrics", "charts/kube-state-metrics"},
		{"prometheus-operator-crds", "charts/prometheus-operator-crds"},
	}
	for _, app := range apps {
		t.Run(app.name, func(t *testing.T) {
			e := newE2E(t, app.name)
			path := filepath.Join(corpus, app.path)
			out := e.mustPlumb(exitOK, "sync", path, "--app", app.name, "--wait", "--timeout", "3m")
			if !strings.Contains(out, "app "+app.name+": Healthy") {
				t.Fatalf("not Healthy:\n%s", out)
			}
			c, err := cluster.NewClient(env.Config)
			if err != nil {
				t.Fatal(err)
			}
			objs, err := sync.InventoryObjects(e.ctx, c, "default", app.name)
			if err != nil || len(objs) == 0 {
				t.Fatalf("inventory: %d objects, %v", len(objs), err)
			}
			before := map[string]string{}
			for _, o := range objs {
				live, err := c.Get(e.ctx, o)
				if err != nil || live == nil {
					t.Fatalf("%s: %v", o.GetName(), err)
				}
				before[live.GetKind()+"/"+live.GetNamespace()+"/"+live.GetName()] = live.GetResourceVersion()
			}
			out = e.mustPlumb(exitOK, "sync", path, "--app", app.name)
			want := fmt.Sprintf("0 created, 0 configured, 0 recreated, %d unchanged", len(objs))
			if !strings.Contains(out, want) {
				t.Errorf("second sync: want %q in\n%s", want, out)
			}
			for _, o := range objs {
				live, _ := c.Get(e.ctx, o)
				key := live.GetKind() + "/" + live.GetNamespace() + "/" + live.GetName()
				if rv := live.GetResourceVersion(); rv != before[key] {
					t.Errorf("%s: resourceVersion %s -> %s after a no-op sync", key, before[key], rv)
				}
			}
			e.mustPlumb(exitOK, "diff", path, "--app", app.name)
		})
	}
}

// Acceptance 2: diff shows exactly the changed field; drift made with
// kubectl shows; an ignored field owned by another manager is left alone.
func TestDiffChangeDriftAndIgnore(t *testing.T) {
	e := newE2E(t, "diff")
	e.write(map[string]string{"web.yaml": deployment("web", "nginx:1.0", 2, "")})
	e.mustPlumb(exitOK, "sync", e.dir, "--app", "diff")

	e.write(map[string]string{"web.yaml": deployment("web", "nginx:1.1", 2, "")})
	out := e.mustPlumb(exitChanges, "diff", e.dir, "--app", "diff")
	var changed []string
	for _, l := range strings.Split(out, "\n") {
		if (strings.HasPrefix(l, "+") || strings.HasPrefix(l, "-")) && !strings.HasPrefix(l, "+++") && !strings.HasPrefix(l, "---") {
			changed = append(changed, l[:1]+strings.TrimSpace(l[1:]))
		}
	}
	if got := strings.Join(changed, "|"); got != "-- image: nginx:1.0|+- image: nginx:1.1" {
		t.Errorf("diff lines = %q, want only the image", got)
	}
	e.mustPlumb(exitOK, "sync", e.dir, "--app", "diff")
	e.mustPlumb(exitOK, "diff", e.dir, "--app", "diff")

	// Drift on a field plumb owns, as kubectl edit would make it (an Update).
	e.kubectl("patch", "deployment", "web", "--type=json", "-p", `[{"op":"replace","path":"/spec/template/spec/containers/0/image","value":"nginx:hacked"}]`)
	out = e.mustPlumb(exitChanges, "diff", e.dir, "--app", "diff")
	if !strings.Contains(out, "-      - image: nginx:hacked") || !strings.Contains(out, "+      - image: nginx:1.1") {
		t.Errorf("drift not shown:\n%s", out)
	}
	e.mustPlumb(exitOK, "sync", e.dir, "--app", "diff")

	// Another manager (an autoscaler, say) takes /spec/replicas.
	e.kubectl("scale", "deployment", "web", "--replicas=5")
	e.mustPlumb(exitChanges, "diff", e.dir, "--app", "diff")
	e.mustPlumb(exitOK, "diff", e.dir, "--app", "diff", "--ignore", "Deployment.apps/web:/spec/replicas")
	e.mustPlumb(exitOK, "sync", e.dir, "--app", "diff", "--ignore", "Deployment.apps/web:/spec/replicas")
	if got := e.kubectl("get", "deployment", "web", "-o", "jsonpath={.spec.replicas}"); got != "5" {
		t.Errorf("replicas = %s after sync with the field ignored, want 5 (left to its owner)", got)
	}
}

// Acceptance 3: prune deletes only what it should, and never after a render
// error or an empty render.
func TestPruneSafety(t *testing.T) {
	e := newE2E(t, "prune")
	e.write(map[string]string{
		"a.yaml": configMap("gone", ""),
		"b.yaml": configMap("keep-annotated", "  annotations:\n    plumb.dev/prune: \"false\"\n"),
		"c.yaml": configMap("unlabelled", ""),
		"d.yaml": configMap("stays", ""),
	})
	e.mustPlumb(exitOK, "sync", e.dir, "--app", "prune")
	e.kubectl("label", "configmap", "unlabelled", "plumb.dev/app-")

	e.write(map[string]string{"d.yaml": configMap("stays", "")})
	out := e.mustPlumb(exitChanges, "diff", e.dir, "--app", "prune")
	if !strings.Contains(out, "ConfigMap/e2e-prune/gone (prune)") || strings.Contains(out, "keep-annotated (prune)") || strings.Contains(out, "unlabelled (prune)") {
		t.Errorf("diff prune list wrong:\n%s", out)
	}
	e.mustPlumb(exitOK, "sync", e.dir, "--app", "prune", "--prune")
	// Foreground deletion: the garbage collector removes it shortly after.
	if err := wait.PollUntilContextTimeout(e.ctx, 100*time.Millisecond, 30*time.Second, true, func(context.Context) (bool, error) {
		return !e.configMapExists("gone"), nil
	}); err != nil {
		t.Errorf("ConfigMap gone still exists after prune: %v", err)
	}
	for name, want := range map[string]bool{"keep-annotated": true, "unlabelled": true, "stays": true} {
		if got := e.configMapExists(name); got != want {
			t.Errorf("ConfigMap %s exists = %v, want %v", name, got, want)
		}
	}

	e.write(map[string]string{"d.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: stays\n data: [\n"})
	out = e.mustPlumb(exitError, "sync", e.dir, "--app", "prune", "--prune")
	if !strings.Contains(out, "d.yaml:") {
		t.Errorf("render error does not name the file:\n%s", out)
	}
	e.write(map[string]string{"README.md": "nothing here"})
	out = e.mustPlumb(exitError, "sync", e.dir, "--app", "prune", "--prune")
	if !strings.Contains(out, "render produced no objects") {
		t.Errorf("empty render message:\n%s", out)
	}
	if !e.configMapExists("stays") || !e.configMapExists("keep-annotated") {
		t.Error("a failed or empty render deleted objects")
	}
	// Only an explicit allowEmpty lets an empty render prune.
	e.mustPlumb(exitOK, "sync", e.dir, "--app", "prune", "--prune", "--allow-empty")
	if err := wait.PollUntilContextTimeout(e.ctx, 100*time.Millisecond, 30*time.Second, true, func(context.Context) (bool, error) {
		return !e.configMapExists("stays"), nil
	}); err != nil {
		t.Errorf("ConfigMap stays not pruned with --allow-empty: %v", err)
	}
	if !e.configMapExists("keep-annotated") {
		t.Error("allow-empty pruned an object annotated plumb.dev/prune: \"false\"")
	}
}

// Acceptance 4: a CRD and its custom resources in one sync.
func TestCRDAndCustomResourceInOneSync(t *testing.T) {
	e := newE2E(t, "crd")
	e.write(map[string]string{
		"crd.yaml": `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.e2e.plumb.dev
spec:
  group: e2e.plumb.dev
  scope: Namespaced
  names: {kind: Widget, plural: widgets, singular: widget}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            properties:
              size: {type: integer, default: 3}
`,
		"widget.yaml": "apiVersion: e2e.plumb.dev/v1\nkind: Widget\nmetadata:\n  name: w1\nspec: {}\n",
	})
	e.mustPlumb(exitChanges, "diff", e.dir, "--app", "crd")
	out := e.mustPlumb(exitOK, "sync", e.dir, "--app", "crd", "--dry-run")
	if !strings.Contains(out, "2 created") || strings.Contains(e.kubectl("get", "crd", "-o", "name"), "widgets.e2e.plumb.dev") {
		t.Errorf("dry-run of a first install:\n%s", out)
	}
	e.mustPlumb(exitOK, "sync", e.dir, "--app", "crd", "--wait", "--timeout", "1m")
	if got := e.kubectl("get", "widgets.e2e.plumb.dev", "w1", "-o", "jsonpath={.spec.size}"); got != "3" {
		t.Errorf("widget spec.size = %q, want the schema default 3", got)
	}
	e.mustPlumb(exitOK, "diff", e.dir, "--app", "crd")
}

// Acceptance 5: a planted Secret value appears in no output.
func TestSecretValueNeverPrinted(t *testing.T) {
	e := newE2E(t, "secret")
	const planted = "PLANTED-7f3c9e2a-value"
	secret := func(value string) string {
		return "apiVersion: v1\nkind: Secret\nmetadata:\n  name: creds\nstringData:\n  password: " + value + "\n"
	}
	var outputs []string
	collect := func(args ...string) {
		_, out, errOut := e.plumb(args...)
		outputs = append(outputs, out, errOut)
	}
	e.write(map[string]string{"s.yaml": secret(planted)})
	for _, o := range []string{"text", "json", "markdown"} {
		collect("diff", e.dir, "--app", "secret", "-o", o)
	}
	collect("-v", "9", "sync", e.dir, "--app", "secret", "--wait", "--timeout", "30s")
	collect("status", e.dir, "--app", "secret")
	e.write(map[string]string{"s.yaml": secret(planted + "-changed")})
	for _, o := range []string{"text", "json", "markdown"} {
		collect("diff", e.dir, "--app", "secret", "-o", o)
	}
	// An invalid Secret: the API server's error must not carry the value.
	e.write(map[string]string{"s.yaml": "apiVersion: v1\nkind: Secret\nmetadata:\n  name: creds\ntype: kubernetes.io/tls\ndata:\n  password: " + base64.StdEncoding.EncodeToString([]byte(planted)) + "\n"})
	code, out, errOut := e.plumb("sync", e.dir, "--app", "secret")
	outputs = append(outputs, out, errOut)
	if code != exitError {
		t.Errorf("invalid Secret synced with exit %d", code)
	}
	all := strings.Join(outputs, "\n")
	rec := &testreport.Entry{Kind: testreport.Leak, Name: fmt.Sprintf("CLI: %d outputs of diff (text, JSON, Markdown), sync -v 9, status, a rejected Secret", len(outputs)), OK: true}
	testreport.Record(t, rec)
	for _, needle := range []string{planted, base64.StdEncoding.EncodeToString([]byte(planted)), base64.StdEncoding.EncodeToString([]byte(planted + "-changed"))} {
		if strings.Contains(all, needle) {
			rec.Leaks++
			t.Errorf("secret value %q leaked into output", needle)
		}
	}
	if !strings.Contains(all, "*** (changed)") {
		t.Error("a changed Secret value is not shown as changed")
	}
}

// Acceptance 6: an immutable change fails clearly, and --force recreates.
func TestImmutableChangeNeedsForce(t *testing.T) {
	e := newE2E(t, "immutable")
	e.write(map[string]string{"web.yaml": deployment("web", "nginx", 1, "")})
	e.mustPlumb(exitOK, "sync", e.dir, "--app", "immutable")
	before, err := e.cs.AppsV1().Deployments(e.ns).Get(e.ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	e.write(map[string]string{"web.yaml": strings.ReplaceAll(deployment("web", "nginx", 1, ""), "{app: web}", "{app: web2}")})
	out := e.mustPlumb(exitError, "sync", e.dir, "--app", "immutable")
	if !strings.Contains(out, "Deployment.apps/e2e-immutable/web") || !strings.Contains(out, "immutable") || !strings.Contains(out, "--force") {
		t.Errorf("immutable error unclear:\n%s", out)
	}
	e.mustPlumb(exitOK, "sync", e.dir, "--app", "immutable", "--force")
	after, err := e.cs.AppsV1().Deployments(e.ns).Get(e.ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if after.UID == before.UID || after.Spec.Selector.MatchLabels["app"] != "web2" {
		t.Errorf("not recreated: uid %s -> %s, selector %v", before.UID, after.UID, after.Spec.Selector.MatchLabels)
	}
}

// Acceptance 7: a rollout that cannot finish fails the wait, naming the
// object and reason; a paused Deployment is Suspended.
func TestWaitFailsOnProgressDeadlineAndReportsPaused(t *testing.T) {
	e := newE2E(t, "rollout")
	stuck := deployment("stuck", "nginx", 1, "      nodeSelector: {no-such-node: \"true\"}\n")
	stuck = strings.Replace(stuck, "spec:\n  replicas", "spec:\n  progressDeadlineSeconds: 2\n  replicas", 1)
	e.write(map[string]string{"stuck.yaml": stuck})
	out := e.mustPlumb(exitError, "sync", e.dir, "--app", "rollout", "--wait", "--timeout", "90s")
	if !strings.Contains(out, "Deployment.apps/e2e-rollout/stuck") || !strings.Contains(out, "ProgressDeadlineExceeded") {
		t.Errorf("wait failure does not name the object and reason:\n%s", out)
	}
	paused := strings.Replace(deployment("paused", "nginx", 1, ""), "spec:\n  replicas", "spec:\n  paused: true\n  replicas", 1)
	e.write(map[string]string{"paused.yaml": paused})
	out = e.mustPlumb(exitOK, "sync", e.dir, "--app", "rollout-paused", "--wait", "--timeout", "60s")
	if !strings.Contains(out, "app rollout-paused: Suspended") {
		t.Errorf("paused deployment not Suspended:\n%s", out)
	}
	out = e.mustPlumb(exitOK, "status", e.dir, "--app", "rollout-paused")
	if !strings.Contains(out, "Suspended") {
		t.Errorf("status:\n%s", out)
	}
}

// Acceptance 8: objects created with kubectl apply (client-side) are taken
// over, so a field removed in Git is removed from the live object.
func TestTakeOverFromClientSideApply(t *testing.T) {
	e := newE2E(t, "takeover")
	manifest := "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n  labels: {tier: web}\ndata:\n  keep: \"1\"\n  drop: \"2\"\n"
	e.write(map[string]string{"cm.yaml": manifest})
	e.kubectl("apply", "-f", filepath.Join(e.dir, "cm.yaml"))
	e.mustPlumb(exitOK, "sync", e.dir, "--app", "takeover")
	e.write(map[string]string{"cm.yaml": strings.Replace(strings.Replace(manifest, "  drop: \"2\"\n", "", 1), "  labels: {tier: web}\n", "", 1)})
	e.mustPlumb(exitOK, "sync", e.dir, "--app", "takeover")
	cm, err := e.cs.CoreV1().ConfigMaps(e.ns).Get(e.ctx, "settings", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := cm.Data["drop"]; ok {
		t.Errorf("data.drop still live after removal from git: %v", cm.Data)
	}
	if _, ok := cm.Labels["tier"]; ok {
		t.Errorf("label tier still live after removal from git: %v", cm.Labels)
	}
	for _, mf := range cm.ManagedFields {
		if mf.Manager == "kubectl-client-side-apply" {
			t.Errorf("kubectl-client-side-apply still owns fields: %s", mf.FieldsV1.Raw)
		}
	}
}

// Preview --live adds a diff of head against the cluster.
func TestPreviewLive(t *testing.T) {
	e := newE2E(t, "preview-live")
	p, base := newPreviewRepo(t, gittest.Tree{
		"app/cm.yaml": {Content: "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: flags\ndata:\n  mode: a\n"},
		// The App's name doubles as its destination namespace: e.ns.
		"apps.yaml": {Content: appManifest(e.ns, "app", "")},
	})
	dir := filepath.Join(t.TempDir(), "app")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "cm.yaml"), []byte("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: flags\ndata:\n  mode: a\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	e.mustPlumb(exitOK, "sync", dir, "--app", e.ns)
	head := p.change(gittest.Files(map[string]string{"app/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: flags\ndata:\n  mode: b\n"}))
	code, out, errOut := p.preview(t, base, head, "--live", "--kubeconfig", env.Kubeconfig, "-o", "json")
	if code != exitChanges {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	rep := previewJSON(t, out)
	if len(rep.Apps) != 1 || rep.Apps[0].Live == nil {
		t.Fatalf("no live report: %s", out)
	}
	live := rep.Apps[0].Live.Results
	if len(live) != 1 || live[0].Action != "update" || !strings.Contains(live[0].Diff, "+  mode: b") {
		t.Errorf("live diff = %+v", live)
	}
}

// The App CRD installs (synced by plumb itself) and kubectl shows its
// printer columns for an App.
func TestAppCRDInstallsWithColumns(t *testing.T) {
	e := newE2E(t, "crd-install")
	install := filepath.Join(repoRootDir(t), "examples", "install")
	e.mustPlumb(exitOK, "sync", install, "--app", "plumb-install", "--wait", "--timeout", "1m")
	e.write(map[string]string{"app.yaml": appManifest("guestbook", "apps/guestbook", "  render:\n    helm:\n      values: {replicaCount: 2}\n")})
	e.kubectl("apply", "--server-side", "-f", filepath.Join(e.dir, "app.yaml"))
	out := e.kubectl("get", "apps.plumb.dev")
	for _, col := range []string{"REPO", "PATH", "REVISION", "SYNCED", "HEALTH", "AGE", "guestbook", "https://git.example.com/gitops.git"} {
		if !strings.Contains(out, col) {
			t.Errorf("kubectl get apps.plumb.dev lacks %q:\n%s", col, out)
		}
	}
	if got := e.kubectl("get", "apps.plumb.dev", "guestbook", "-o", "jsonpath={.spec.render.helm.values.replicaCount}"); got != "2" {
		t.Errorf("helm values not preserved by the schema: %q", got)
	}
}

func repoRootDir(t testing.TB) string {
	t.Helper()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(wd, "..", "..")
}
