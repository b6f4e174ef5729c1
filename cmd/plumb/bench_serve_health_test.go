package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/plumbhq/plumb/internal/gittest"
)

// certificateCRD serves cert-manager.io/v1 Certificate, whose health the
// library rates with Argo CD's script.
const certificateCRD = `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: certificates.cert-manager.io}
spec:
  group: cert-manager.io
  scope: Namespaced
  names: {plural: certificates, singular: certificate, kind: Certificate}
  versions:
  - name: v1
    served: true
    storage: true
    subresources: {status: {}}
    schema:
      openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}
`

// BenchmarkServeHealth: plumb serve rating an App of 10,000 cert-manager
// Certificates with the library on every pass. Without a status each is
// Progressing, so the App is rated again every second; ratings are kept by
// resourceVersion, and a pass that finds no object changed rates all
// 10,000 from them. It reports the health phase of such passes (the median,
// from plumb serve's own phase timings) and the requests a pass makes.
func BenchmarkServeHealth(b *testing.B) {
	requireEnvB(b)
	b.Run("10000-certificates", oneShot(benchServeHealth))
}

func benchServeHealth(b *testing.B) {
	const n = 10000
	proxy := newCountingProxy(b)
	kubeconfig := proxy.kubeconfig(b)
	crd := filepath.Join(b.TempDir(), "crd.yaml")
	if err := os.WriteFile(crd, []byte(certificateCRD), 0o644); err != nil {
		b.Fatal(err)
	}
	kubectlB(b, "apply", "--server-side", "-f", crd)
	kubectlB(b, "wait", "--for=condition=Established", "crd/certificates.cert-manager.io", "--timeout=60s")
	ns := "bench-health"
	srv := gitServerB(b)
	repo, err := srv.CreateRepo("health")
	if err != nil {
		b.Fatal(err)
	}
	dir := filepath.Join(b.TempDir(), "app")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.Fatal(err)
	}
	kubectlB(b, "create", "namespace", ns) // the App is the 10,000 Certificates, a render's most
	files := map[string]string{}
	for f := range n / 1000 { // a file holds at most 10,000 documents
		var docs strings.Builder
		for i := f * 1000; i < (f+1)*1000; i++ {
			fmt.Fprintf(&docs, "---\napiVersion: cert-manager.io/v1\nkind: Certificate\nmetadata:\n  name: c-%05d\n  namespace: %s\n"+
				"spec:\n  secretName: tls-%05d\n  dnsNames: [c-%05d.example.com]\n  issuerRef: {name: ca, kind: ClusterIssuer}\n", i, ns, i, i)
		}
		files[fmt.Sprintf("certificates-%02d.yaml", f)] = docs.String()
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	if _, err := repo.CommitDir("main", dir, "10,000 Certificates"); err != nil {
		b.Fatal(err)
	}
	d := startBenchServe(b, kubeconfig, "bench-webhook-secret", benchApps(b, ns, repo.URL, "."), "-v", "2")
	app := fmt.Sprintf(`app="default/%s"`, ns)
	eventually(b, 10*time.Minute, "the App synced", func() (bool, string) {
		if line := lastMatch(d.proc.Log(), "reconcile failed"); line != "" {
			b.Fatalf("the App failed: %s", line)
		}
		return d.metric("plumb_app_synced", app) == 1, "not yet"
	})
	waitApp(b, d, "plumb_app_health", 10*time.Minute, app, `status="Progressing"`)
	time.Sleep(2 * time.Second) // past the first rating, which reads each object once
	if _, body := d.get("/api/v1/apps"); !strings.Contains(body, "(cert-manager.io/Certificate (library)): Progressing") {
		b.Fatalf("the App is not rated by the library: %.2000s", body)
	}

	before := len(healthPhases(d.proc.Log(), ns))
	proxy.take()
	time.Sleep(10 * time.Second)
	counts := proxy.take()
	delete(counts, "watch") // the watches that run all along
	phases := healthPhases(d.proc.Log(), ns)[before:]
	if len(phases) < 3 {
		b.Fatalf("%d passes rated the App in 10 s, want several", len(phases))
	}
	slices.Sort(phases)
	median := phases[len(phases)/2]
	b.Logf("%d passes rated %d Certificates; health phase min %s, median %s, max %s", len(phases), n, phases[0], median, phases[len(phases)-1])
	perPass := map[string]int{}
	for verb, c := range counts {
		perPass[verb] = (c + len(phases) - 1) / len(phases)
	}
	report(b, median, d.memMiB("VmRSS"), perPass)
}

// kubectlB runs kubectl as the administrator.
func kubectlB(b *testing.B, args ...string) {
	b.Helper()
	out, err := exec.Command("kubectl", append([]string{"--kubeconfig", env.Kubeconfig}, args...)...).CombinedOutput()
	if err != nil {
		b.Fatalf("kubectl %v: %v\n%s", args, err, out)
	}
}

// gitServerB is a Git server for one benchmark.
func gitServerB(b *testing.B) *gittest.Server {
	b.Helper()
	srv, err := gittest.NewServer(gittest.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { srv.Close() })
	return srv
}

// healthPhases returns the health phase of each logged pass of the App
// default/name, in order.
func healthPhases(log, name string) []time.Duration {
	re := regexp.MustCompile(`msg=reconciled app=default/` + regexp.QuoteMeta(name) + ` .*phases="[^"]*\bhealth=([0-9.]+[µmn]?s)`)
	var out []time.Duration
	for _, m := range re.FindAllStringSubmatch(log, -1) {
		if d, err := time.ParseDuration(m[1]); err == nil {
			out = append(out, d)
		}
	}
	return out
}
