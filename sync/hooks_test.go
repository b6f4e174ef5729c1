package sync

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/plumbhq/plumb/render"
)

// job is a Job that kwok completes (its Pod reaches Succeeded), or, with
// fail, one whose Pod cannot schedule and that fails after a second.
func job(name string, fail bool, annotations ...string) string {
	var ann []string
	for i := 0; i+1 < len(annotations); i += 2 {
		ann = append(ann, fmt.Sprintf("%s: %q", annotations[i], annotations[i+1]))
	}
	meta := "name: " + name
	if strings.HasSuffix(name, "*") {
		meta = "generateName: " + strings.TrimSuffix(name, "*")
	}
	spec := "  backoffLimit: 0\n"
	pod := ""
	if fail {
		spec += "  activeDeadlineSeconds: 1\n"
		pod = "      nodeSelector: {no-such-node: \"true\"}\n"
	}
	return fmt.Sprintf(`apiVersion: batch/v1
kind: Job
metadata: {%s, annotations: {%s}}
spec:
%s  template:
    spec:
%s      restartPolicy: Never
      containers: [{name: run, image: busybox}]
`, meta, strings.Join(ann, ", "), spec, pod)
}

// hookActions are the hook changes of a sync, by hook name and phase.
func hookActions(changes ChangeSet) map[string]Action {
	out := map[string]Action{}
	for _, ch := range changes {
		if ch.Hook != "" {
			out[ch.Ref.Name+"@"+ch.Stage] = ch.Action
		}
	}
	return out
}

// renderChart renders a chart of a Deployment with a pre-install and a
// pre-upgrade Job, as Helm does, at image.
func (e *engine) renderChart(image string) (objs, hooks []*unstructured.Unstructured) {
	e.t.Helper()
	dir := e.t.TempDir()
	files := map[string]string{
		"Chart.yaml":             "apiVersion: v2\nname: shop\nversion: 0.1.0\n",
		"values.yaml":            "image: nginx:1\n",
		"templates/web.yaml":     deployment("web", "web", "{{ .Values.image }}"),
		"templates/install.yaml": job("install", false, HelmHookAnnotation, "pre-install"),
		"templates/upgrade.yaml": job("upgrade", false, HelmHookAnnotation, "pre-upgrade"),
	}
	for name, data := range files {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755); err != nil {
			e.t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			e.t.Fatal(err)
		}
	}
	res, err := render.Render(e.ctx, render.Source{Root: dir, Path: "."}, render.Options{
		Namespace: e.ns, Helm: render.HelmOptions{Values: map[string]any{"image": image}},
	})
	if err != nil {
		e.t.Fatal(err)
	}
	for _, o := range res.Objects {
		objs = append(objs, o.Object)
	}
	for _, h := range res.Hooks {
		hooks = append(hooks, h.Object)
	}
	return objs, hooks
}

