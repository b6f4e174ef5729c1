package diff

import (
	"encoding/base64"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// LastAppliedAnnotation is kubectl client-side apply's record, which embeds
// a whole manifest (a Secret's values too) and says nothing plumb compares.
const LastAppliedAnnotation = "kubectl.kubernetes.io/last-applied-configuration"

// NormalizeOptions tune Normalize.
type NormalizeOptions struct {
	// CompareStatus keeps .status (dropped by default: controllers own it).
	CompareStatus bool
	// DropLabels and DropAnnotationPrefixes remove noise that changes with
	// every release, such as Helm's helm.sh/chart label and checksum/*
	// annotations, from the comparison.
	DropLabels             []string
	DropAnnotationPrefixes []string
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
	dropNoise(out.Object, opts)
	// Pod templates carry the same noise (Helm's checksum/config pattern).
	for _, path := range [][]string{{"spec", "template", "metadata"}, {"spec", "jobTemplate", "spec", "template", "metadata"}} {
		if md, ok, _ := unstructured.NestedMap(out.Object, path...); ok {
			dropNoise(map[string]any{"metadata": md}, opts)
			_ = unstructured.SetNestedMap(out.Object, md, path...)
		}
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
		FoldStringData(out)
	}
	return out
}

func isSecret(u *unstructured.Unstructured) bool {
	gvk := u.GroupVersionKind()
	return gvk.Group == "" && gvk.Kind == "Secret"
}

// FoldStringData moves a Secret's stringData into data (base64),
// stringData winning, as the API server does when it stores the Secret.
func FoldStringData(u *unstructured.Unstructured) {
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

// dropNoise removes the configured labels and annotation prefixes from
// obj's metadata, and the maps they leave empty.
func dropNoise(obj map[string]any, opts NormalizeOptions) {
	md, ok := obj["metadata"].(map[string]any)
	if !ok {
		return
	}
	if labels, ok := md["labels"].(map[string]any); ok {
		for _, l := range opts.DropLabels {
			delete(labels, l)
		}
		if len(labels) == 0 {
			delete(md, "labels")
		}
	}
	if ann, ok := md["annotations"].(map[string]any); ok {
		for k := range ann {
			for _, prefix := range opts.DropAnnotationPrefixes {
				if strings.HasPrefix(k, prefix) {
					delete(ann, k)
				}
			}
		}
		if len(ann) == 0 {
			delete(md, "annotations")
		}
	}
}
