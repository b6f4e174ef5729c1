package main

import (
	"encoding/base64"
	"path/filepath"
	"strings"
	"testing"
	"time"

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
