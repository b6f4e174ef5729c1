package resource

import (
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// Ref identifies an object the way the API server does: group, kind,
// namespace and name (the version does not change identity).
type Ref struct {
	Group, Kind, Namespace, Name string
}

// RefOf returns the identity of an object.
func RefOf(u *unstructured.Unstructured) Ref {
	gvk := u.GroupVersionKind()
	return Ref{Group: gvk.Group, Kind: gvk.Kind, Namespace: u.GetNamespace(), Name: u.GetName()}
}

// String is "Kind/namespace/name", or "Kind/name" when cluster-scoped; a
// group other than the core group is added as "Kind.group".
func (r Ref) String() string {
	k := r.Kind
	if r.Group != "" {
		k += "." + r.Group
	}
	if r.Namespace == "" {
		return k + "/" + r.Name
	}
	return k + "/" + r.Namespace + "/" + r.Name
}

// CRDKind returns the kind a CustomResourceDefinition defines and whether
// it is namespaced; ok is false for any other object.
func CRDKind(u *unstructured.Unstructured) (gk schema.GroupKind, namespaced, ok bool) {
	if u.GetKind() != "CustomResourceDefinition" || u.GroupVersionKind().Group != "apiextensions.k8s.io" {
		return gk, false, false
	}
	gk.Group, _, _ = unstructured.NestedString(u.Object, "spec", "group")
	gk.Kind, _, _ = unstructured.NestedString(u.Object, "spec", "names", "kind")
	sc, _, _ := unstructured.NestedString(u.Object, "spec", "scope")
	return gk, sc != "Cluster", true
}