// Issue W, acceptance 1: of a chart's hooks, pre-install runs on the first
// sync only, pre-upgrade on a later one with new content, and a self-heal
// runs none.
func TestHelmHooksByPhase(t *testing.T) {
	e := newEngine(t, "helm-hooks")
	web, hooks := e.renderChart("nginx:1")
	if len(hooks) != 2 || hooks[0].GetName() != "install" {
		t.Fatalf("the chart rendered hooks %v", hooks)
	}
	opts := Options{WaitWave: e.waitHealthy, Hooks: hooks}
	changes, err := e.a.Sync(e.ctx, web, opts)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(map[string]Action{"install@PreSync": Ran, "upgrade@": Skipped}, hookActions(changes)); d != "" {
		t.Errorf("first sync's hooks (-want +got):\n%s", d)
	}
	install := e.live(hooks[0])
	if install == nil || e.live(hooks[1]) != nil {
		t.Fatalf("after the first sync: pre-install Job %v, pre-upgrade Job present %v", install != nil, e.live(hooks[1]) != nil)
	}
	if done, created := completion(install), e.live(web[0]).GetCreationTimestamp(); done == "" || created.UTC().Format(time.RFC3339) < done {
		t.Errorf("Deployment created at %s, pre-install Job complete at %q: the hook did not run first", created, done)
	}

	// Self-heal: drift is corrected, no hook runs.
	if _, err := e.cs.AppsV1().Deployments(e.ns).Patch(e.ctx, "web", "application/merge-patch+json", []byte(`{"spec":{"replicas":3}}`), metav1.PatchOptions{FieldManager: "kubectl-edit"}); err != nil {
		t.Fatal(err)
	}
	changes, err = e.a.Sync(e.ctx, web, opts)
	if err != nil {
		t.Fatal(err)
	}
	if got := hookActions(changes); got["install@"] != Skipped || got["upgrade@"] != Skipped || e.live(hooks[1]) != nil {
		t.Errorf("self-heal ran hooks: %v", got)
	}

	// New content: only pre-upgrade runs, before the Deployment changes.
	web, hooks = e.renderChart("nginx:2")
	opts.Hooks = hooks
	changes, err = e.a.Sync(e.ctx, web, opts)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(map[string]Action{"install@": Skipped, "upgrade@PreSync": Ran}, hookActions(changes)); d != "" {
		t.Errorf("upgrade's hooks (-want +got):\n%s", d)
	}
	if again := e.live(hooks[0]); again.GetUID() != install.GetUID() {
		t.Error("the pre-install Job was created again on an upgrade")
	}
	upgrade := e.live(hooks[1])
	if upgrade == nil || completion(upgrade) > lastApply(e.live(web[0])) {
		t.Errorf("pre-upgrade Job complete at %q, Deployment applied at %s", completion(upgrade), lastApply(e.live(web[0])))
	}
	// plumb diff compares the hooks with their last run: a changed hook is
	// a change, with its phase.
	changed := []*unstructured.Unstructured{hooks[0], hooks[1].DeepCopy()}
	changed[1].SetAnnotations(map[string]string{HelmHookAnnotation: "pre-upgrade", "example.com/v": "2"})
	rep, err := e.a.Diff(e.ctx, web, DiffOptions{Hooks: changed})
	if err != nil {
		t.Fatal(err)
	}
	hookResults := map[string]string{}
	for _, r := range rep.Results {
		if r.Hook != "" {
			hookResults[r.Ref.Name] = r.Hook + " " + string(r.Action)
		}
	}
	if d := cmp.Diff(map[string]string{"install": "pre-install unchanged", "upgrade": "pre-upgrade update"}, hookResults); d != "" || !rep.Changed() {
		t.Errorf("hook diff (-want +got):\n%s", d)
	}
	inv, err := ReadInventory(e.ctx, e.c, e.ns, "helm-hooks")
	if err != nil || len(inv.Hooks) != 2 || inv.HookContent == "" {
		t.Errorf("inventory hooks = %+v (content %q), %v; want both Jobs recorded", inv.Hooks, inv.HookContent, err)
	}
}

