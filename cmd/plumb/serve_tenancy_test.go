package main

import (
	"fmt"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/plumbhq/plumb/api/v1alpha1"
	"github.com/plumbhq/plumb/controller"
	"github.com/plumbhq/plumb/internal/gittest"
)

// plumb serve's guardrails, live: createNamespace makes the destination;
// a commit that drops 4 of 10 objects under the default maxPrune (25%)
// applies the rest and holds the prunes, listed in PruneApprovalRequired,
// until the App is annotated with the revision; deletionPolicy delete
// removes exactly the App's inventory (not a protected object, not another
// App's) before the App goes, and orphan leaves everything.
func TestServeGuardrails(t *testing.T) {
	s := newServeEnv(t, "guardrails", gittest.Options{})
	dest := s.ns + "-made"
	files := map[string]string{}
	for i := range 10 {
		files[fmt.Sprintf("many/cm-%d.yaml", i)] = configMap(fmt.Sprintf("cm-%d", i), "")
	}
	files["many/keep.yaml"] = configMap("keep", "  annotations:\n    plumb.dev/prune: \"false\"\n")
	files["other/theirs.yaml"] = configMap("theirs", "")
	s.commit(files, "ten ConfigMaps")
	all := s.exampleApps(s.repo.URL, nil)
	many, other := all[0], all[1]
	many.Name, many.Spec.Source.Path, many.Spec.DeletionPolicy = "many", "many", "delete"
	other.Name, other.Spec.Source.Path = "other", "other"
	for _, a := range []*v1alpha1.App{&many, &other} {
		a.Spec.Destination.Namespace = dest
		a.Spec.SyncPolicy.CreateNamespace = true
		a.Spec.SyncPolicy.ManagedNamespaceMetadata = &v1alpha1.NamespaceMetadata{Labels: map[string]string{"team": "a"}}
	}
	s.createApps([]v1alpha1.App{many, other})
	startServe(t, "--watch-namespace", s.ns)
	s.waitReady(60*time.Second, "many", "other")
	ns, err := s.cs.CoreV1().Namespaces().Get(s.ctx, dest, metav1.GetOptions{})
	if err != nil || ns.Labels["team"] != "a" {
		t.Fatalf("createNamespace: %v, labels %v", err, ns.Labels)
	}

	// Drop cm-6..cm-9 (4 of 11) and change cm-0.
	var drop []string
	for i := 6; i < 10; i++ {
		drop = append(drop, fmt.Sprintf("many/cm-%d.yaml", i))
	}
	head, err := s.repo.Update("main", gittest.Files(map[string]string{
		"many/cm-0.yaml": configMap("cm-0", "  annotations:\n    changed: \"yes\"\n"),
	}), drop, "drop four")
	if err != nil {
		t.Fatal(err)
	}
	s.head = head
	eventually(t, 60*time.Second, "the prunes held for approval", func() (bool, string) {
		a := s.app("many")
		c := meta.FindStatusCondition(a.Status.Conditions, controller.ConditionPruneApproval)
		return c != nil && c.Status == metav1.ConditionTrue && strings.Contains(a.Status.LastAttemptedRevision, head) &&
			strings.Contains(c.Message, "pruning 4 of 11 objects exceeds maxPrune 25% (3)"), describe(a)
	})
	c := meta.FindStatusCondition(s.app("many").Status.Conditions, controller.ConditionPruneApproval)
	t.Logf("PruneApprovalRequired: %s", c.Message)
	for i := 6; i < 10; i++ {
		if !strings.Contains(c.Message, fmt.Sprintf("ConfigMap/%s/cm-%d", dest, i)) {
			t.Errorf("the condition does not list cm-%d", i)
		}
		if _, err := s.cs.CoreV1().ConfigMaps(dest).Get(s.ctx, fmt.Sprintf("cm-%d", i), metav1.GetOptions{}); err != nil {
			t.Errorf("cm-%d was pruned before approval: %v", i, err)
		}
	}
	if cm, err := s.cs.CoreV1().ConfigMaps(dest).Get(s.ctx, "cm-0", metav1.GetOptions{}); err != nil || cm.Annotations["changed"] != "yes" {
		t.Errorf("the rest of the change was not applied meanwhile: %v %v", err, cm.Annotations)
	}
	s.kubectl("annotate", "app", "many", controller.ApprovePruneAnnotation+"="+head)
	s.waitReady(60*time.Second, "many")
	for i := 6; i < 10; i++ {
		if _, err := s.cs.CoreV1().ConfigMaps(dest).Get(s.ctx, fmt.Sprintf("cm-%d", i), metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Errorf("cm-%d after approval: %v, want it pruned", i, err)
		}
	}
	if c := meta.FindStatusCondition(s.app("many").Status.Conditions, controller.ConditionPruneApproval); c != nil {
		t.Errorf("PruneApprovalRequired is still there after the prune: %+v", c)
	}

	checkAppDeletion(t, s, dest)
}

