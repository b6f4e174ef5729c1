package health

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	sigsyaml "sigs.k8s.io/yaml"
)

// Issue K, acceptance 1: for each built-in kind, objects in
// testdata/argo with the status Argo CD reports for them (annotation
// health.plumb.dev/expected), among them every case issue K names: HPAs
// failing or progressing, an APIService with Available=False, Pods in
// ImagePullBackOff or an error, a running Pod with restartPolicy Never, an
// Ingress waiting for its address and a DaemonSet without generation.
func TestBuiltInKindsAgreeWithArgoCD(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "argo", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no testdata: %v", err)
	}
	for _, file := range files {
		for _, u := range readObjects(t, file) {
			want := Status(u.GetAnnotations()["health.plumb.dev/expected"])
			t.Run(filepath.Base(file)+"/"+u.GetName(), func(t *testing.T) {
				got := Of(u)
				if d := cmp.Diff(want, got.Status); d != "" {
					t.Errorf("status (-want +got):\n%s\nreason: %s (%s)", d, got.Reason, got.Source)
				}
				if got.Source != SourceBuiltIn {
					t.Errorf("decided by %q, want the built-in rules", got.Source)
				}
			})
		}
	}
}

func readObjects(t *testing.T, file string) []*unstructured.Unstructured {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var out []*unstructured.Unstructured
	for _, doc := range bytes.Split(data, []byte("\n---\n")) {
		u := &unstructured.Unstructured{}
		if err := sigsyaml.Unmarshal(doc, &u.Object); err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		if u.GetAnnotations()["health.plumb.dev/expected"] == "" {
			t.Fatalf("%s: %s has no health.plumb.dev/expected", file, u.GetName())
		}
		out = append(out, u)
	}
	return out
}
