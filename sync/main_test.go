package sync

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/kubernetes"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/plumbhq/plumb/cluster"
	"github.com/plumbhq/plumb/internal/testenv"
	"github.com/plumbhq/plumb/resource"
)

var env *testenv.Env

func TestMain(m *testing.M) { os.Exit(testenv.Main(m, testenv.Options{Nodes: 1}, &env)) }

// engine is one contract test's namespace, client and App.
type engine struct {
	t   *testing.T
	ctx context.Context
	ns  string
	c   *cluster.Client
	cs  kubernetes.Interface
	a   *Applier
}

// newEngine makes a namespace for the test and the Applier of an App named
// after it, with its inventory in that namespace.
func newEngine(t *testing.T, name string) *engine {
	t.Helper()
	testenv.RequireEnv(t, env)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	c, err := cluster.NewClient(env.Config)
	if err != nil {
		t.Fatal(err)
	}
	cs := kubernetes.NewForConfigOrDie(env.Config)
	ns := "sync-" + name
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	a, err := NewApplier(c, ApplierOptions{App: name, InventoryNamespace: ns})
	if err != nil {
		t.Fatal(err)
	}
	return &engine{t: t, ctx: ctx, ns: ns, c: c, cs: cs, a: a}
}

// objs parses YAML documents, putting namespaced ones without a namespace
// in the test's.
func (e *engine) objs(docs ...string) []*unstructured.Unstructured {
	e.t.Helper()
	var out []*unstructured.Unstructured
	for _, d := range docs {
		u := &unstructured.Unstructured{}
		if err := sigsyaml.Unmarshal([]byte(d), &u.Object); err != nil {
			e.t.Fatalf("%v in\n%s", err, d)
		}
		if u.GetNamespace() == "" && u.GetKind() != "Namespace" && u.GetKind() != "CustomResourceDefinition" {
			u.SetNamespace(e.ns)
		}
		out = append(out, u)
	}
	return out
}

// sync runs a sync and returns its actions by object ("Kind/name" within
// the test's namespace, the full ref elsewhere).
func (e *engine) sync(desired []*unstructured.Unstructured, opts Options) (map[string]Action, error) {
	e.t.Helper()
	changes, err := e.a.Sync(e.ctx, desired, opts)
	return e.actions(changes), err
}

func (e *engine) actions(changes ChangeSet) map[string]Action {
	out := map[string]Action{}
	for _, ch := range changes {
		out[e.name(ch.Ref)] = ch.Action
	}
	return out
}

func (e *engine) name(r resource.Ref) string {
	if r.Namespace == e.ns {
		r.Namespace = ""
	}
	return r.String()
}

// mustSync syncs and fails the test unless the actions are want.
func (e *engine) mustSync(desired []*unstructured.Unstructured, opts Options, want map[string]Action) {
	e.t.Helper()
	got, err := e.sync(desired, opts)
	if err != nil {
		e.t.Fatalf("sync: %v", err)
	}
	if d := cmp.Diff(want, got); d != "" {
		e.t.Fatalf("actions (-want +got):\n%s", d)
	}
}

// live returns the object as the cluster holds it (nil when absent).
func (e *engine) live(o *unstructured.Unstructured) *unstructured.Unstructured {
	e.t.Helper()
	got, err := e.c.Get(e.ctx, o)
	if err != nil {
		e.t.Fatal(err)
	}
	if got != nil && got.GetDeletionTimestamp() != nil {
		return nil // on its way out (foreground deletion)
	}
	return got
}

func configMap(name string, data map[string]string, annotations ...string) string {
	y := "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: " + name + "\n"
	if len(annotations) > 0 {
		y += "  annotations:\n"
		for _, a := range annotations {
			y += "    " + a + "\n"
		}
	}
	y += "data:\n"
	for k, v := range data {
		y += "  " + k + ": " + `"` + v + `"` + "\n"
	}
	return y
}

func deployment(name, selector, image string) string {
	return strings.NewReplacer("NAME", name, "SEL", selector, "IMAGE", image).Replace(`apiVersion: apps/v1
kind: Deployment
metadata: {name: NAME}
spec:
  replicas: 1
  selector: {matchLabels: {app: SEL}}
  template:
    metadata: {labels: {app: SEL}}
    spec:
      containers: [{name: main, image: IMAGE}]
`)
}