// checkAppDeletion deletes the Apps many (deletionPolicy delete) and other
// (orphan): delete takes exactly many's inventory, orphan nothing.
func checkAppDeletion(t *testing.T, s *serveEnv, dest string) {
	t.Helper()
	if a := s.app("many"); len(a.Finalizers) != 1 || a.Finalizers[0] != controller.Finalizer {
		t.Errorf("App many's finalizers: %v", a.Finalizers)
	}
	s.kubectl("delete", "app", "many", "other", "--timeout=60s")
	for name, want := range map[string]bool{"cm-0": false, "cm-5": false, "keep": true, "theirs": true} {
		_, err := s.cs.CoreV1().ConfigMaps(dest).Get(s.ctx, name, metav1.GetOptions{})
		if got := err == nil; got != want {
			t.Errorf("ConfigMap %s after the Apps' deletion: exists %v, want %v (%v)", name, got, want, err)
		}
	}
	if _, err := s.cs.CoreV1().ConfigMaps(s.ns).Get(s.ctx, "plumb-inventory-many", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("App many's inventory after its deletion: %v", err)
	}
	if _, err := s.cs.CoreV1().Namespaces().Get(s.ctx, dest, metav1.GetOptions{}); err != nil {
		t.Errorf("the created namespace went with the App: %v", err)
	}
}

// Two Apps render one ConfigMap under plumb serve: the second fails on it
// naming the first, and the object keeps the first's label and content;
// with plumb.dev/adopt: "true" the second takes it over and the first
// reports it lost, without pruning it.
func TestServeOwnership(t *testing.T) {
	s := newServeEnv(t, "ownership", gittest.Options{})
	shared := func(by, annotations string) string {
		return "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: shared\n" + annotations + "data:\n  by: " + by + "\n"
	}
	s.commit(map[string]string{"first/cm.yaml": shared("first", ""), "second/cm.yaml": shared("second", "")}, "one ConfigMap, two Apps")
	all := s.exampleApps(s.repo.URL, nil)
	first, second := all[0], all[1]
	first.Name, first.Spec.Source.Path = "first", "first"
	second.Name, second.Spec.Source.Path = "second", "second"
	s.createApps([]v1alpha1.App{first})
	startServe(t, "--watch-namespace", s.ns)
	s.waitReady(60*time.Second, "first")
	s.createApps([]v1alpha1.App{second})
	notReady := func(name, want string) {
		t.Helper()
		eventually(t, 60*time.Second, name+" reports the conflict", func() (bool, string) {
			a := s.app(name)
			c := meta.FindStatusCondition(a.Status.Conditions, controller.ConditionReady)
			return c != nil && c.Status == metav1.ConditionFalse && strings.Contains(c.Message, want), describe(a)
		})
		t.Logf("%s: %s", name, meta.FindStatusCondition(s.app(name).Status.Conditions, controller.ConditionReady).Message)
	}
	notReady("second", "ConfigMap/"+s.ns+"/shared: apply: ownership conflict: owned by App "+s.ns+"/first")
	owner := func() (string, string) {
		cm, err := s.cs.CoreV1().ConfigMaps(s.ns).Get(s.ctx, "shared", metav1.GetOptions{})
		if err != nil {
			t.Fatalf("the shared ConfigMap: %v", err)
		}
		return cm.Labels["plumb.dev/app"], cm.Data["by"]
	}
	if app, by := owner(); app != "first" || by != "first" {
		t.Errorf("after the refusal: owner %s, content %s; want first's", app, by)
	}

	s.commit(map[string]string{"second/cm.yaml": shared("second", "  annotations:\n    plumb.dev/adopt: \"true\"\n")}, "second adopts")
	s.waitReady(60*time.Second, "second")
	notReady("first", "owned by App "+s.ns+"/second")
	if app, by := owner(); app != "second" || by != "second" {
		t.Errorf("after the takeover: owner %s, content %s; want second's", app, by)
	}
}
