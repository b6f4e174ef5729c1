package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/plumbhq/plumb/api/v1alpha1"
	"github.com/plumbhq/plumb/internal/gittest"
	"github.com/plumbhq/plumb/internal/testreport"
	"github.com/plumbhq/plumb/sync"
)

// The fault suite (make test-faults; make test runs it too): the control
// plane, plumb serve and the Git server are broken on purpose while plumb
// works, and each test checks that plumb converges, loses nothing and
// prunes nothing it should not. Each records itself for the summary.

// bulkConfigMaps renders ConfigMaps bulk-0000 … as one YAML stream; names
// in skip are left out and version is their data.
func bulkConfigMaps(n int, version func(i int) string, skip ...int) string {
	skipped := map[int]bool{}
	for _, i := range skip {
		skipped[i] = true
	}
	var b strings.Builder
	for i := range n {
		if skipped[i] {
			continue
		}
		fmt.Fprintf(&b, "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: bulk-%04d\ndata:\n  version: %q\n", i, version(i))
	}
	return b.String()
}

// bulkState lists the namespace's bulk ConfigMaps: name → data.version, and
// name → resourceVersion.
func (s *serveEnv) bulkState() (versions, resourceVersions map[string]string) {
	s.t.Helper()
	list, err := s.cs.CoreV1().ConfigMaps(s.ns).List(s.ctx, metav1.ListOptions{LabelSelector: sync.AppLabel + "=bulk"})
	if err != nil {
		s.t.Fatal(err)
	}
	versions, resourceVersions = map[string]string{}, map[string]string{}
	for _, cm := range list.Items {
		versions[cm.Name] = cm.Data["version"]
		resourceVersions[cm.Name] = cm.ResourceVersion
	}
	return versions, resourceVersions
}

// bulkApp is an App of n ConfigMaps at path bulk/.
func (s *serveEnv) bulkApp(n int) v1alpha1.App {
	s.commit(map[string]string{"bulk/configmaps.yaml": bulkConfigMaps(n, func(int) string { return "v1" })}, "bulk v1")
	a := s.exampleApps(s.repo.URL, nil)[0]
	a.Name, a.Spec.Source.Path = "bulk", "bulk"
	a.Spec.SyncPolicy.Interval = &metav1.Duration{Duration: time.Second}
	return a
}

// bulkServeArgs run plumb serve for the 1,000-object Apps.
func bulkServeArgs(s *serveEnv) []string {
	return []string{"--watch-namespace", s.ns}
}

// waitApplies blocks until d has made n more non-dry-run applies than base.
func waitApplies(t *testing.T, d *plumbd, base, n float64) float64 {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if got := d.metric("plumb_kube_api_requests_total", `verb="apply"`, `dry_run="false"`); got >= base+n {
			return got
		}
		time.Sleep(2 * time.Millisecond)
	}
	t.Fatalf("plumb did not make %v applies", n)
	return 0
}

// expectBulk compares the bulk ConfigMaps with want and counts objects lost
// (missing or at the wrong version) and objects that should be gone.
func expectBulk(t *testing.T, got, want map[string]string) (lost int) {
	t.Helper()
	for name, v := range want {
		if got[name] != v {
			lost++
			if lost <= 5 {
				t.Errorf("%s: version %q, want %q", name, got[name], v)
			}
		}
	}
	for name := range got {
		if _, ok := want[name]; !ok {
			t.Errorf("%s should have been pruned", name)
		}
	}
	return lost
}

