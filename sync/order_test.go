package sync

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// Waves come before kinds, in plumb's annotation and in Argo CD's alike.
func TestPlanOrdersByWaveThenKind(t *testing.T) {
	obj := func(kind, name string, annotations map[string]string) *unstructured.Unstructured {
		u := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": kind}}
		u.SetName(name)
		u.SetAnnotations(annotations)
		return u
	}
	objs := []*unstructured.Unstructured{
		obj("Service", "late", map[string]string{ArgoWaveAnnotation: "2"}),
		obj("ConfigMap", "plain", nil),
		obj("Pod", "early", map[string]string{WaveAnnotation: "-1"}),
		obj("ConfigMap", "both", map[string]string{WaveAnnotation: "1", ArgoWaveAnnotation: "5"}),
		obj("Namespace", "ns", nil),
	}
	batches, err := plan(objs)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, b := range batches {
		var names []string
		for _, o := range b.objs {
			names = append(names, o.GetName())
		}
		got = append(got, b.String()+": "+strings.Join(names, ","))
	}
	want := []string{"wave -1, workloads: early", "Namespaces: ns", "ConfigMaps: plain", "wave 1, ConfigMaps: both", "wave 2, Services: late"}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("batches (-want +got):\n%s", d)
	}
	if _, err := plan([]*unstructured.Unstructured{obj("Pod", "bad", map[string]string{ArgoWaveAnnotation: "soon"})}); err == nil || !strings.Contains(err.Error(), ArgoWaveAnnotation) {
		t.Errorf("a wave that is no integer: err = %v", err)
	}
}
