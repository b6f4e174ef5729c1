package health

import (
	"encoding/json"
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// builtIn rates the kinds whose health Argo CD users know, as Argo CD's
// gitops-engine rates them (docs/health.md says where plumb differs and
// why); ok is false for any other kind, which kstatus then rates.
func builtIn(u *unstructured.Unstructured) (Status, string, bool) {
	gk := u.GroupVersionKind().GroupKind()
	switch gk.Group + "/" + gk.Kind {
	case "apps/Deployment":
		st, msg := deploymentHealth(u)
		return st, msg, true
	case "apps/StatefulSet":
		st, msg := statefulSetHealth(u)
		return st, msg, true
	case "apps/DaemonSet":
		st, msg := daemonSetHealth(u)
		return st, msg, true
	case "apps/ReplicaSet":
		st, msg := replicaSetHealth(u)
		return st, msg, true
	case "/Pod":
		st, msg := podHealth(u)
		return st, msg, true
	case "batch/Job":
		st, msg := jobHealth(u)
		return st, msg, true
	case "/PersistentVolumeClaim":
		st, msg := pvcHealth(u)
		return st, msg, true
	case "/Service":
		if str(u, "spec", "type") != "LoadBalancer" {
			return Healthy, "", true
		}
		return loadBalanced(u)
	case "networking.k8s.io/Ingress", "extensions/Ingress":
		return loadBalanced(u)
	case "autoscaling/HorizontalPodAutoscaler":
		st, msg := hpaHealth(u)
		return st, msg, true
	case "apiregistration.k8s.io/APIService":
		st, msg := apiServiceHealth(u)
		return st, msg, true
	case "plumb.dev/App":
		st, msg := appHealth(u)
		return st, msg, true
	}
	return "", "", false
}

func str(u *unstructured.Unstructured, path ...string) string {
	s, _, _ := unstructured.NestedString(u.Object, path...)
	return s
}

func num(u *unstructured.Unstructured, path ...string) int64 {
	n, _ := intAt(u, path...)
	return n
}

// intAt reads an integer field, however it was decoded (int64 from the
// API server, float64 from JSON); ok is false when it is not set.
func intAt(u *unstructured.Unstructured, path ...string) (int64, bool) {
	v, ok, _ := unstructured.NestedFieldNoCopy(u.Object, path...)
	switch n := v.(type) {
	case int64:
		return n, ok
	case int:
		return int64(n), ok
	case float64:
		return int64(n), ok
	}
	return 0, false
}

// replicas is spec.replicas; ok is false when it is not set.
func replicas(u *unstructured.Unstructured) (int64, bool) {
	return intAt(u, "spec", "replicas")
}

// behind reports whether the controller has not yet seen the latest spec.
func behind(u *unstructured.Unstructured) bool {
	return num(u, "metadata", "generation") > num(u, "status", "observedGeneration")
}

func loadBalanced(u *unstructured.Unstructured) (Status, string, bool) {
	ingress, _, _ := unstructured.NestedSlice(u.Object, "status", "loadBalancer", "ingress")
	if len(ingress) == 0 {
		return Progressing, "waiting for the load balancer's address", true
	}
	return Healthy, "load balancer ready", true
}

func deploymentHealth(u *unstructured.Unstructured) (Status, string) {
	if paused, _, _ := unstructured.NestedBool(u.Object, "spec", "paused"); paused {
		return Suspended, "rollout paused"
	}
	if behind(u) {
		return Progressing, "waiting for the rollout to be observed"
	}
	if c, ok := condition(u, "Progressing"); ok && c["reason"] == "ProgressDeadlineExceeded" {
		return Degraded, fmt.Sprintf("ProgressDeadlineExceeded: %v", c["message"])
	}
	updated, available := num(u, "status", "updatedReplicas"), num(u, "status", "availableReplicas")
	if want, ok := replicas(u); ok && updated < want {
		return Progressing, fmt.Sprintf("%d of %d new replicas updated", updated, want)
	}
	if old := num(u, "status", "replicas") - updated; old > 0 {
		return Progressing, fmt.Sprintf("%d old replicas pending termination", old)
	}
	if available < updated {
		return Progressing, fmt.Sprintf("%d of %d updated replicas available", available, updated)
	}
	return Healthy, "rollout complete"
}

func statefulSetHealth(u *unstructured.Unstructured) (Status, string) {
	if num(u, "status", "observedGeneration") == 0 || behind(u) {
		return Progressing, "waiting for the spec update to be observed"
	}
	ready := num(u, "status", "readyReplicas")
	want, set := replicas(u)
	if set && ready < want {
		return Progressing, fmt.Sprintf("%d of %d pods ready", ready, want)
	}
	updated := num(u, "status", "updatedReplicas")
	strategy := str(u, "spec", "updateStrategy", "type")
	if _, rolling, _ := unstructured.NestedMap(u.Object, "spec", "updateStrategy", "rollingUpdate"); strategy == "RollingUpdate" && rolling {
		partition, hasPartition := intAt(u, "spec", "updateStrategy", "rollingUpdate", "partition")
		if set && hasPartition && updated < want-partition {
			return Progressing, fmt.Sprintf("partitioned roll out: %d of %d new pods updated", updated, want-partition)
		}
		return Healthy, fmt.Sprintf("partitioned roll out complete: %d new pods updated", updated)
	}
	if strategy == "OnDelete" {
		return Healthy, fmt.Sprintf("%d ready pods (%d updated)", ready, updated)
	}
	if cur, next := str(u, "status", "currentRevision"), str(u, "status", "updateRevision"); cur != next {
		return Progressing, fmt.Sprintf("rolling update: %d pods at revision %s", updated, next)
	}
	return Healthy, "rolling update complete"
}

func daemonSetHealth(u *unstructured.Unstructured) (Status, string) {
	if behind(u) {
		return Progressing, "waiting for the rollout to be observed"
	}
	desired, updated := num(u, "status", "desiredNumberScheduled"), num(u, "status", "updatedNumberScheduled")
	if str(u, "spec", "updateStrategy", "type") == "OnDelete" {
		return Healthy, fmt.Sprintf("%d of %d pods updated (OnDelete)", updated, desired)
	}
	if updated < desired {
		return Progressing, fmt.Sprintf("%d of %d new pods updated", updated, desired)
	}
	if available := num(u, "status", "numberAvailable"); available < desired {
		return Progressing, fmt.Sprintf("%d of %d updated pods available", available, desired)
	}
	return Healthy, "rollout complete"
}

func replicaSetHealth(u *unstructured.Unstructured) (Status, string) {
	if behind(u) {
		return Progressing, "waiting for the rollout to be observed"
	}
	if c, ok := condition(u, "ReplicaFailure"); ok && c["status"] == "True" {
		return Degraded, fmt.Sprint(c["message"])
	}
	if want, ok := replicas(u); ok {
		if available := num(u, "status", "availableReplicas"); available < want {
			return Progressing, fmt.Sprintf("%d of %d replicas available", available, want)
		}
	}
	return Healthy, "replicas available"
}

func jobHealth(u *unstructured.Unstructured) (Status, string) {
	if c, ok := condition(u, "Failed"); ok && c["status"] == "True" {
		return Degraded, fmt.Sprintf("job failed: %v: %v", c["reason"], c["message"])
	}
	if c, ok := condition(u, "Complete"); ok && c["status"] == "True" {
		return Healthy, "job complete"
	}
	if c, ok := condition(u, "Suspended"); ok && c["status"] == "True" {
		return Suspended, "job suspended"
	}
	return Progressing, "job running"
}

func pvcHealth(u *unstructured.Unstructured) (Status, string) {
	switch str(u, "status", "phase") {
	case "Lost":
		return Degraded, "claim lost its volume"
	case "Pending":
		return Progressing, "claim pending"
	case "Bound":
		return Healthy, "claim bound"
	}
	return Unknown, "claim phase not known"
}

func apiServiceHealth(u *unstructured.Unstructured) (Status, string) {
	c, ok := condition(u, "Available")
	if !ok {
		return Progressing, "waiting to be processed"
	}
	msg := fmt.Sprintf("%v: %v", c["reason"], c["message"])
	if c["status"] == "True" {
		return Healthy, msg
	}
	return Progressing, msg
}

// appHealth rates a plumb App that another App renders (Apps of Apps) by
// its own status: Ready and its health.
func appHealth(u *unstructured.Unstructured) (Status, string) {
	c, ok := condition(u, "Ready")
	switch {
	case !ok || behind(u):
		return Progressing, "waiting for the App's reconcile"
	case c["status"] == "True":
		if h := Status(str(u, "status", "health")); h == Suspended {
			return Suspended, fmt.Sprint(c["message"])
		}
		return Healthy, fmt.Sprint(c["message"])
	}
	reason := fmt.Sprint(c["reason"])
	if Status(str(u, "status", "health")) == Degraded || strings.HasSuffix(reason, "Failed") || reason == "InvalidSpec" {
		return Degraded, fmt.Sprintf("%s: %v", reason, c["message"])
	}
	return Progressing, fmt.Sprintf("%s: %v", reason, c["message"])
}

// hpaHealth rates an HPA by its conditions: status.conditions, or for
// autoscaling/v1 the JSON in its conditions annotation. The first
// condition that is a known failure or a known steady state decides.
func hpaHealth(u *unstructured.Unstructured) (Status, string) {
	var conds []map[string]any
	if u.GroupVersionKind().Version == "v1" {
		raw, ok := u.GetAnnotations()["autoscaling.alpha.kubernetes.io/conditions"]
		if !ok {
			return Progressing, "waiting to autoscale"
		}
		if err := json.Unmarshal([]byte(raw), &conds); err != nil {
			return Unknown, "autoscaling.alpha.kubernetes.io/conditions: " + err.Error()
		}
	} else {
		list, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
		for _, c := range list {
			if m, ok := c.(map[string]any); ok {
				conds = append(conds, m)
			}
		}
	}
	failing := map[string]bool{"AbleToScale/FailedGetScale": true, "AbleToScale/FailedUpdateScale": true,
		"ScalingActive/FailedGetResourceMetric": true, "ScalingActive/InvalidSelector": true}
	steady := map[string]bool{"AbleToScale/SucceededRescale": true, "ScalingLimited/DesiredWithinRange": true,
		"ScalingLimited/TooFewReplicas": true, "ScalingLimited/TooManyReplicas": true}
	for _, c := range conds {
		key := fmt.Sprintf("%v/%v", c["type"], c["reason"])
		switch {
		case failing[key]:
			return Degraded, fmt.Sprintf("%s: %v", key, c["message"])
		case steady[key]:
			return Healthy, fmt.Sprintf("%s: %v", key, c["message"])
		}
	}
	return Progressing, "waiting to autoscale"
}