// Issue W, acceptance 2: a failing PreSync hook stops the sync before
// anything is applied or pruned, runs the SyncFail hooks and names itself;
// a fixed hook recovers.
func TestFailingPreSyncStopsTheSync(t *testing.T) {
	e := newEngine(t, "presync-fails")
	old := e.objs(configMap("old", map[string]string{"k": "v"}))
	web := e.objs(deployment("web", "web", "nginx:1"))
	e.mustSync(append(old, web...), Options{Prune: true, WaitWave: e.waitHealthy}, map[string]Action{"ConfigMap/old": Created, "Deployment.apps/web": Created})
	if err := e.waitHealthy(e.ctx, web); err != nil { // settled: its status writes are done
		t.Fatal(err)
	}
	rv := e.live(web[0]).GetResourceVersion()

	web = e.objs(deployment("web", "web", "nginx:2"))
	failing := e.objs(job("migrate", true, ArgoHookAnnotation, "PreSync"), job("cleanup-*", false, ArgoHookAnnotation, "SyncFail"))
	changes, err := e.a.Sync(e.ctx, web, Options{Prune: true, WaitWave: e.waitHealthy, Hooks: failing})
	if !errors.Is(err, ErrHookFailed) || !strings.Contains(err.Error(), "Job.batch/sync-presync-fails/migrate") {
		t.Fatalf("err = %v, want ErrHookFailed naming the Job", err)
	}
	if got := e.live(web[0]).GetResourceVersion(); got != rv {
		t.Errorf("Deployment's resourceVersion %s, was %s: it was applied after a failed PreSync", got, rv)
	}
	if e.live(old[0]) == nil {
		t.Error("ConfigMap/old was pruned after a failed PreSync")
	}
	if got := hookActions(changes); got["migrate@PreSync"] != Failed || !ranGenerated(changes, "cleanup-") {
		t.Errorf("hook changes = %v; want migrate failed and the SyncFail hook ran", got)
	}

	fixed := e.objs(job("migrate", false, ArgoHookAnnotation, "PreSync"), job("cleanup-*", false, ArgoHookAnnotation, "SyncFail"))
	changes, err = e.a.Sync(e.ctx, web, Options{Prune: true, WaitWave: e.waitHealthy, Hooks: fixed})
	if err != nil {
		t.Fatal(err)
	}
	if got := hookActions(changes); got["migrate@PreSync"] != Ran {
		t.Errorf("hook changes after the fix = %v", got)
	}
	if e.live(old[0]) != nil || e.live(web[0]).GetResourceVersion() == rv {
		t.Error("the fixed sync did not prune ConfigMap/old or update the Deployment")
	}
}

// Delete policies: hook-succeeded removes a hook that completed, and a
// generateName hook gets a new object each run, its last one removed by
// before-hook-creation.
func TestHookDeletePolicies(t *testing.T) {
	e := newEngine(t, "hook-policies")
	for i, image := range []string{"nginx:1", "nginx:2"} {
		hooks := e.objs(job("done", false, HelmHookAnnotation, "pre-install,pre-upgrade", HelmDeletePolicyAnnotation, "hook-succeeded"),
			job("gen*", false, HelmHookAnnotation, "post-install,post-upgrade"))
		if _, err := e.a.Sync(e.ctx, e.objs(deployment("web", "web", image)), Options{WaitWave: e.waitHealthy, Hooks: hooks}); err != nil {
			t.Fatalf("sync %d: %v", i, err)
		}
		if e.live(hooks[0]) != nil {
			t.Errorf("sync %d: a hook-succeeded Job is still there", i)
		}
		jobs, err := e.cs.BatchV1().Jobs(e.ns).List(e.ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		var gen []string
		for _, j := range jobs.Items {
			if strings.HasPrefix(j.Name, "gen") && j.DeletionTimestamp == nil {
				gen = append(gen, j.Name)
			}
		}
		if len(gen) != 1 {
			t.Errorf("sync %d: generateName Jobs %v, want exactly one", i, gen)
		}
	}
}

// ranGenerated reports whether a hook named by generateName prefix ran.
func ranGenerated(changes ChangeSet, prefix string) bool {
	for _, ch := range changes {
		if ch.Hook != "" && ch.Action == Ran && strings.HasPrefix(ch.Ref.Name, prefix) {
			return true
		}
	}
	return false
}

// completion is a Job's completionTime ("" while it runs).
func completion(u *unstructured.Unstructured) string {
	s, _, _ := unstructured.NestedString(u.Object, "status", "completionTime")
	return s
}

// lastApply is when plumb last applied u.
func lastApply(u *unstructured.Unstructured) string {
	last := ""
	for _, m := range u.GetManagedFields() {
		if m.Manager == "plumb" && m.Time != nil && m.Time.UTC().Format(time.RFC3339) > last {
			last = m.Time.UTC().Format(time.RFC3339)
		}
	}
	return last
}