// kube-apiserver SIGKILLed in the middle of a sync of 1,000 objects, then
// restarted: plumb converges, the inventory matches, nothing is lost or
// wrongly pruned.
func TestFaultAPIServerKilledMidSync(t *testing.T) {
	rec := &testreport.Entry{Kind: testreport.Fault, Name: "kube-apiserver SIGKILLed mid-sync of 1,000 objects", OK: true}
	testreport.Record(t, rec)
	s := newServeEnv(t, "fault-apiserver", gittest.Options{})
	const n = 1000
	s.createApps([]v1alpha1.App{s.bulkApp(n)})
	d := startServe(t, bulkServeArgs(s)...)
	s.waitReady(2*time.Minute, "bulk")

	// v2: every object changes, bulk-0999 goes, bulk-1000 arrives.
	s.commit(map[string]string{"bulk/configmaps.yaml": bulkConfigMaps(n+1, func(int) string { return "v2" }, n-1)}, "bulk v2")
	want := map[string]string{}
	for i := range n + 1 {
		if i != n-1 {
			want[fmt.Sprintf("bulk-%04d", i)] = "v2"
		}
	}
	base := d.metric("plumb_kube_api_requests_total", `verb="apply"`, `dry_run="false"`)
	waitApplies(t, d, base, 100)
	env.KillAPIServer()
	killedAt := time.Now()
	time.Sleep(2 * time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := env.StartAPIServer(ctx); err != nil {
		t.Fatal(err)
	}
	took := s.waitReady(3*time.Minute, "bulk")
	// Prune deletes in the foreground: the garbage collector removes the
	// object a moment after plumb's delete.
	eventually(t, time.Minute, "bulk-0999 is pruned", func() (bool, string) {
		versions, _ := s.bulkState()
		_, left := versions["bulk-0999"]
		return !left, "still there"
	})
	versions, _ := s.bulkState()
	rec.Lost = expectBulk(t, versions, want)
	inv := s.kubectl("get", "configmap", sync.InventoryName("bulk"), "-o", "jsonpath={.data.inventory\\.json}")
	entries := strings.Count(inv, `"kind":"ConfigMap"`)
	if entries != n || strings.Contains(inv, `"bulk-0999"`) || !strings.Contains(inv, `"bulk-1000"`) {
		t.Errorf("inventory holds %d ConfigMaps (want %d, with bulk-1000 and without bulk-0999)", entries, n)
	}
	rec.Detail = fmt.Sprintf("killed after ≥100 of %d applies; converged %.1fs after the restart (%.1fs after the kill); %d lost", n+1, took.Seconds(), time.Since(killedAt).Seconds(), rec.Lost)
}

// plumb serve SIGKILLed in the middle of a sync and restarted: it
// converges, and writes neither the objects the killed process already
// applied nor the ones that never changed.
func TestFaultServeKilledMidSync(t *testing.T) {
	rec := &testreport.Entry{Kind: testreport.Fault, Name: "plumb serve SIGKILLed mid-sync", OK: true}
	testreport.Record(t, rec)
	s := newServeEnv(t, "fault-serve", gittest.Options{})
	const n = 1000
	s.createApps([]v1alpha1.App{s.bulkApp(n)})
	d := startServe(t, bulkServeArgs(s)...)
	s.waitReady(2*time.Minute, "bulk")
	_, before := s.bulkState()

	// Half the objects change.
	version := func(i int) string {
		if i < n/2 {
			return "v2"
		}
		return "v1"
	}
	s.commit(map[string]string{"bulk/configmaps.yaml": bulkConfigMaps(n, version)}, "bulk: half v2")
	base := d.metric("plumb_kube_api_requests_total", `verb="apply"`, `dry_run="false"`)
	waitApplies(t, d, base, 100)
	d.proc.Kill()
	done := 0
	killed, _ := s.bulkState()
	for _, v := range killed {
		if v == "v2" {
			done++
		}
	}
	if done == n/2 {
		t.Logf("the killed process had applied every change already; the restart must write nothing")
	}

	d2 := startServe(t, bulkServeArgs(s)...)
	s.waitReady(2*time.Minute, "bulk")
	want := map[string]string{}
	for i := range n {
		want[fmt.Sprintf("bulk-%04d", i)] = version(i)
	}
	versions, after := s.bulkState()
	rec.Lost = expectBulk(t, versions, want)
	for i := n / 2; i < n; i++ {
		name := fmt.Sprintf("bulk-%04d", i)
		if before[name] != after[name] {
			t.Errorf("%s never changed, yet was written (resourceVersion %s → %s)", name, before[name], after[name])
		}
	}
	// The restarted process applies the changed objects (those the killed
	// one finished are no-op applies: its inventory, with their new
	// fingerprints, was never written), the inventory and the App's status;
	// the 500 that never changed are vouched for by their fingerprints and
	// cost no request.
	applies := d2.metric("plumb_kube_api_requests_total", `verb="apply"`, `dry_run="false"`)
	if applies > float64(n/2)+3 {
		t.Errorf("the restarted controller made %v applies for %v changed objects", applies, n/2)
	}
	rec.Detail = fmt.Sprintf("killed with %d of %d changes applied; the restart made %v applies (none to the %d unchanged objects)", done, n/2, applies, n/2)
}

// gitFault switches a Git server between working, slow and garbage.
type gitFault struct {
	mode atomic.Int32 // 0 ok, 1 slow, 2 garbage
}

func (g *gitFault) install(srv *gittest.Server) {
	srv.SetHandler(func(backend http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			switch g.mode.Load() {
			case 1:
				select {
				case <-time.After(10 * time.Second):
				case <-r.Context().Done():
					return
				}
			case 2:
				w.Header().Set("Content-Type", "application/x-git-upload-pack-advertisement")
				_, _ = w.Write([]byte("\x00\xffgarbage, not a pkt-line\n\x01\x02"))
				return
			}
			backend.ServeHTTP(w, r)
		})
	})
}

