package main

import (
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	gosync "sync"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"

	"github.com/plumbhq/plumb/api/v1alpha1"
	"github.com/plumbhq/plumb/controller"
	"github.com/plumbhq/plumb/internal/gittest"
)

// apiRequest is one request that passed the recording proxy.
type apiRequest struct{ method, path, as string }

// recorder is a reverse proxy in front of the API server that records every
// request plumb makes, with the user it impersonates: the test's audit log.
type recorder struct {
	mu   gosync.Mutex
	reqs []apiRequest
}

func (r *recorder) take() []apiRequest {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.reqs
	r.reqs = nil
	return out
}

// recordingProxy serves TLS on loopback (clientcmd sends credentials only
// over TLS) and forwards to the test's API server, passing the caller's
// bearer token and impersonation headers on. It returns a configuration
// that reaches the API server through it as cfg's user.
func recordingProxy(t *testing.T, cfg *rest.Config) (*rest.Config, *recorder) {
	t.Helper()
	rt, err := rest.TransportFor(&rest.Config{TLSClientConfig: rest.TLSClientConfig{CAData: cfg.CAData}}) // no credentials of its own
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	srv := httptest.NewTLSServer(apiProxy(t, rt, func(req *http.Request) {
		rec.mu.Lock()
		rec.reqs = append(rec.reqs, apiRequest{req.Method, req.URL.Path, req.Header.Get("Impersonate-User")})
		rec.mu.Unlock()
	}))
	t.Cleanup(srv.Close)
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	return &rest.Config{Host: srv.URL, BearerToken: cfg.BearerToken, TLSClientConfig: rest.TLSClientConfig{CAData: ca}}, rec
}

// Least privilege, live: plumb serve runs as the install's plumb-system/plumb
// (read, watch, impersonate, its CRD and Lease), and team A's Apps act as
// team A's service account, bound to the admin role in team A only. They
// sync there; what they render in team B or cluster-wide is refused by the
// API server, and nothing is written outside team A. With
// --no-cross-namespace the team B object fails before any request.
func TestLeastPrivilege(t *testing.T) {
	e := newE2E(t, "tenancy")
	teamA, teamB := e.ns, e.ns+"-b"
	s := tenants(t, e, teamB)

	cfg, err := env.ServiceAccountConfig(e.ctx, "plumb-system", "plumb")
	if err != nil {
		t.Fatal(err)
	}
	proxied, rec := recordingProxy(t, cfg)
	kubeconfig := writeKubeconfig(t, proxied)
	serve := func(args ...string) *plumbd {
		return startServe(t, append([]string{"--kubeconfig", kubeconfig, "--watch-namespace", teamA,
			"--default-service-account", "deployer"}, args...)...)
	}
	d := serve()
	s.waitReady(60*time.Second, "good", "nosa")
	forbidden := func(name, want string) {
		t.Helper()
		eventually(t, 60*time.Second, name+" refused by the API server", func() (bool, string) {
			a := s.app(name)
			c := meta.FindStatusCondition(a.Status.Conditions, controller.ConditionReady)
			return c != nil && c.Status == metav1.ConditionFalse && strings.Contains(c.Message, "forbidden") &&
				strings.Contains(c.Message, want), describe(a)
		})
		t.Logf("%s: %s", name, meta.FindStatusCondition(s.app(name).Status.Conditions, controller.ConditionReady).Message)
	}
	forbidden("cross", `User "system:serviceaccount:`+teamA+`:deployer" cannot`)
	forbidden("crb", `User "system:serviceaccount:`+teamA+`:deployer" cannot`)

	if list, err := e.cs.CoreV1().ConfigMaps(teamB).List(e.ctx, metav1.ListOptions{}); err != nil || len(list.Items) != 1 {
		t.Errorf("team B holds %d ConfigMaps (want only kube-root-ca.crt): %v", len(list.Items), err)
	}
	if _, err := e.cs.RbacV1().ClusterRoleBindings().Get(e.ctx, teamA+"-escalate", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("the ClusterRoleBinding exists: %v", err)
	}
	checkAudit(t, rec.take(), teamA)

	// Confined: the team B object fails before any request is made for it.
	d.proc.Stop()
	serve("--no-cross-namespace")
	eventually(t, 60*time.Second, "cross refused by --no-cross-namespace", func() (bool, string) {
		a := s.app("cross")
		c := meta.FindStatusCondition(a.Status.Conditions, controller.ConditionReady)
		return c != nil && c.Reason == controller.ReasonNotPermitted &&
			strings.Contains(c.Message, "ConfigMap/"+teamB+"/intruder: refused by --no-cross-namespace"), describe(a)
	})
	s.waitReady(30*time.Second, "good", "nosa")
	confined := rec.take()
	if len(confined) == 0 {
		t.Fatal("the proxy saw no request from the confined plumb serve")
	}
	for _, r := range confined {
		if strings.Contains(r.path, "/namespaces/"+teamB+"/") {
			t.Errorf("a request for team B was made under --no-cross-namespace: %s %s", r.method, r.path)
		}
	}
	t.Logf("cross: %s", meta.FindStatusCondition(s.app("cross").Status.Conditions, controller.ConditionReady).Message)
}

