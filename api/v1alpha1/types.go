package v1alpha1

import (
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// Group, Version and Kind of the App API.
const (
	Group   = "plumb.dev"
	Version = "v1alpha1"
	Kind    = "App"
)

// APIVersion is "plumb.dev/v1alpha1".
const APIVersion = Group + "/" + Version

// App is one application kept in step with a path of a Git repository.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:path=apps,scope=Namespaced,categories=plumb
// +kubebuilder:printcolumn:name="Repo",type=string,JSONPath=".spec.source.repoURL"
// +kubebuilder:printcolumn:name="Path",type=string,JSONPath=".spec.source.path"
// +kubebuilder:printcolumn:name="Revision",type=string,JSONPath=".status.lastAppliedRevision"
// +kubebuilder:printcolumn:name="Synced",type=string,JSONPath=".status.syncStatus"
// +kubebuilder:printcolumn:name="Health",type=string,JSONPath=".status.health"
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=".metadata.creationTimestamp"
type App struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Spec              AppSpec   `json:"spec"`
	Status            AppStatus `json:"status,omitempty"`
}

// AppList is a list of Apps.
//
// +kubebuilder:object:root=true
type AppList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []App `json:"items"`
}

// AppSpec is what the App wants.
type AppSpec struct {
	Source            Source             `json:"source"`
	Render            RenderOptions      `json:"render,omitempty"`
	Destination       Destination        `json:"destination,omitempty"`
	SyncPolicy        SyncPolicy         `json:"syncPolicy,omitempty"`
	IgnoreDifferences []IgnoreDifference `json:"ignoreDifferences,omitempty"`
	// DependsOn names Apps that must be Ready at their current revision
	// before this App is synced.
	DependsOn []AppReference `json:"dependsOn,omitempty"`
	// HealthRules rate this App's objects of a kind by CEL expressions,
	// before plumb's own rules (Flux's healthCheckExprs shape).
	HealthRules []HealthRule `json:"healthRules,omitempty"`
	// ServiceAccountName is the service account, in the App's namespace,
	// that every request for the App impersonates (default: the
	// controller's --default-service-account, else plumb itself).
	ServiceAccountName string `json:"serviceAccountName,omitempty"`
	// DeletionPolicy says what deleting the App does to its objects:
	// orphan (the default) leaves them, delete prunes the inventory first.
	// +kubebuilder:validation:Enum="";orphan;delete
	DeletionPolicy string `json:"deletionPolicy,omitempty"`
}

// HealthRule rates the objects of one kind: CEL expressions over the
// object (its fields apiVersion, kind, metadata, spec, status, and self),
// evaluated inProgress, failed, current, the first that is true deciding;
// or an Argo CD Lua health script (lua) instead.
type HealthRule struct {
	// APIVersion is "group/version", or "group/*" for every version.
	// +kubebuilder:validation:MinLength=1
	APIVersion string `json:"apiVersion"`
	// +kubebuilder:validation:MinLength=1
	Kind       string `json:"kind"`
	Current    string `json:"current,omitempty"`
	InProgress string `json:"inProgress,omitempty"`
	Failed     string `json:"failed,omitempty"`
	// Lua is a health script as Argo CD's resource.customizations.health
	// takes it: obj is the object, it returns {status=..., message=...}.
	Lua string `json:"lua,omitempty"`
}

// AppReference names an App; Namespace defaults to the referring App's.
type AppReference struct {
	// +kubebuilder:validation:MinLength=1
	Name      string `json:"name"`
	Namespace string `json:"namespace,omitempty"`
}

// IgnoreDifference leaves fields of matching objects alone: they are
// neither compared nor applied. Empty selector fields match everything.
// It mirrors diff.IgnoreDifference field for field, so that the API does not
// depend on engine types while IgnoreRules converts with a plain type
// conversion, which stops compiling if the two ever drift apart.
type IgnoreDifference struct {
	Group     string `json:"group,omitempty"`
	Kind      string `json:"kind,omitempty"`
	Name      string `json:"name,omitempty"`
	Namespace string `json:"namespace,omitempty"`
	// JSONPointers are RFC 6901 pointers such as /spec/replicas.
	JSONPointers []string `json:"jsonPointers,omitempty"`
	// ManagedFieldsManagers leaves alone every field these managers own.
	ManagedFieldsManagers []string `json:"managedFieldsManagers,omitempty"`
}

// Source is where the App's manifests live: a directory of a Git
// repository, or a chart from a Helm repository or an OCI registry (with
// value files from the Git directory, when one is named too).
type Source struct {
	// RepoURL is the Git repository (required unless Chart is set).
	RepoURL string `json:"repoURL,omitempty"`
	// Ref is a branch, a tag or a commit (default: the remote's HEAD branch).
	Ref string `json:"ref,omitempty"`
	// Path is the directory inside the repository (default: its root).
	Path string `json:"path,omitempty"`
	// SecretRef names a Secret with credentials for the repository.
	SecretRef *LocalObjectReference `json:"secretRef,omitempty"`
	// Chart renders a chart from a repository instead of the directory at
	// Path, which then holds the value files (render.helm.valueFiles).
	Chart *ChartSource `json:"chart,omitempty"`
}

// ChartSource names a chart in a Helm chart repository or OCI registry.
type ChartSource struct {
	// RepoURL is https://… (a Helm chart repository) or oci://host/path.
	// +kubebuilder:validation:MinLength=1
	RepoURL string `json:"repoURL"`
	// +kubebuilder:validation:MinLength=1
	Name string `json:"name"`
	// Version is an exact version or a semver range (default: the newest);
	// a range is resolved again on every poll.
	Version string `json:"version,omitempty"`
	// SecretRef names a Secret with username and password, or token, for
	// the chart repository.
	SecretRef *LocalObjectReference `json:"secretRef,omitempty"`
}

