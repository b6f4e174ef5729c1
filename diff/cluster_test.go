package diff

import (
	"context"
	"encoding/base64"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/kubernetes"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/plumbhq/plumb/cluster"
	"github.com/plumbhq/plumb/internal/testenv"
)

var env *testenv.Env

func TestMain(m *testing.M) { os.Exit(testenv.Main(m, testenv.Options{Nodes: 1}, &env)) }

// counting is a Cluster that counts the requests Compute makes.
type counting struct {
	c        *cluster.Client
	requests atomic.Int64
}

func (k *counting) Get(ctx context.Context, o *unstructured.Unstructured) (*unstructured.Unstructured, error) {
	k.requests.Add(1)
	return k.c.Get(ctx, o)
}

func (k *counting) DryRunApply(ctx context.Context, o *unstructured.Unstructured) (*unstructured.Unstructured, error) {
	k.requests.Add(1)
	return k.c.DryRunApply(ctx, o)
}

// objectsIn parses YAML documents into namespace ns (namespaced kinds).
func objectsIn(t *testing.T, ns string, docs ...string) []*unstructured.Unstructured {
	t.Helper()
	var out []*unstructured.Unstructured
	for _, d := range docs {
		u := &unstructured.Unstructured{}
		if err := sigsyaml.Unmarshal([]byte(d), &u.Object); err != nil {
			t.Fatalf("%v in\n%s", err, d)
		}
		if u.GetKind() != "CustomResourceDefinition" {
			u.SetNamespace(ns)
		}
		out = append(out, u)
	}
	return out
}

const (
	plantedOld = "PLANTED-diff-old-91c2"
	plantedNew = "PLANTED-diff-new-5e07"
)

func secretDoc(v string) string {
	return "apiVersion: v1\nkind: Secret\nmetadata: {name: creds}\nstringData: {password: " + v + "}\n"
}

func deployDoc(replicas string) string {
	return `apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: ` + replicas + `
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: main, image: nginx}]}
`
}

// TestComputeAgainstTheCluster applies objects as plumb, changes some the
// way users and controllers do, and checks each object's action and diff.
func TestComputeAgainstTheCluster(t *testing.T) {
	testenv.RequireEnv(t, env)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := cluster.NewClient(env.Config)
	if err != nil {
		t.Fatal(err)
	}
	cs := kubernetes.NewForConfigOrDie(env.Config)
	const ns = "diff-compute"
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	applied := objectsIn(t, ns,
		"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: same}\ndata: {a: \"1\"}\n",
		"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: changed}\ndata: {a: \"1\"}\n",
		"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: leftover}\ndata: {a: \"1\"}\n",
		secretDoc(plantedOld), deployDoc("2"))
	for _, o := range applied {
		if _, err := c.Apply(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	// An autoscaler takes /spec/replicas.
	scale := &autoscalingv1.Scale{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: ns}, Spec: autoscalingv1.ScaleSpec{Replicas: 5}}
	if _, err := cs.AppsV1().Deployments(ns).UpdateScale(ctx, "web", scale, metav1.UpdateOptions{FieldManager: "hpa"}); err != nil {
		t.Fatal(err)
	}
	desired := objectsIn(t, ns,
		"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: same}\ndata: {a: \"1\"}\n",
		"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: changed}\ndata: {a: \"2\"}\n",
		"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: added}\ndata: {a: \"1\"}\n",
		secretDoc(plantedNew), deployDoc("2"))
	leftover, err := c.Get(ctx, applied[2])
	if err != nil {
		t.Fatal(err)
	}
	rep := Compute(ctx, c, desired, []*unstructured.Unstructured{leftover}, Options{
		Ignore: []IgnoreDifference{{Group: "apps", Kind: "Deployment", ManagedFieldsManagers: []string{"hpa"}}},
	})
	got := map[string]Action{}
	var texts []string
	for _, r := range rep.Results {
		got[r.Ref.Kind+"/"+r.Ref.Name] = r.Action
		texts = append(texts, r.Diff, r.Error)
	}
	want := map[string]Action{
		"ConfigMap/same": Unchanged, "ConfigMap/changed": Update, "ConfigMap/added": Create,
		"ConfigMap/leftover": Prune, "Secret/creds": Update, "Deployment/web": Unchanged,
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("actions (-want +got):\n%s", d)
	}
	all := strings.Join(texts, "\n")
	for _, needle := range []string{plantedOld, plantedNew, base64.StdEncoding.EncodeToString([]byte(plantedOld)), base64.StdEncoding.EncodeToString([]byte(plantedNew))} {
		if strings.Contains(all, needle) {
			t.Errorf("a Secret value leaked into the report: %q", needle)
		}
	}
	for _, must := range []string{"*** (changed)", `-  a: "1"`, `+  a: "2"`} {
		if !strings.Contains(all, must) {
			t.Errorf("report lacks %q:\n%s", must, all)
		}
	}
}

// TestComputeVouchedAndComing: objects the caller's fingerprints
// vouch for are unchanged without a request; CRDs and their custom
// resources that do not exist yet are creates, not errors.
func TestComputeVouchedAndComing(t *testing.T) {
	testenv.RequireEnv(t, env)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := cluster.NewClient(env.Config)
	if err != nil {
		t.Fatal(err)
	}
	k := &counting{c: c}
	desired := objectsIn(t, "default", `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: gadgets.diff.plumb.dev}
spec:
  group: diff.plumb.dev
  scope: Namespaced
  names: {kind: Gadget, plural: gadgets}
  versions: [{name: v1, served: true, storage: true, schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}}]
`, "apiVersion: diff.plumb.dev/v1\nkind: Gadget\nmetadata: {name: g1}\n",
		"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: vouched}\n")
	rep := Compute(ctx, k, desired, nil, Options{Unchanged: func(u *unstructured.Unstructured) bool { return u.GetName() == "vouched" }})
	got := map[string]Action{}
	for _, r := range rep.Results {
		got[r.Ref.Kind] = r.Action
	}
	if d := cmp.Diff(map[string]Action{"CustomResourceDefinition": Create, "Gadget": Create, "ConfigMap": Unchanged}, got); d != "" {
		t.Errorf("actions (-want +got):\n%s\n%+v", d, rep)
	}
	if n := k.requests.Load(); n != 4 {
		t.Errorf("%d requests, want 4: a GET and a dry-run for each of two objects, none for the vouched one", n)
	}
}
