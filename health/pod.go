package health

import (
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// podHealth rates a Pod as Argo CD does. A container waiting with an error
// (ErrImagePull, ImagePullBackOff, CrashLoopBackOff, CreateContainerError)
// is Degraded only under restartPolicy Always: a Pod that runs once (a
// hook) may still recover from it. A running Pod with restartPolicy Never
// or OnFailure is Progressing until it has Succeeded.
func podHealth(u *unstructured.Unstructured) (Status, string) {
	policy := str(u, "spec", "restartPolicy")
	statuses, _, _ := unstructured.NestedSlice(u.Object, "status", "containerStatuses")
	if policy == "Always" {
		var msgs []string
		for _, cs := range statuses {
			reason, _, _ := unstructured.NestedString(asMap(cs), "state", "waiting", "reason")
			if strings.HasPrefix(reason, "Err") || strings.HasSuffix(reason, "Error") || strings.HasSuffix(reason, "BackOff") {
				msg, _, _ := unstructured.NestedString(asMap(cs), "state", "waiting", "message")
				msgs = append(msgs, strings.TrimSpace(reason+": "+msg))
			}
		}
		if len(msgs) > 0 {
			return Degraded, strings.Join(msgs, ", ")
		}
	}
	message := str(u, "status", "message")
	switch str(u, "status", "phase") {
	case "Pending":
		return Progressing, message
	case "Succeeded":
		return Healthy, message
	case "Failed":
		if message == "" {
			message = failedContainer(u)
		}
		return Degraded, "pod failed: " + message
	case "Running":
		if policy == "Always" || u.GetAnnotations()["argocd.argoproj.io/ignore-restart-policy"] != "" {
			if c, ok := condition(u, "Ready"); ok && c["status"] == "True" {
				return Healthy, message
			}
			for _, cs := range statuses {
				if _, ok, _ := unstructured.NestedMap(asMap(cs), "lastState", "terminated"); ok {
					return Degraded, strings.TrimSpace("a container terminated and the pod is not ready " + message)
				}
			}
			return Progressing, message
		}
		return Progressing, "running once (restartPolicy " + policy + "): healthy when it has succeeded"
	}
	return Unknown, message
}

// failedContainer names the first container that says why the Pod failed.
func failedContainer(u *unstructured.Unstructured) string {
	for _, key := range []string{"initContainerStatuses", "containerStatuses"} {
		list, _, _ := unstructured.NestedSlice(u.Object, "status", key)
		for _, cs := range list {
			m := asMap(cs)
			term, ok, _ := unstructured.NestedMap(m, "state", "terminated")
			if !ok {
				continue
			}
			name, _, _ := unstructured.NestedString(m, "name")
			switch msg, reason, code := term["message"], term["reason"], term["exitCode"]; {
			case msg != nil && msg != "":
				return fmt.Sprint(msg)
			case reason == "OOMKilled":
				return "OOMKilled"
			case code != nil && fmt.Sprint(code) != "0":
				return fmt.Sprintf("container %q failed with exit code %v", name, code)
			}
		}
	}
	return ""
}

func asMap(v any) map[string]any {
	m, _ := v.(map[string]any)
	return m
}