// A Git server that is slow or answers garbage: the App is Stalled with a
// clear reason, keeps its last applied revision, prunes nothing, does not
// hold up an App of another repository, and recovers by itself.
func TestFaultGitServerSlowAndGarbage(t *testing.T) {
	s := newServeEnv(t, "fault-git", gittest.Options{})
	other, err := gittest.NewServer(gittest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { other.Close() })
	otherRepo, _ := exampleRepo(t, other, "other")
	fault := &gitFault{}
	fault.install(s.srv)
	apps := s.exampleApps(s.repo.URL, func(a *v1alpha1.App) { a.Spec.SyncPolicy.Interval = &metav1.Duration{Duration: time.Second} })
	apps[1].Spec.Source.RepoURL = otherRepo.URL
	s.createApps(apps[:2])
	startServe(t, "--watch-namespace", s.ns, "--reconcile-timeout", "2s", "--workers", "2")
	s.waitReady(60*time.Second, "plain")
	eventually(t, 60*time.Second, "the other repository's App is ready", func() (bool, string) {
		a := s.app("kustomize")
		return a.Status.SyncStatus == "Synced" && a.Status.Health == "Healthy", describe(a)
	})
	versions := s.liveVersions()
	applied := s.app("plain").Status.LastAppliedRevision

	for _, tc := range []struct {
		name string
		mode int32
		want string
	}{
		{"Git server slow (10 s per request, 2 s reconcile timeout)", 1, "context deadline exceeded"},
		{"Git server answering garbage", 2, "ls-remote"},
	} {
		rec := &testreport.Entry{Kind: testreport.Fault, Name: tc.name, OK: true}
		testreport.Record(t, rec)
		fault.mode.Store(tc.mode)
		eventually(t, 60*time.Second, tc.name+": the App is Stalled", func() (bool, string) {
			a := s.app("plain")
			for _, c := range a.Status.Conditions {
				if c.Type == "Stalled" && c.Status == metav1.ConditionTrue && c.Reason == "GitOperationFailed" && strings.Contains(c.Message, tc.want) {
					return true, ""
				}
			}
			return false, describe(a)
		})
		a := s.app("plain")
		if a.Status.LastAppliedRevision != applied {
			t.Errorf("%s: last applied revision %q, want %q kept", tc.name, a.Status.LastAppliedRevision, applied)
		}
		// The other repository's App is not held up.
		otherHead, err := otherRepo.Update("main", gittest.Files(map[string]string{"kustomize/base/service.yaml": strings.Replace(readExample(t, "kustomize/base/service.yaml"), "port: 80", "port: 8"+strconv.Itoa(int(tc.mode)), 1)}), nil, "other: port")
		if err != nil {
			t.Fatal(err)
		}
		eventually(t, 30*time.Second, tc.name+": the other repository's App still syncs", func() (bool, string) {
			got := s.app("kustomize")
			return got.Status.LastAppliedRevision == "main@sha1:"+otherHead, describe(got)
		})
		for k, v := range s.liveVersions() {
			if strings.Contains(k, "prod-web") || strings.Contains(k, "kustomize") {
				continue // the other App's objects and inventory, changed on purpose
			}
			if versions[k] != v {
				rec.Lost++
				t.Errorf("%s: %s changed during the fault (%s → %s)", tc.name, k, versions[k], v)
			}
		}
		fault.mode.Store(0)
		took := s.waitReady(60*time.Second, "plain")
		rec.Detail = fmt.Sprintf("reported as %q; recovered %.1fs after the server was fixed", tc.want, took.Seconds())
	}
}

