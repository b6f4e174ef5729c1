package testenv_test

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	appsv1ac "k8s.io/client-go/applyconfigurations/apps/v1"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
	metav1ac "k8s.io/client-go/applyconfigurations/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/plumbhq/plumb/internal/testenv"
)

var env *testenv.Env

func TestMain(m *testing.M) { os.Exit(testenv.Main(m, testenv.Options{Nodes: 2}, &env)) }

// TestDeploymentRollsOutOnKwokNodes proves the whole control plane works:
// server-side apply as "plumb", the controller manager creating a ReplicaSet
// and Pods, the scheduler binding them to kwok nodes, kwok making them Ready,
// and namespace deletion through the namespace controller.
func TestDeploymentRollsOutOnKwokNodes(t *testing.T) {
	testenv.RequireEnv(t, env)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cs := kubernetes.NewForConfigOrDie(env.Config)
	const ns = "rollout"

	if _, err := cs.CoreV1().Namespaces().Apply(ctx, corev1ac.Namespace(ns), metav1.ApplyOptions{FieldManager: "plumb"}); err != nil {
		t.Fatal(err)
	}
	labels := map[string]string{"app": "web"}
	deploy := appsv1ac.Deployment("web", ns).WithSpec(appsv1ac.DeploymentSpec().
		WithReplicas(2).
		WithSelector(metav1ac.LabelSelector().WithMatchLabels(labels)).
		WithTemplate(corev1ac.PodTemplateSpec().
			WithLabels(labels).
			WithSpec(corev1ac.PodSpec().WithContainers(corev1ac.Container().WithName("web").WithImage("nginx:1.27")))))
	applied, err := cs.AppsV1().Deployments(ns).Apply(ctx, deploy, metav1.ApplyOptions{FieldManager: "plumb", Force: true})
	if err != nil {
		t.Fatalf("Deployment/%s/web: apply: %v", ns, err)
	}
	if !hasApplyManager(applied.ManagedFields, "plumb") {
		t.Fatalf("managedFields %v: no Apply entry for manager plumb", applied.ManagedFields)
	}

	start := time.Now()
	var d *appsv1.Deployment
	err = wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 90*time.Second, true, func(ctx context.Context) (bool, error) {
		d, err = cs.AppsV1().Deployments(ns).Get(ctx, "web", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		return d.Status.AvailableReplicas == 2 && d.Status.ObservedGeneration == d.Generation, nil
	})
	t.Logf("rolled out after %s", time.Since(start).Round(time.Millisecond))
	if err != nil {
		t.Fatalf("Deployment/%s/web never had 2 available replicas (status %+v): %v", ns, d.Status, err)
	}

	checkReplicaSetAndPods(t, ctx, cs, ns)

	// kubectl sees the same cluster through the written kubeconfig.
	out, err := exec.CommandContext(ctx, "kubectl", "--kubeconfig", env.Kubeconfig, "get", "deployment", "web", "-n", ns, "-o", "jsonpath={.status.readyReplicas}").CombinedOutput()
	if err != nil || string(out) != "2" {
		t.Errorf("kubectl get deployment: %q, %v", out, err)
	}

	if err := cs.CoreV1().Namespaces().Delete(ctx, ns, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	err = wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 90*time.Second, true, func(ctx context.Context) (bool, error) {
		_, err := cs.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	})
	t.Logf("namespace gone after %s", time.Since(start).Round(time.Millisecond))
	if err != nil {
		t.Fatalf("Namespace/%s not gone after delete: %v", ns, err)
	}
}

// checkReplicaSetAndPods checks what the web Deployment in ns rolled out:
// one ReplicaSet it owns, and two Pods of it Running and Ready on kwok nodes.
func checkReplicaSetAndPods(t *testing.T, ctx context.Context, cs kubernetes.Interface, ns string) {
	t.Helper()
	rss, err := cs.AppsV1().ReplicaSets(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(rss.Items) != 1 || !ownedBy(rss.Items[0].OwnerReferences, "Deployment", "web") {
		t.Fatalf("want one ReplicaSet owned by Deployment web, got %d", len(rss.Items))
	}
	pods, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(pods.Items) != 2 {
		t.Fatalf("want 2 pods, got %d", len(pods.Items))
	}
	for _, p := range pods.Items {
		if !strings.HasPrefix(p.Spec.NodeName, "kwok-node-") {
			t.Errorf("Pod/%s/%s scheduled to %q, want a kwok node", ns, p.Name, p.Spec.NodeName)
		}
		if !ownedBy(p.OwnerReferences, "ReplicaSet", rss.Items[0].Name) {
			t.Errorf("Pod/%s/%s not owned by ReplicaSet %s", ns, p.Name, rss.Items[0].Name)
		}
		if p.Status.Phase != corev1.PodRunning || !podReady(p) {
			t.Errorf("Pod/%s/%s phase %s, not Running and Ready", ns, p.Name, p.Status.Phase)
		}
	}
}

// TestRBACIsEnforced proves authorization is real: an authenticated service
// account without bindings is refused.
func TestRBACIsEnforced(t *testing.T) {
	testenv.RequireEnv(t, env)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cs := kubernetes.NewForConfigOrDie(env.Config)
	sa, err := cs.CoreV1().ServiceAccounts("default").Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{GenerateName: "nobody-"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := env.ServiceAccountConfig(ctx, "default", sa.Name)
	if err != nil {
		t.Fatal(err)
	}
	_, err = kubernetes.NewForConfigOrDie(cfg).CoreV1().Secrets("default").List(ctx, metav1.ListOptions{})
	if !apierrors.IsForbidden(err) {
		t.Fatalf("list secrets as an unbound service account: err = %v, want Forbidden", err)
	}
}

func hasApplyManager(mf []metav1.ManagedFieldsEntry, manager string) bool {
	for _, e := range mf {
		if e.Manager == manager && e.Operation == metav1.ManagedFieldsOperationApply {
			return true
		}
	}
	return false
}

func ownedBy(refs []metav1.OwnerReference, kind, name string) bool {
	for _, r := range refs {
		if r.Kind == kind && r.Name == name && r.Controller != nil && *r.Controller {
			return true
		}
	}
	return false
}

func podReady(p corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}
