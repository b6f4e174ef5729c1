package main

import (
	"encoding/base64"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/plumbhq/plumb/api/v1alpha1"
	"github.com/plumbhq/plumb/internal/gittest"
	"github.com/plumbhq/plumb/internal/testreport"
)

// The leak test for the controller: Secret values planted in Git pass
// through plumb serve (synced, changed, then rejected by the API server)
// and are searched for in every output: its log at debug level, the App's
// status, its Events, the API and the metrics. (TestSecretValueNeverPrinted
// does the same for the CLI's outputs.)
func TestLeakSecretValuesFromServe(t *testing.T) {
	s := newServeEnv(t, "leak", gittest.Options{})
	planted := []string{"PLANTED-a41c-first", "PLANTED-b52d-second", "PLANTED-c63e-third"}
	secret := func(value string) string {
		return "apiVersion: v1\nkind: Secret\nmetadata:\n  name: creds\nstringData:\n  password: " + value + "\n" +
			"---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: public\ndata:\n  note: not secret\n"
	}
	s.commit(map[string]string{"secret/secret.yaml": secret(planted[0])}, "secret v1")
	a := s.exampleApps(s.repo.URL, func(a *v1alpha1.App) { a.Spec.SyncPolicy.SelfHeal = true })[0]
	a.Name, a.Spec.Source.Path = "secret", "secret"
	s.createApps([]v1alpha1.App{a})
	d := startServe(t, "--watch-namespace", s.ns, "-v", "2")
	s.waitReady(60*time.Second, "secret")

	// A changed value, and drift on the Secret that selfHeal reverts.
	s.commit(map[string]string{"secret/secret.yaml": secret(planted[1])}, "secret v2")
	s.waitReady(60*time.Second, "secret")
	s.kubectl("patch", "secret", "creds", "--type", "merge", "-p", `{"stringData":{"password":"drifted"}}`)
	eventually(t, 30*time.Second, "selfHeal restores the Secret", func() (bool, string) {
		got := s.kubectl("get", "secret", "creds", "-o", "jsonpath={.data.password}")
		return got == base64.StdEncoding.EncodeToString([]byte(planted[1])), "drifted"
	})
	// A Secret the API server rejects (a TLS Secret without its keys): the
	// error travels into status, an Event and the log.
	s.commit(map[string]string{"secret/secret.yaml": "apiVersion: v1\nkind: Secret\nmetadata:\n  name: creds\ntype: kubernetes.io/tls\nstringData:\n  password: " + planted[2] + "\n"}, "secret v3")
	eventually(t, 60*time.Second, "the rejected Secret is reported", func() (bool, string) {
		got := s.app("secret")
		return got.Status.LastAttemptedRevision == "main@sha1:"+s.head && got.Status.SyncStatus == "OutOfSync", describe(got)
	})
	t.Logf("rejected: %s", describe(s.app("secret")))

	outputs := map[string]string{
		"plumb serve log (-v 2)":           d.proc.Log(),
		"App status (kubectl get -o yaml)": s.kubectl("get", "apps.plumb.dev", "secret", "-o", "yaml"),
		"Events":                           s.kubectl("get", "events", "-o", "yaml"),
	}
	_, outputs["GET /api/v1/apps"] = d.get("/api/v1/apps")
	_, outputs["/metrics"] = d.get("/metrics")
	var needles []string
	for _, p := range planted {
		needles = append(needles, p, base64.StdEncoding.EncodeToString([]byte(p)))
	}
	for name, text := range outputs {
		rec := &testreport.Entry{Kind: testreport.Leak, Name: "serve: " + name, OK: true}
		testreport.Record(t, rec)
		for _, n := range needles {
			if strings.Contains(text, n) {
				rec.Leaks++
				t.Errorf("%s: a Secret value leaked (%q)", name, n)
			}
		}
	}
	if !strings.Contains(outputs["App status (kubectl get -o yaml)"], "Secret/"+s.ns+"/creds") {
		t.Errorf("the status does not name the rejected Secret:\n%s", outputs["App status (kubectl get -o yaml)"])
	}
}

// writeKubeconfig writes a kubeconfig for cfg (token authentication).
func writeKubeconfig(t testing.TB, cfg *rest.Config) string {
	t.Helper()
	kc := clientcmdapi.NewConfig()
	kc.Clusters["c"] = &clientcmdapi.Cluster{Server: cfg.Host, CertificateAuthorityData: cfg.CAData}
	kc.AuthInfos["u"] = &clientcmdapi.AuthInfo{Token: cfg.BearerToken}
	kc.Contexts["c"] = &clientcmdapi.Context{Cluster: "c", AuthInfo: "u"}
	kc.CurrentContext = "c"
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*kc, path); err != nil {
		t.Fatal(err)
	}
	return path
}

