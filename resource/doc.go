// Package resource is the identity of a Kubernetes object as every stage of
// plumb names it: Ref (group, kind, namespace, name) and the kinds a
// CustomResourceDefinition defines. It imports only apimachinery, so that
// diff, sync, health and the API types can share it without pulling in the
// renderers.
package resource
