// Package v1alpha1 holds the App API (group plumb.dev, version v1alpha1):
// the Go types are the single source of the App schema that the CLI's
// preview, the config-file mode and the App custom resource all read.
//
// It holds types only, no behaviour: parsing, validation and the conversion
// to render, diff and sync options are in package apps.
// +kubebuilder:object:generate=true
// +groupName=plumb.dev
package v1alpha1
