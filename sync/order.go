package sync

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// WaveAnnotation orders objects beyond their kind: lower waves go first.
// ArgoWaveAnnotation is read as an alias, so that repositories written for
// Argo CD keep their order; plumb's own wins where both are set.
const (
	WaveAnnotation     = "plumb.dev/sync-wave"
	ArgoWaveAnnotation = "argocd.argoproj.io/sync-wave"
)

// Stages by kind. Definitions come first so what depends on them can be
// admitted; webhooks come last so they cannot block the objects of their
// own app (their backing Service and Deployment are not there yet).
const (
	stageCRD = iota
	stageNamespace
	stageDefinitions // cluster-wide definitions, policy and RBAC roles
	// Bindings follow the roles they grant: for anyone short of cluster-admin
	// the API server's escalation check reads the role, so a binding applied
	// alongside its role fails with "not found".
	stageBinding
	stageServiceAccount
	stageConfigMap
	stageSecret
	stageStorage
	stageService
	stageWorkload // workloads and everything else, custom resources included
	stageWebhook
)

var stageNames = []string{"CustomResourceDefinitions", "Namespaces", "definitions and RBAC", "RBAC bindings", "ServiceAccounts", "ConfigMaps", "Secrets", "storage", "Services", "workloads", "webhooks"}

var stageOf = map[schema.GroupKind]int{
	{Group: "apiextensions.k8s.io", Kind: "CustomResourceDefinition"}: stageCRD,
	{Kind: "Namespace"}: stageNamespace,
	{Group: "rbac.authorization.k8s.io", Kind: "ClusterRole"}:                       stageDefinitions,
	{Group: "rbac.authorization.k8s.io", Kind: "ClusterRoleBinding"}:                stageBinding,
	{Group: "rbac.authorization.k8s.io", Kind: "Role"}:                              stageDefinitions,
	{Group: "rbac.authorization.k8s.io", Kind: "RoleBinding"}:                       stageBinding,
	{Group: "scheduling.k8s.io", Kind: "PriorityClass"}:                             stageDefinitions,
	{Group: "storage.k8s.io", Kind: "StorageClass"}:                                 stageDefinitions,
	{Group: "networking.k8s.io", Kind: "IngressClass"}:                              stageDefinitions,
	{Group: "node.k8s.io", Kind: "RuntimeClass"}:                                    stageDefinitions,
	{Kind: "ResourceQuota"}:                                                         stageDefinitions,
	{Kind: "LimitRange"}:                                                            stageDefinitions,
	{Group: "networking.k8s.io", Kind: "NetworkPolicy"}:                             stageDefinitions,
	{Kind: "ServiceAccount"}:                                                        stageServiceAccount,
	{Kind: "ConfigMap"}:                                                             stageConfigMap,
	{Kind: "Secret"}:                                                                stageSecret,
	{Kind: "PersistentVolume"}:                                                      stageStorage,
	{Kind: "PersistentVolumeClaim"}:                                                 stageStorage,
	{Kind: "Service"}:                                                               stageService,
	{Group: "admissionregistration.k8s.io", Kind: "ValidatingWebhookConfiguration"}: stageWebhook,
	{Group: "admissionregistration.k8s.io", Kind: "MutatingWebhookConfiguration"}:   stageWebhook,
	{Group: "apiregistration.k8s.io", Kind: "APIService"}:                           stageWebhook,
}

func stage(u *unstructured.Unstructured) int {
	if s, ok := stageOf[u.GroupVersionKind().GroupKind()]; ok {
		return s
	}
	return stageWorkload
}

// batch is a set of objects applied together, in parallel.
type batch struct {
	wave, stage int
	objs        []*unstructured.Unstructured
}

func (b batch) String() string {
	if b.wave != 0 {
		return fmt.Sprintf("wave %d, %s", b.wave, stageNames[b.stage])
	}
	return stageNames[b.stage]
}

// plan orders objects into batches by sync wave, then kind stage, keeping
// the render order within a batch.
func plan(objs []*unstructured.Unstructured) ([]batch, error) {
	type keyed struct {
		wave, stage int
		obj         *unstructured.Unstructured
	}
	ks := make([]keyed, 0, len(objs))
	for _, o := range objs {
		wave, err := waveOf(o)
		if err != nil {
			return nil, err
		}
		ks = append(ks, keyed{wave, stage(o), o})
	}
	sort.SliceStable(ks, func(i, j int) bool {
		if ks[i].wave != ks[j].wave {
			return ks[i].wave < ks[j].wave
		}
		return ks[i].stage < ks[j].stage
	})
	var out []batch
	for _, k := range ks {
		if n := len(out); n > 0 && out[n-1].wave == k.wave && out[n-1].stage == k.stage {
			out[n-1].objs = append(out[n-1].objs, k.obj)
			continue
		}
		out = append(out, batch{wave: k.wave, stage: k.stage, objs: []*unstructured.Unstructured{k.obj}})
	}
	return out, nil
}

// waveOf is the object's sync wave: plumb's annotation, else Argo CD's,
// else helm.sh/hook-weight (which Argo CD reads as a wave too), else 0.
func waveOf(o *unstructured.Unstructured) (int, error) {
	for _, key := range []string{WaveAnnotation, ArgoWaveAnnotation, HelmWeightAnnotation} {
		if _, ok := o.GetAnnotations()[key]; ok {
			return intAnnotation(o, key)
		}
	}
	return 0, nil
}

// intAnnotation reads an integer annotation (0 when it is not set).
func intAnnotation(o *unstructured.Unstructured, key string) (int, error) {
	w, ok := o.GetAnnotations()[key]
	if !ok {
		return 0, nil
	}
	n, err := strconv.Atoi(strings.TrimSpace(w))
	if err != nil {
		return 0, fmt.Errorf("%s: annotation %s: %q is not an integer", HookName(o), key, w)
	}
	return n, nil
}