// Another field manager force-applies a field plumb owns: plumb reports it
// and, as policy says, takes it back (selfHeal) or leaves it and reports
// OutOfSync (no selfHeal).
func TestFaultForcedApplyByAnotherManager(t *testing.T) {
	rec := &testreport.Entry{Kind: testreport.Fault, Name: "another field manager force-applies owned fields", OK: true}
	testreport.Record(t, rec)
	s := newServeEnv(t, "fault-conflict", gittest.Options{})
	apps := s.exampleApps(s.repo.URL, nil)
	apps[0].Spec.SyncPolicy.SelfHeal = true
	s.createApps([]v1alpha1.App{apps[0], apps[2]})
	startServe(t, "--watch-namespace", s.ns)
	s.waitReady(60*time.Second, "plain", "helm")

	intruder := func(manifest string) {
		file := t.TempDir() + "/intruder.yaml"
		if err := os.WriteFile(file, []byte(manifest), 0o600); err != nil {
			t.Fatal(err)
		}
		s.kubectl("apply", "--server-side", "--force-conflicts", "--field-manager", "intruder", "-f", file)
	}
	intruder("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: hello-config\ndata:\n  message: intruder\n")
	took := eventually(t, 30*time.Second, "selfHeal takes the field back", func() (bool, string) {
		got := s.kubectl("get", "configmap", "hello-config", "-o", "jsonpath={.data.message}")
		return got == "hello from plain YAML", got
	})
	events := s.kubectl("get", "events", "--field-selector", "involvedObject.name=plain", "-o", "jsonpath={range .items[*]}{.reason}: {.message}{\"\\n\"}{end}")
	if !strings.Contains(events, "1 configured") {
		t.Errorf("no Event reports the re-sync:\n%s", events)
	}

	intruder("apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: helm-greeter\nspec:\n  template:\n    spec:\n      containers:\n      - name: greeter\n        env:\n        - name: MESSAGE\n          value: intruder\n")
	eventually(t, 30*time.Second, "without selfHeal the App reports OutOfSync", func() (bool, string) {
		a := s.app("helm")
		return a.Status.SyncStatus == "OutOfSync", describe(a)
	})
	time.Sleep(2 * time.Second)
	if got := s.kubectl("get", "deployment", "helm-greeter", "-o", `jsonpath={.spec.template.spec.containers[0].env[?(@.name=="MESSAGE")].value}`); got != "intruder" {
		t.Errorf("without selfHeal plumb reverted the intruder's value: %q", got)
	}
	a := s.app("helm")
	rec.Detail = fmt.Sprintf("selfHeal took the field back in %.1fs; without selfHeal the App is %s and the value stays", took.Seconds(), a.Status.SyncStatus)
}