// Least privilege, with real ServiceAccount tokens: the install's
// cluster-wide RBAC is enough for the corpus apps and for plumb serve; a
// namespace-scoped install (docs/security.md) cannot touch other
// namespaces.
func TestLeastPrivilegeInstallRBAC(t *testing.T) {
	e := newE2E(t, "rbac")
	install := filepath.Join(repoRootDir(t), "examples", "install")
	for _, f := range []string{"namespace.yaml", "plumb.dev_apps.yaml", "rbac.yaml"} {
		// Without -n: the manifests name their namespace.
		if out, err := e.kubectlIn("", "apply", "--server-side", "-f", filepath.Join(install, f)); err != nil {
			t.Fatalf("kubectl apply %s: %v\n%s", f, err, out)
		}
	}
	cfg, err := env.ServiceAccountConfig(e.ctx, "plumb-system", "plumb")
	if err != nil {
		t.Fatal(err)
	}
	kubeconfig := writeKubeconfig(t, cfg)
	asPlumb := func(args ...string) (int, string, string) {
		full := append([]string{"--kubeconfig", kubeconfig, "-n", e.ns}, args...)
		code, out, errOut := runCmd(t, full...)
		t.Logf("plumb (as plumb-system/plumb) %s -> exit %d\n%s%s", strings.Join(args, " "), code, out, errOut)
		return code, out, errOut
	}
	corpus := corpusDir(t)
	for _, app := range []struct{ name, path string }{
		{"rbac-guestbook", "argocd-example-apps/guestbook"},
		{"rbac-kube-state-metrics", "charts/kube-state-metrics"},
		{"prometheus-operator-crds", "charts/prometheus-operator-crds"},
		{"sock-shop", "argocd-example-apps/sock-shop"},
	} {
		if code, _, errOut := asPlumb("sync", filepath.Join(corpus, app.path), "--app", app.name, "--inventory-namespace", e.ns); code != exitOK {
			t.Errorf("%s: the cluster-wide role is not enough:\n%s", app.name, errOut)
		}
	}

	// plumb serve under the same account reconciles an App.
	s := withGit(e, gittest.Options{})
	s.createApps(s.exampleApps(s.repo.URL, nil)[:1])
	// The later --kubeconfig wins over the administrator's startServe sets.
	startServe(t, "--kubeconfig", kubeconfig, "--watch-namespace", e.ns, "--leader-elect", "--lease-namespace", "plumb-system")
	s.waitReady(60*time.Second, "plain")

	// A namespace-scoped install: plumb-manage bound in one namespace only.
	other := e.ns + "-other"
	if _, err := e.cs.CoreV1().Namespaces().Create(e.ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: other}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	e.kubectl("create", "serviceaccount", "plumb-scoped")
	e.kubectl("create", "rolebinding", "plumb-manage", "--clusterrole", "plumb-manage", "--serviceaccount", e.ns+":plumb-scoped")
	scoped, err := env.ServiceAccountConfig(e.ctx, e.ns, "plumb-scoped")
	if err != nil {
		t.Fatal(err)
	}
	scopedKubeconfig := writeKubeconfig(t, scoped)
	dir := filepath.Join(e.dir, "scoped")
	writeTree(t, dir, map[string]string{"cm.yaml": configMap("scoped", "")}, nil)
	run := func(ns string) (int, string) {
		code, _, errOut := runCmd(t, "--kubeconfig", scopedKubeconfig, "-n", ns, "sync", dir, "--app", "scoped", "--inventory-namespace", ns)
		return code, errOut
	}
	if code, errOut := run(e.ns); code != exitOK {
		t.Errorf("the namespace-scoped account cannot sync into its namespace:\n%s", errOut)
	}
	code, errOut := run(other)
	if code != exitError || !strings.Contains(errOut, "forbidden") {
		t.Errorf("syncing into %s: exit %d, want a forbidden error:\n%s", other, code, errOut)
	}
	if list, err := e.cs.CoreV1().ConfigMaps(other).List(e.ctx, metav1.ListOptions{}); err != nil || len(list.Items) > 1 {
		t.Errorf("the namespace-scoped account wrote into %s: %v %v", other, list, err)
	}
	t.Logf("scoped account refused in %s: %s", other, firstLine(errOut))
}
