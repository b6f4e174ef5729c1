package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/plumbhq/plumb/api/v1alpha1"
	"github.com/plumbhq/plumb/charts"
	"github.com/plumbhq/plumb/controller"
	"github.com/plumbhq/plumb/internal/chartstest"
	"github.com/plumbhq/plumb/internal/gittest"
)

// Issue H, acceptance 1: an App whose source is a chart in a Helm
// repository (values from its Git directory) and one whose source is a
// chart in an OCI registry alone are Synced and Healthy; a version
// published within the first App's range, and a new version in the second
// App's spec, are applied within one interval; the status revision names
// the chart's version and digest.
func TestServeChartsFromRepositories(t *testing.T) {
	s := newServeEnv(t, "serve-charts", gittest.Options{})
	repo := chartstest.NewHelmRepo(t)
	repo.User, repo.Password = "robot", "PLANTED-chart-password-1f9e"
	repo.Publish(t, chartstest.Package(t, "web", "1.0.0", nil))
	reg := chartstest.NewOCIRegistry(t, "", "")
	db200 := chartstest.Package(t, "db", "2.0.0", nil)
	reg.Push(t, db200)
	reg.Push(t, chartstest.Package(t, "db", "2.1.0", nil))
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, chartstest.CAPEM(repo.Server), 0o600); err != nil {
		t.Fatal(err)
	}
	s.kubectl("create", "secret", "generic", "chart-creds", "--from-literal=username=robot", "--from-literal=password="+repo.Password)

	poll := &metav1.Duration{Duration: 2 * time.Second}
	web := chartApp(s.ns, "web", v1alpha1.Source{RepoURL: s.repo.URL, Ref: "main", Path: "plain",
		Chart: &v1alpha1.ChartSource{RepoURL: repo.Server.URL, Name: "web", Version: "^1.0.0", SecretRef: &v1alpha1.LocalObjectReference{Name: "chart-creds"}}}, poll)
	db := chartApp(s.ns, "db", v1alpha1.Source{Chart: &v1alpha1.ChartSource{RepoURL: "oci://" + reg.Host() + "/charts", Name: "db", Version: "2.0.0"}}, poll)
	s.createApps([]v1alpha1.App{web, db})
	startServe(t, "--watch-namespace", s.ns, "--chart-ca-file", ca)

	s.waitChart("db", "db@2.0.0/"+charts.DigestOf(db200), "")
	s.waitChart("web", "web@1.0.0/sha256:", "main@sha1:"+s.head+"; ")
	s.waitData("web", "1.0.0")

	repo.Publish(t, chartstest.Package(t, "web", "1.1.0", nil))
	took := s.waitData("web", "1.1.0")
	t.Logf("web 1.1.0, published in the App's range, was live %.1fs later (poll interval 2s)", took.Seconds())
	s.waitChart("web", "web@1.1.0/sha256:", "main@sha1:"+s.head+"; ")

	db.Spec.Source.Chart.Version = "2.1.0"
	s.createApps([]v1alpha1.App{db})
	took = s.waitData("db", "2.1.0")
	t.Logf("db 2.1.0, named in the App's spec, was live %.1fs later", took.Seconds())

	for _, name := range []string{"web", "db"} {
		if a := s.app(name); strings.Contains(describe(a), repo.Password) {
			t.Errorf("the chart repository's password is in App %s's status: %s", name, describe(a))
		}
	}
}

func chartApp(ns, name string, src v1alpha1.Source, interval *metav1.Duration) v1alpha1.App {
	return v1alpha1.App{
		TypeMeta:   metav1.TypeMeta{APIVersion: v1alpha1.APIVersion, Kind: v1alpha1.Kind},
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec:       v1alpha1.AppSpec{Source: src, SyncPolicy: v1alpha1.SyncPolicy{Prune: true, Interval: interval}},
	}
}

// waitChart waits until App name is Ready, Synced and Healthy with an
// applied revision of prefix gitPrefix followed by one starting chart.
func (s *serveEnv) waitChart(name, chart, gitPrefix string) time.Duration {
	s.t.Helper()
	return eventually(s.t, 60*time.Second, "App "+name+" at "+chart, func() (bool, string) {
		a := s.app(name)
		c := meta.FindStatusCondition(a.Status.Conditions, controller.ConditionReady)
		ok := c != nil && c.Status == metav1.ConditionTrue && a.Status.SyncStatus == controller.Synced &&
			a.Status.Health == "Healthy" && strings.HasPrefix(a.Status.LastAppliedRevision, gitPrefix+chart)
		return ok, describe(a)
	})
}

// waitData waits until the chart's ConfigMap (named after its chart) says
// version.
func (s *serveEnv) waitData(name, version string) time.Duration {
	s.t.Helper()
	return eventually(s.t, 30*time.Second, "ConfigMap "+name+" at "+version, func() (bool, string) {
		got := s.kubectl("get", "configmap", name, "-o", "jsonpath={.data.version}")
		return got == version, got
	})
}
