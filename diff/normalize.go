package diff

import (
	"encoding/base64"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// LastAppliedAnnotation is kubectl client-side apply's record, which embeds
// a whole manifest (a Secret's values too) and says nothing plumb compares.
const LastAppliedAnnotation = "kubectl.kubernetes.io/last-applied-configuration"

// NormalizeOptions tune Normalize.
type NormalizeOptions struct {
	// CompareStatus keeps .status (dropped by default: controllers own it).
	CompareStatus bool
}

// Normalize returns a copy of u with what nobody writes by hand removed:
// server-set metadata (managedFields, resourceVersion, generation, uid,
// creationTimestamp, selfLink), status (unless asked), the last-applied
// annotation; and Secret stringData folded into data, as the API server does.
func Normalize(u *unstructured.Unstructured, opts NormalizeOptions) *unstructured.Unstructured {
	if u == nil {
		return nil
	}
	out := u.DeepCopy()
	for _, f := range []string{"managedFields", "resourceVersion", "generation", "uid", "creationTimestamp", "selfLink"} {
		unstructured.RemoveNestedField(out.Object, "metadata", f)
	}
	if ann := out.GetAnnotations(); ann != nil {
		delete(ann, LastAppliedAnnotation)
		if len(ann) == 0 {
			unstructured.RemoveNestedField(out.Object, "metadata", "annotations")
		} else {
			out.SetAnnotations(ann)
		}
	}
	if !opts.CompareStatus {
		unstructured.RemoveNestedField(out.Object, "status")
	}
	if isSecret(out) {
		foldStringData(out)
	}
	return out
}

func isSecret(u *unstructured.Unstructured) bool {
	gvk := u.GroupVersionKind()
	return gvk.Group == "" && gvk.Kind == "Secret"
}

// foldStringData moves stringData into data (base64), stringData winning.
func foldStringData(u *unstructured.Unstructured) {
	sd, ok, _ := unstructured.NestedMap(u.Object, "stringData")
	if !ok {
		return
	}
	data, _, _ := unstructured.NestedMap(u.Object, "data")
	if data == nil {
		data = map[string]any{}
	}
	for k, v := range sd {
		if s, ok := v.(string); ok {
			data[k] = base64.StdEncoding.EncodeToString([]byte(s))
		}
	}
	unstructured.RemoveNestedField(u.Object, "stringData")
	_ = unstructured.SetNestedMap(u.Object, data, "data")
}
