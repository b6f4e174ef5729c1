package render

import (
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/plumbhq/plumb/resource"
)

// clusterScoped lists the built-in kinds that live outside namespaces, used
// when no cluster is at hand to ask.
var clusterScoped = map[schema.GroupKind]bool{
	{Kind: "Namespace"}:        true,
	{Kind: "Node"}:             true,
	{Kind: "PersistentVolume"}: true,
	{Kind: "ComponentStatus"}:  true,
	{Group: "apiextensions.k8s.io", Kind: "CustomResourceDefinition"}:                 true,
	{Group: "apiregistration.k8s.io", Kind: "APIService"}:                             true,
	{Group: "rbac.authorization.k8s.io", Kind: "ClusterRole"}:                         true,
	{Group: "rbac.authorization.k8s.io", Kind: "ClusterRoleBinding"}:                  true,
	{Group: "admissionregistration.k8s.io", Kind: "ValidatingWebhookConfiguration"}:   true,
	{Group: "admissionregistration.k8s.io", Kind: "MutatingWebhookConfiguration"}:     true,
	{Group: "admissionregistration.k8s.io", Kind: "ValidatingAdmissionPolicy"}:        true,
	{Group: "admissionregistration.k8s.io", Kind: "ValidatingAdmissionPolicyBinding"}: true,
	{Group: "admissionregistration.k8s.io", Kind: "MutatingAdmissionPolicy"}:          true,
	{Group: "admissionregistration.k8s.io", Kind: "MutatingAdmissionPolicyBinding"}:   true,
	{Group: "storage.k8s.io", Kind: "StorageClass"}:                                   true,
	{Group: "storage.k8s.io", Kind: "CSIDriver"}:                                      true,
	{Group: "storage.k8s.io", Kind: "CSINode"}:                                        true,
	{Group: "storage.k8s.io", Kind: "VolumeAttachment"}:                               true,
	{Group: "storage.k8s.io", Kind: "VolumeAttributesClass"}:                          true,
	{Group: "scheduling.k8s.io", Kind: "PriorityClass"}:                               true,
	{Group: "node.k8s.io", Kind: "RuntimeClass"}:                                      true,
	{Group: "networking.k8s.io", Kind: "IngressClass"}:                                true,
	{Group: "networking.k8s.io", Kind: "ServiceCIDR"}:                                 true,
	{Group: "networking.k8s.io", Kind: "IPAddress"}:                                   true,
	{Group: "certificates.k8s.io", Kind: "CertificateSigningRequest"}:                 true,
	{Group: "certificates.k8s.io", Kind: "ClusterTrustBundle"}:                        true,
	{Group: "flowcontrol.apiserver.k8s.io", Kind: "FlowSchema"}:                       true,
	{Group: "flowcontrol.apiserver.k8s.io", Kind: "PriorityLevelConfiguration"}:       true,
	{Group: "resource.k8s.io", Kind: "DeviceClass"}:                                   true,
	{Group: "resource.k8s.io", Kind: "ResourceSlice"}:                                 true,
	{Group: "storagemigration.k8s.io", Kind: "StorageVersionMigration"}:               true,
}

// scope answers "is this kind namespaced" from a cluster's REST mapper when
// there is one, otherwise from the built-in list plus the CRDs being rendered.
type scope struct {
	mapper Mapper
	crds   map[schema.GroupKind]bool // group/kind → namespaced
	// known remembers the mapper's answers for this render: a REST mapper
	// lookup takes locks and walks every group, and a render asks once per
	// object (a tenth of a controller's pass over 1,501 objects).
	known map[schema.GroupVersionKind]bool
}

func newScope(m Mapper, objs []Object) scope {
	s := scope{mapper: m, crds: map[schema.GroupKind]bool{}, known: map[schema.GroupVersionKind]bool{}}
	for _, o := range objs {
		if gk, namespaced, ok := resource.CRDKind(o.Object); ok {
			s.crds[gk] = namespaced
		}
	}
	return s
}

func (s scope) namespaced(u *unstructured.Unstructured) bool {
	gvk := u.GroupVersionKind()
	gk := gvk.GroupKind()
	if ns, ok := s.crds[gk]; ok {
		return ns
	}
	if ns, ok := s.known[gvk]; ok {
		return ns
	}
	ns := !clusterScoped[gk]
	if s.mapper != nil {
		if m, err := s.mapper.RESTMapping(gk, gvk.Version); err == nil {
			ns = m.Scope.Name() == meta.RESTScopeNameNamespace
		}
	}
	s.known[gvk] = ns
	return ns
}