// LocalObjectReference names an object in the App's namespace.
type LocalObjectReference struct {
	Name string `json:"name"`
}

// RenderOptions choose and tune the renderer.
type RenderOptions struct {
	// Renderer is plain, kustomize or helm (default: detected).
	// +kubebuilder:validation:Enum="";plain;kustomize;helm
	Renderer  string           `json:"renderer,omitempty"`
	Plain     PlainOptions     `json:"plain,omitempty"`
	Helm      HelmOptions      `json:"helm,omitempty"`
	Kustomize KustomizeOptions `json:"kustomize,omitempty"`
	// Limits lower the controller's render limits for this App; a limit
	// above the controller's is the controller's.
	Limits *RenderLimits `json:"limits,omitempty"`
}

// RenderLimits bound the App's render, which runs in a sandboxed worker
// process.
type RenderLimits struct {
	// Memory caps the worker's memory, e.g. 256Mi.
	Memory *resource.Quantity `json:"memory,omitempty"`
	// CPU caps the worker's CPU time, e.g. 30s.
	CPU *metav1.Duration `json:"cpu,omitempty"`
	// Timeout caps the render's wall-clock time.
	Timeout *metav1.Duration `json:"timeout,omitempty"`
	// Output caps the bytes of the rendered objects.
	Output *resource.Quantity `json:"output,omitempty"`
}

// PlainOptions select the files of a plain directory.
type PlainOptions struct {
	Recursive bool     `json:"recursive,omitempty"`
	Include   []string `json:"include,omitempty"`
	Exclude   []string `json:"exclude,omitempty"`
}

// HelmOptions are `helm template`'s options.
type HelmOptions struct {
	ReleaseName string   `json:"releaseName,omitempty"`
	ValueFiles  []string `json:"valueFiles,omitempty"`
	// Values are inline values, merged after the value files.
	// +kubebuilder:pruning:PreserveUnknownFields
	// +kubebuilder:validation:Type=object
	Values      *runtime.RawExtension `json:"values,omitempty"`
	Set         []string              `json:"set,omitempty"`
	SetString   []string              `json:"setString,omitempty"`
	KubeVersion string                `json:"kubeVersion,omitempty"`
	APIVersions []string              `json:"apiVersions,omitempty"`
	SkipCRDs    bool                  `json:"skipCRDs,omitempty"`
}

// KustomizeOptions loosen Kustomize's sandbox.
type KustomizeOptions struct {
	AllowRemote bool `json:"allowRemote,omitempty"`
	AllowHelm   bool `json:"allowHelm,omitempty"`
}

// Destination is where objects without a namespace go.
type Destination struct {
	Namespace string `json:"namespace,omitempty"`
}

// SyncPolicy says how the App is kept in step.
type SyncPolicy struct {
	// Auto applies changes (default true); false only reports OutOfSync.
	Auto       *bool `json:"auto,omitempty"`
	Prune      bool  `json:"prune,omitempty"`
	SelfHeal   bool  `json:"selfHeal,omitempty"`
	AllowEmpty bool  `json:"allowEmpty,omitempty"`
	// Force recreates objects whose change hits an immutable field.
	Force bool `json:"force,omitempty"`
	// Interval between polls (default 3m).
	Interval *metav1.Duration `json:"interval,omitempty"`
	// WaitTimeout bounds the wait for health after a sync.
	WaitTimeout *metav1.Duration `json:"waitTimeout,omitempty"`
	Retry       *RetryPolicy     `json:"retry,omitempty"`
	// Adopt takes over objects that exist without a plumb label (created
	// by hand or by another tool); otherwise the sync fails on them.
	Adopt bool `json:"adopt,omitempty"`
	// MaxPrune is the deletion budget: a count or a percentage of the
	// App's objects (default 25% when auto is on). A sync that would prune
	// more holds every prune until the App is annotated
	// plumb.dev/approve-prune with the revision.
	// +kubebuilder:validation:XIntOrString
	MaxPrune *intstr.IntOrString `json:"maxPrune,omitempty"`
	// CreateNamespace creates the destination namespace when it is missing.
	CreateNamespace bool `json:"createNamespace,omitempty"`
	// ManagedNamespaceMetadata are the labels and annotations of a
	// namespace CreateNamespace makes.
	ManagedNamespaceMetadata *NamespaceMetadata `json:"managedNamespaceMetadata,omitempty"`
}

// NamespaceMetadata are labels and annotations for a created namespace.
type NamespaceMetadata struct {
	Labels      map[string]string `json:"labels,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
}

// RetryPolicy retries failed syncs with exponential backoff.
type RetryPolicy struct {
	Limit   int              `json:"limit,omitempty"`
	Backoff *metav1.Duration `json:"backoff,omitempty"`
}

// AppStatus is what the controller observed; kstatus-compatible.
type AppStatus struct {
	ObservedGeneration    int64              `json:"observedGeneration,omitempty"`
	Conditions            []metav1.Condition `json:"conditions,omitempty"`
	LastAttemptedRevision string             `json:"lastAttemptedRevision,omitempty"`
	LastAppliedRevision   string             `json:"lastAppliedRevision,omitempty"`
	// SyncStatus is Synced, OutOfSync or Unknown.
	SyncStatus string         `json:"syncStatus,omitempty"`
	Sync       map[string]int `json:"sync,omitempty"`
	Health     string         `json:"health,omitempty"`
	Inventory  string         `json:"inventory,omitempty"`
}
