package main

import (
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/plumbhq/plumb/api/v1alpha1"
	"github.com/plumbhq/plumb/controller"
	"github.com/plumbhq/plumb/internal/gittest"
	"github.com/plumbhq/plumb/internal/testreport"
)

func ptr[T any](v T) *T { return &v }

// Acceptance (S) 2: plumb serve with one innocent App and one App of each
// bomb class. The innocent App stays Synced and Healthy and applies a new
// commit as it did before the others came; plumb serve's own memory stays
// under 300 MiB throughout (each render runs in a worker, with its own
// limit); every hostile App is Stalled naming the limit it hit.
func TestServeHostileApps(t *testing.T) {
	rec := &testreport.Entry{Kind: testreport.Fault, Name: "hostile Apps beside an innocent one (plumb serve)", OK: true}
	testreport.Record(t, rec)
	s := newServeEnv(t, "serve-hostile", gittest.Options{})
	const chart = "apiVersion: v2\nname: bomb\nversion: 0.1.0\n"
	files := map[string]string{}
	hostile := map[string]struct {
		want   string
		limits *v1alpha1.RenderLimits
	}{
		"aliases": {want: "r.yaml: its YAML aliases expand it to more than 16777216 bytes"},
		"until":   {want: "render exceeded 512 MiB of memory"},
		"tpl":     {want: "render exceeded"},
		"defines": {want: "render exceeded its 3s time limit", limits: &v1alpha1.RenderLimits{Timeout: &metav1.Duration{Duration: 3 * time.Second}}},
		"output":  {want: "over the 1 MiB limit", limits: &v1alpha1.RenderLimits{Output: ptr(resource.MustParse("1Mi"))}},
	}
	files["hostile/aliases/kustomization.yaml"] = "resources: [r.yaml]\n"
	files["hostile/aliases/r.yaml"] = aliasBomb(9)
	for name, body := range map[string]string{"until": "{{ until 300000000 | len }}", "defines": nestedDefines(40), "tpl": "{{ tpl .Values.x . }}"} {
		files["hostile/"+name+"/Chart.yaml"] = chart
		files["hostile/"+name+"/templates/cm.yaml"] = body
	}
	files["hostile/tpl/values.yaml"] = "x: '{{ tpl .Values.x . }}'\n"
	files["hostile/output/big.yaml"] = bareConfigMap("big") + "data:\n  big: " + strings.Repeat("x", 2<<20) + "\n"
	s.commit(files, "hostile Apps")

	innocent := s.exampleApps(s.repo.URL, nil)[:1] // plain
	s.createApps(innocent)
	d := startServe(t, "--watch-namespace", s.ns)
	var peak atomic.Int64
	stop := make(chan struct{})
	defer close(stop)
	go func() { // sample plumb serve's resident memory throughout
		for {
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Millisecond):
				if kib := procMemKiB(t, d.proc.Pid(), "VmRSS"); kib > peak.Load() {
					peak.Store(kib)
				}
			}
		}
	}()
	s.waitReady(60*time.Second, "plain")
	before := s.innocentCommit("before")

	var apps []v1alpha1.App
	for name, h := range hostile {
		apps = append(apps, v1alpha1.App{
			TypeMeta:   metav1.TypeMeta{APIVersion: v1alpha1.APIVersion, Kind: v1alpha1.Kind},
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: s.ns},
			Spec: v1alpha1.AppSpec{
				Source:     v1alpha1.Source{RepoURL: s.repo.URL, Ref: "main", Path: "hostile/" + name},
				Render:     v1alpha1.RenderOptions{Limits: h.limits},
				SyncPolicy: v1alpha1.SyncPolicy{Prune: true, Interval: &metav1.Duration{Duration: 2 * time.Second}},
			},
		})
	}
	s.createApps(apps)
	for name, h := range hostile {
		eventually(t, 90*time.Second, name+" is Stalled naming its limit", func() (bool, string) {
			a := s.app(name)
			c := meta.FindStatusCondition(a.Status.Conditions, controller.ConditionStalled)
			return c != nil && c.Status == metav1.ConditionTrue && strings.Contains(c.Message, h.want), describe(a)
		})
	}
	during := s.innocentCommit("during")
	if peakMiB := peak.Load() >> 10; peakMiB >= 300 {
		t.Errorf("plumb serve's RSS peaked at %d MiB, want under 300", peakMiB)
	}
	// The innocent App's render may wait for a worker that a hostile render
	// holds, at most one render's limits long.
	if during > before+15*time.Second {
		t.Errorf("the innocent App applied a commit in %s beside the hostile Apps, %s before them", during, before)
	}
	rec.Detail = fmt.Sprintf("%d hostile Apps Stalled, each naming its limit; innocent commit applied in %.1fs before, %.1fs beside them; serve RSS peak %d MiB",
		len(hostile), before.Seconds(), during.Seconds(), peak.Load()>>10)
	t.Log(rec.Detail)
}

// innocentCommit changes the plain App's ConfigMap and returns how long
// plumb serve took to apply it (Ready at the new head).
func (s *serveEnv) innocentCommit(text string) time.Duration {
	s.t.Helper()
	cm := strings.Replace(readExample(s.t, "plain/configmap.yaml"), "hello from plain YAML", "hello "+text, 1)
	s.commit(map[string]string{"plain/configmap.yaml": cm}, "plain: "+text)
	return s.waitReady(60*time.Second, "plain")
}
