package main

import (
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/plumbhq/plumb/api/v1alpha1"
	"github.com/plumbhq/plumb/controller"
	"github.com/plumbhq/plumb/internal/gittest"
)

// hookJob is an Argo CD hook Job that kwok completes, or, with fail, one
// whose Pod cannot schedule and that fails after a second.
func hookJob(name, phase string, fail bool) string {
	meta := "name: " + name
	if strings.HasSuffix(name, "-") {
		meta = "generateName: " + name
	}
	pod := ""
	if fail {
		pod = "      nodeSelector: {no-such-node: \"true\"}\n"
	}
	return "apiVersion: batch/v1\nkind: Job\nmetadata:\n  " + meta + "\n  annotations: {argocd.argoproj.io/hook: " + phase + "}\n" +
		"spec:\n  backoffLimit: 0\n" + map[bool]string{true: "  activeDeadlineSeconds: 1\n"}[fail] +
		"  template:\n    spec:\n" + pod + "      restartPolicy: Never\n      containers: [{name: run, image: busybox}]\n"
}

// Issue W, acceptance 2 through plumb serve: a failing PreSync Job leaves
// the Deployment as it was and prunes nothing, runs the SyncFail hook and
// makes the App Ready=False naming the Job; fixing the Job in Git recovers
// by itself. A self-heal pass in between runs no hook.
func TestServeFailingPreSync(t *testing.T) {
	s := newServeEnv(t, "serve-hooks", gittest.Options{})
	s.commit(map[string]string{
		"hooks/web.yaml":     deployment("web", "nginx:1", 1, ""),
		"hooks/old.yaml":     "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: old}\n",
		"hooks/migrate.yaml": hookJob("migrate", "PreSync", false),
	}, "web with a migration")
	app := chartApp(s.ns, "hooks", v1alpha1.Source{RepoURL: s.repo.URL, Ref: "main", Path: "hooks"}, &metav1.Duration{Duration: time.Second})
	app.Spec.SyncPolicy.SelfHeal = true
	s.createApps([]v1alpha1.App{app})
	startServe(t, "--watch-namespace", s.ns, "--drift-interval", "1s")
	s.waitCondition("hooks", metav1.ConditionTrue, "")
	migrateUID := s.kubectl("get", "job", "migrate", "-o", "jsonpath={.metadata.uid}")

	// Self-heal: the drift is corrected, the PreSync hook does not run again.
	s.kubectl("scale", "deployment", "web", "--replicas=2")
	eventually(t, 30*time.Second, "self-heal", func() (bool, string) {
		got := s.kubectl("get", "deployment", "web", "-o", "jsonpath={.spec.replicas}")
		return got == "1", got
	})
	if uid := s.kubectl("get", "job", "migrate", "-o", "jsonpath={.metadata.uid}"); uid != migrateUID {
		t.Errorf("the PreSync Job was created again on a self-heal pass")
	}
	s.waitCondition("hooks", metav1.ConditionTrue, "")
	rv := s.kubectl("get", "deployment", "web", "-o", "jsonpath={.metadata.resourceVersion}")

	head, err := s.repo.Update("main", gittest.Files(map[string]string{
		"hooks/web.yaml":     deployment("web", "nginx:2", 1, ""),
		"hooks/migrate.yaml": hookJob("migrate", "PreSync", true),
		"hooks/onfail.yaml":  hookJob("page-oncall-", "SyncFail", false),
	}), []string{"hooks/old.yaml"}, "a migration that fails")
	if err != nil {
		t.Fatal(err)
	}
	s.head = head
	s.waitCondition("hooks", metav1.ConditionFalse, "Job.batch/"+s.ns+"/migrate")
	if got := s.kubectl("get", "deployment", "web", "-o", "jsonpath={.metadata.resourceVersion}"); got != rv {
		t.Errorf("the Deployment's resourceVersion is %s, was %s: it changed after a failed PreSync", got, rv)
	}
	if _, err := s.kubectlIn(s.ns, "get", "configmap", "old"); err != nil {
		t.Errorf("ConfigMap/old was pruned after a failed PreSync: %v", err)
	}
	if jobs := s.kubectl("get", "jobs", "-o", "jsonpath={.items[*].metadata.name}"); !strings.Contains(jobs, "page-oncall-") {
		t.Errorf("the SyncFail hook did not run: jobs %q", jobs)
	}

	s.commit(map[string]string{"hooks/migrate.yaml": hookJob("migrate", "PreSync", false)}, "fix the migration")
	s.waitCondition("hooks", metav1.ConditionTrue, "")
	eventually(t, 30*time.Second, "ConfigMap/old pruned", func() (bool, string) {
		_, err := s.kubectlIn(s.ns, "get", "configmap", "old")
		return err != nil, "still there"
	})
	if img := s.kubectl("get", "deployment", "web", "-o", "jsonpath={.spec.template.spec.containers[0].image}"); img != "nginx:2" {
		t.Errorf("image %q after the fix, want nginx:2", img)
	}
}

// waitCondition waits until App name's Ready condition has status and its
// message holds msg, at the repository's head.
func (s *serveEnv) waitCondition(name string, status metav1.ConditionStatus, msg string) {
	s.t.Helper()
	eventually(s.t, 60*time.Second, "App "+name+" Ready="+string(status), func() (bool, string) {
		a := s.app(name)
		c := meta.FindStatusCondition(a.Status.Conditions, controller.ConditionReady)
		ok := c != nil && c.Status == status && strings.Contains(c.Message, msg) && strings.Contains(a.Status.LastAttemptedRevision+a.Status.LastAppliedRevision, s.head)
		return ok, describe(a)
	})
}