// checkAudit asserts that every write plumb made for an App impersonated
// team A's account, and that none but plumb's own bookkeeping went without
// one; it logs the writes by user.
func checkAudit(t *testing.T, reqs []apiRequest, teamA string) {
	t.Helper()
	own := []string{"/apis/plumb.dev/", "/events", "/leases/", "/tokenreviews"}
	byUser := map[string]int{}
	for _, r := range reqs {
		if r.method == http.MethodGet {
			// One object of team A (an inventory, a health read) is read as the
			// App; lists and watches are the shared cache's, as plumb.
			one := strings.HasPrefix(r.path, "/api/v1/namespaces/"+teamA+"/configmaps/")
			if one && r.as != "system:serviceaccount:"+teamA+":deployer" {
				t.Errorf("a read for an App did not act as its service account (as %q): GET %s", r.as, r.path)
			}
			continue
		}
		byUser[fmt.Sprintf("%q", r.as)]++
		isOwn := false
		for _, p := range own {
			isOwn = isOwn || strings.Contains(r.path, p)
		}
		switch {
		case isOwn && r.as != "":
			t.Errorf("plumb's own write impersonated %s: %s %s", r.as, r.method, r.path)
		case !isOwn && r.as != "system:serviceaccount:"+teamA+":deployer":
			t.Errorf("a write for an App did not act as its service account (as %q): %s %s", r.as, r.method, r.path)
		}
	}
	t.Logf("writes by impersonated user (\"\" is plumb's own): %v", byUser)
	if byUser[fmt.Sprintf("%q", "system:serviceaccount:"+teamA+":deployer")] == 0 {
		t.Errorf("the proxy saw no write made as team A's account: it did not see plumb's requests")
	}
}

// tenants installs plumb's manifests and makes team A (the test's
// namespace, with a service account deployer bound to admin there) and an
// empty team B, and creates team A's Apps: good, nosa (no account of its
// own), cross (a ConfigMap in team B) and crb (a ClusterRoleBinding to
// cluster-admin).
func tenants(t *testing.T, e *e2e, teamB string) *serveEnv {
	t.Helper()
	teamA := e.ns
	install := filepath.Join(repoRootDir(t), "examples", "install")
	for _, f := range []string{"namespace.yaml", "plumb.dev_apps.yaml", "rbac.yaml"} {
		if out, err := e.kubectlIn("", "apply", "--server-side", "-f", filepath.Join(install, f)); err != nil {
			t.Fatalf("kubectl apply %s: %v\n%s", f, err, out)
		}
	}
	e.kubectl("wait", "--for=condition=Established", "crd/apps.plumb.dev", "--timeout=60s")
	e.kubectl("create", "namespace", teamB)
	e.kubectl("create", "serviceaccount", "deployer")
	e.kubectl("create", "rolebinding", "deployer", "--clusterrole", "admin", "--serviceaccount", teamA+":deployer")

	s := withGit(e, gittest.Options{})
	s.commit(map[string]string{
		"good/cm.yaml":  configMap("a-config", ""),
		"nosa/cm.yaml":  configMap("a-default", ""),
		"cross/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: intruder\n  namespace: " + teamB + "\n",
		"crb/crb.yaml": "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata:\n  name: " + teamA + "-escalate\n" +
			"roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: cluster-admin}\n" +
			"subjects: [{kind: ServiceAccount, name: deployer, namespace: " + teamA + "}]\n",
	}, "team A's apps")
	var apps []v1alpha1.App
	for _, name := range []string{"good", "nosa", "cross", "crb"} {
		a := s.exampleApps(s.repo.URL, nil)[0]
		a.Name, a.Spec.Source.Path = name, name
		if name != "nosa" {
			a.Spec.ServiceAccountName = "deployer"
		}
		apps = append(apps, a)
	}
	s.createApps(apps)
	return s
}

// plumb sync --as acts as a service account, as plumb serve does for an
// App: what the account may not do is refused by the API server.
func TestCLIAs(t *testing.T) {
	e := newE2E(t, "cli-as")
	e.kubectl("create", "serviceaccount", "deployer")
	e.kubectl("create", "rolebinding", "deployer", "--clusterrole", "admin", "--serviceaccount", e.ns+":deployer")
	e.write(map[string]string{"cm.yaml": configMap("as-deployer", "")})
	as := "system:serviceaccount:" + e.ns + ":deployer"
	e.mustPlumb(exitOK, "sync", e.dir, "--app", "as", "--inventory-namespace", e.ns, "--as", as)
	e.write(map[string]string{"cm.yaml": configMap("as-deployer", ""), "other.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x, namespace: default}\n"})
	out := e.mustPlumb(exitError, "sync", e.dir, "--app", "as", "--inventory-namespace", e.ns, "--as", as)
	if !strings.Contains(out, `User "`+as+`" cannot`) {
		t.Errorf("want the API server's refusal of %s:\n%s", as, out)
	}
	if _, err := e.cs.CoreV1().ConfigMaps("default").Get(e.ctx, "x", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("ConfigMap default/x: %v, want none", err)
	}
}
