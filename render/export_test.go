package render

import (
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// The parity helpers, for the external tests of package render_test (which
// may import packages that import render).
var (
	Corpus           = corpus
	Tool             = tool
	ReferenceObjects = referenceObjects
)

func CompareObjects(t *testing.T, ref []*unstructured.Unstructured, got []Object, ns string) {
	t.Helper()
	compareObjects(t, ref, got, ns)
}
