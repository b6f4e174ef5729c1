package main

import (
	"context"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/plumbhq/plumb/cluster"
	"github.com/plumbhq/plumb/internal/gittest"
	"github.com/plumbhq/plumb/internal/testreport"
	"github.com/plumbhq/plumb/sync"
)

// publishIngressAddresses plays the ingress controller the test cluster
// lacks: it gives every Ingress of the test's namespace an address, which
// an Ingress needs to be Healthy (as in Argo CD), until the test ends.
func publishIngressAddresses(e *e2e) {
	ctx, cancel := context.WithCancel(e.ctx)
	e.t.Cleanup(cancel)
	go func() {
		tick := time.NewTicker(200 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			list, err := e.cs.NetworkingV1().Ingresses(e.ns).List(ctx, metav1.ListOptions{})
			if err != nil {
				continue
			}
			for i := range list.Items {
				ing := &list.Items[i]
				if len(ing.Status.LoadBalancer.Ingress) > 0 {
					continue
				}
				ing.Status.LoadBalancer.Ingress = []networkingv1.IngressLoadBalancerIngress{{IP: "203.0.113.10"}}
				_, _ = e.cs.NetworkingV1().Ingresses(e.ns).UpdateStatus(ctx, ing, metav1.UpdateOptions{})
			}
		}
	}()
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
			publishIngressAddresses(e)
			path := filepath.Join(corpus, app.path)
			// --adopt: another test (TestChartCapabilitiesAndMissingDependency) installs one of
			// prometheus-operator-crds' CRDs by hand, which plumb otherwise refuses to take.
			out := e.mustPlumb(exitOK, "sync", path, "--app", app.name, "--wait", "--timeout", "3m", "--adopt")
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

// The prune flags and render errors as the CLI reports them; the prune
// guards themselves are the engine's (sync's TestPruneGuards).
func TestPruneFlagsAndRenderErrors(t *testing.T) {
	e := newE2E(t, "prune")
	e.write(map[string]string{"a.yaml": configMap("gone", ""), "d.yaml": configMap("stays", "")})
	e.mustPlumb(exitOK, "sync", e.dir, "--app", "prune")

	e.write(map[string]string{"d.yaml": configMap("stays", "")})
	if out := e.mustPlumb(exitChanges, "diff", e.dir, "--app", "prune"); !strings.Contains(out, "ConfigMap/e2e-prune/gone (prune)") {
		t.Errorf("diff does not list the prune:\n%s", out)
	}
	e.mustPlumb(exitOK, "sync", e.dir, "--app", "prune", "--prune")
	// Foreground deletion: the garbage collector removes it shortly after.
	if err := wait.PollUntilContextTimeout(e.ctx, 100*time.Millisecond, 30*time.Second, true, func(context.Context) (bool, error) {
		return !e.configMapExists("gone"), nil
	}); err != nil {
		t.Errorf("ConfigMap gone still exists after sync --prune: %v", err)
	}

	e.write(map[string]string{"d.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: stays\n data: [\n"})
	if out := e.mustPlumb(exitError, "sync", e.dir, "--app", "prune", "--prune"); !strings.Contains(out, "d.yaml:") {
		t.Errorf("render error does not name the file:\n%s", out)
	}
	e.write(map[string]string{"README.md": "nothing here"})
	if out := e.mustPlumb(exitError, "sync", e.dir, "--app", "prune", "--prune"); !strings.Contains(out, "render produced no objects") {
		t.Errorf("empty render message:\n%s", out)
	}
	if !e.configMapExists("stays") {
		t.Error("a failed or empty render deleted objects")
	}
	e.mustPlumb(exitOK, "sync", e.dir, "--app", "prune", "--prune", "--allow-empty")
	if err := wait.PollUntilContextTimeout(e.ctx, 100*time.Millisecond, 30*time.Second, true, func(context.Context) (bool, error) {
		return !e.configMapExists("stays"), nil
	}); err != nil {
		t.Errorf("ConfigMap stays not pruned with --allow-empty: %v", err)
	}
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
