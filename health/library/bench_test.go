package library

import (
	"fmt"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/plumbhq/plumb/health"
)

// BenchmarkRateLibrary rates 10,000 cert-manager Certificates (a third
// each issuing, ready and failed) through a Rater with the library: the
// cost of a first rating, which plumb serve then keeps by resourceVersion.
func BenchmarkRateLibrary(b *testing.B) {
	l, err := New()
	if err != nil {
		b.Fatal(err)
	}
	r := health.NewRater().WithLibrary(l)
	objs := make([]*unstructured.Unstructured, 10000)
	for i := range objs {
		cond := []map[string]any{{"type": "Issuing", "status": "True", "message": "Issuing"}, {"type": "Ready", "status": "True", "message": "up to date"}, {"type": "Ready", "status": "False", "message": "failed"}}[i%3]
		objs[i] = &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "cert-manager.io/v1", "kind": "Certificate",
			"metadata": map[string]any{"name": fmt.Sprintf("c%d", i), "namespace": "shop", "resourceVersion": fmt.Sprint(i)},
			"spec":     map[string]any{"secretName": "tls", "dnsNames": []any{"a.example.com"}},
			"status":   map[string]any{"conditions": []any{cond}},
		}}
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for _, o := range objs {
			if got := r.Of(o); got.Source != "cert-manager.io/Certificate (library)" {
				b.Fatalf("%s", got.Explain())
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/10k-objects")
}
