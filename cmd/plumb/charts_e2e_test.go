package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/plumbhq/plumb/internal/chartstest"
)

// Issue H, acceptance 3: a chart requiring Kubernetes >=1.25 syncs against
// the test cluster with no option, and its ServiceMonitor is rendered
// exactly when the cluster serves monitoring.coreos.com/v1. Acceptance 2:
// a dependency its repository lacks fails the render naming it, and the
// live objects and the inventory are untouched.
func TestChartCapabilitiesAndMissingDependency(t *testing.T) {
	e := newE2E(t, "charts")
	template := "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: mon}\ndata: {kube: {{ .Capabilities.KubeVersion.Version | quote }}}\n" +
		"{{- if .Capabilities.APIVersions.Has \"monitoring.coreos.com/v1/ServiceMonitor\" }}\n---\n" +
		"apiVersion: monitoring.coreos.com/v1\nkind: ServiceMonitor\nmetadata: {name: mon}\nspec: {selector: {}, endpoints: [{port: http}]}\n{{- end }}\n"
	chart := "apiVersion: v2\nname: mon\nversion: 0.1.0\nkubeVersion: \">=1.25.0-0\"\n"
	e.write(map[string]string{"Chart.yaml": chart, "templates/all.yaml": template})
	e.mustPlumb(exitOK, "sync", e.dir, "--app", "charts")
	if got := e.kubectl("get", "configmap", "mon", "-o", "jsonpath={.data.kube}"); !strings.HasPrefix(got, "v1.37") {
		t.Errorf(".Capabilities.KubeVersion = %q, want the cluster's v1.37", got)
	}
	if out, err := e.kubectlIn(e.ns, "get", "servicemonitors.monitoring.coreos.com"); err == nil {
		t.Fatalf("a ServiceMonitor without its CRD: %s", out)
	}
	crd := filepath.Join(t.TempDir(), "crd.yaml")
	if err := os.WriteFile(crd, []byte(serviceMonitorCRD), 0o600); err != nil {
		t.Fatal(err)
	}
	e.kubectl("apply", "--server-side", "-f", crd)
	e.kubectl("wait", "--for=condition=Established", "crd/servicemonitors.monitoring.coreos.com", "--timeout=60s")
	e.mustPlumb(exitOK, "sync", e.dir, "--app", "charts")
	if got := strings.TrimSpace(e.kubectl("get", "servicemonitor", "mon", "-o", "name")); got != "servicemonitor.monitoring.coreos.com/mon" {
		t.Errorf("the ServiceMonitor once the cluster serves it: %q", got)
	}

	repo := chartstest.NewHelmRepo(t)
	repo.Publish(t, chartstest.Package(t, "web", "1.0.0", nil))
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, chartstest.CAPEM(repo.Server), 0o600); err != nil {
		t.Fatal(err)
	}
	versions := func() string {
		inv, err := e.kubectlIn("default", "get", "configmap", "plumb-inventory-charts", "-o", "jsonpath={.metadata.resourceVersion}")
		if err != nil {
			t.Fatal(err)
		}
		return e.kubectl("get", "configmap", "mon", "-o", "jsonpath={.metadata.resourceVersion}") + "/" + inv
	}
	before := versions()
	e.write(map[string]string{"Chart.yaml": chart + "dependencies:\n- {name: web, version: 9.9.9, repository: \"" + repo.Server.URL + "\"}\n", "templates/all.yaml": template})
	out := e.mustPlumb(exitError, "sync", e.dir, "--app", "charts", "--prune", "--chart-ca-file", ca, "--chart-cache-dir", t.TempDir())
	if !strings.Contains(out, `Chart.yaml: dependency web: chart "web" version "9.9.9" not found in `+repo.Server.URL+` repository`) {
		t.Errorf("the missing dependency is not named:\n%s", out)
	}
	if after := versions(); after != before {
		t.Errorf("live objects or inventory changed after a failed render: %s -> %s", before, after)
	}
	if got := e.kubectl("get", "servicemonitor", "mon", "-o", "name"); got == "" {
		t.Error("the ServiceMonitor was pruned after a failed render")
	}
}

// serviceMonitorCRD serves monitoring.coreos.com/v1 ServiceMonitor (its
// schema left open: only discovery matters here).
const serviceMonitorCRD = `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: servicemonitors.monitoring.coreos.com}
spec:
  group: monitoring.coreos.com
  scope: Namespaced
  names: {kind: ServiceMonitor, plural: servicemonitors, singular: servicemonitor}
  versions:
  - name: v1
    served: true
    storage: true
    schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}
`
