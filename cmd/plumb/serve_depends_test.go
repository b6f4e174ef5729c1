package main

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/plumbhq/plumb/api/v1alpha1"
	"github.com/plumbhq/plumb/controller"
	"github.com/plumbhq/plumb/internal/gittest"
)

// Issue W, acceptance 5: App b depends on App a, whose Deployment cannot
// schedule: b's objects never appear and b says what it waits for; once a
// is fixed in Git and Ready, a wakes b (which polls only hourly) and b is
// applied; the test logs how soon after a became Ready.
func TestServeDependsOn(t *testing.T) {
	s := newServeEnv(t, "serve-depends", gittest.Options{})
	stuck := deployment("db", "nginx", 1, "      nodeSelector: {no-such-node: \"true\"}\n")
	s.commit(map[string]string{"dep-a/db.yaml": stuck, "dep-b/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: web-settings}\ndata: {db: db}\n"}, "two Apps, b after a")
	poll := &metav1.Duration{Duration: 2 * time.Second}
	a := chartApp(s.ns, "a", v1alpha1.Source{RepoURL: s.repo.URL, Ref: "main", Path: "dep-a"}, poll)
	// b polls once an hour: only a's becoming Ready can wake it in time.
	b := chartApp(s.ns, "b", v1alpha1.Source{RepoURL: s.repo.URL, Ref: "main", Path: "dep-b"}, &metav1.Duration{Duration: time.Hour})
	b.Spec.DependsOn = []v1alpha1.AppReference{{Name: "a"}}
	s.createApps([]v1alpha1.App{a, b})
	startServe(t, "--watch-namespace", s.ns)

	eventually(t, 30*time.Second, "b waits for a", func() (bool, string) {
		got := s.app("b")
		c := meta.FindStatusCondition(got.Status.Conditions, controller.ConditionReady)
		return c != nil && c.Reason == controller.ReasonDependencyNotReady && strings.Contains(c.Message, "waiting for App "+s.ns+"/a"), describe(got)
	})
	time.Sleep(3 * time.Second) // a keeps rolling out, unschedulable
	if out, err := s.kubectlIn(s.ns, "get", "configmap", "web-settings"); err == nil {
		t.Fatalf("b's ConfigMap exists while a is not Ready: %s", out)
	}

	s.commit(map[string]string{"dep-a/db.yaml": deployment("db", "nginx", 1, "")}, "a: schedulable")
	eventually(t, 60*time.Second, "b's ConfigMap", func() (bool, string) {
		_, err := s.kubectlIn(s.ns, "get", "configmap", "web-settings")
		return err == nil, describe(s.app("a")) + " | " + describe(s.app("b"))
	})
	aReady := meta.FindStatusCondition(s.app("a").Status.Conditions, controller.ConditionReady)
	created := s.kubectl("get", "configmap", "web-settings", "-o", "jsonpath={.metadata.creationTimestamp}")
	at, err := time.Parse(time.RFC3339, strings.TrimSpace(created))
	if err != nil || aReady == nil {
		t.Fatalf("times: %v, %v", err, aReady)
	}
	gap := at.Sub(aReady.LastTransitionTime.Time)
	t.Logf("b was applied %s after a became Ready (timestamps have a resolution of one second)", gap)
}

// Issue W, item 5, in config-file mode: dependsOn works between the Apps
// of the file, and /api/v1/apps says what b waits for.
func TestServeDependsOnConfigMode(t *testing.T) {
	s := newServeEnv(t, "serve-depends-file", gittest.Options{})
	stuck := deployment("db", "nginx", 1, "      nodeSelector: {no-such-node: \"true\"}\n")
	s.commit(map[string]string{"dep-a/db.yaml": stuck, "dep-b/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: web-settings}\n"}, "two Apps, b after a")
	poll := &metav1.Duration{Duration: time.Second}
	a := chartApp("", "a", v1alpha1.Source{RepoURL: s.repo.URL, Ref: "main", Path: "dep-a"}, poll)
	b := chartApp("", "b", v1alpha1.Source{RepoURL: s.repo.URL, Ref: "main", Path: "dep-b"}, poll)
	b.Spec.DependsOn = []v1alpha1.AppReference{{Name: "a"}}
	config := filepath.Join(t.TempDir(), "apps.yaml")
	if err := os.WriteFile(config, appsYAML(t, []v1alpha1.App{a, b}), 0o600); err != nil {
		t.Fatal(err)
	}
	d := startServe(t, "-n", s.ns, "--config", config)
	apiApp := func(name string) v1alpha1.App {
		code, body := d.get("/api/v1/apps")
		var list v1alpha1.AppList
		if code != http.StatusOK || json.Unmarshal([]byte(body), &list) != nil {
			t.Fatalf("GET /api/v1/apps: %d %s", code, body)
		}
		for _, a := range list.Items {
			if a.Name == name {
				return a
			}
		}
		t.Fatalf("App %s not in /api/v1/apps: %s", name, body)
		return v1alpha1.App{}
	}
	eventually(t, 30*time.Second, "b waits for a", func() (bool, string) {
		got := apiApp("b")
		c := meta.FindStatusCondition(got.Status.Conditions, controller.ConditionReady)
		return c != nil && c.Reason == controller.ReasonDependencyNotReady && strings.Contains(c.Message, "/a"), describe(got)
	})
	if out, err := s.kubectlIn(s.ns, "get", "configmap", "web-settings"); err == nil {
		t.Fatalf("b's ConfigMap exists while a is not Ready: %s", out)
	}
	s.commit(map[string]string{"dep-a/db.yaml": deployment("db", "nginx", 1, "")}, "a: schedulable")
	eventually(t, 60*time.Second, "b's ConfigMap", func() (bool, string) {
		_, err := s.kubectlIn(s.ns, "get", "configmap", "web-settings")
		return err == nil, describe(apiApp("a")) + " | " + describe(apiApp("b"))
	})
}
