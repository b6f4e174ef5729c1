package health

import (
	"fmt"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"

	"github.com/plumbhq/plumb/resource"
)

// Status is the health of one object or of an App.
type Status string

// Statuses, from best to worst (an App's status is its worst child's).
const (
	Healthy     Status = "Healthy"
	Suspended   Status = "Suspended"
	Progressing Status = "Progressing"
	Unknown     Status = "Unknown"
	Missing     Status = "Missing"
	Degraded    Status = "Degraded"
)

var severity = map[Status]int{Healthy: 0, Suspended: 1, Progressing: 2, Unknown: 3, Missing: 4, Degraded: 5}

// Worse reports whether a is worse than b.
func Worse(a, b Status) bool { return severity[a] > severity[b] }

// Result is the health of one object with a one-line reason.
type Result struct {
	Ref    resource.Ref `json:"ref"`
	Status Status       `json:"status"`
	Reason string       `json:"reason,omitempty"`
}

// Of computes the health of one live object. It is a pure function: kstatus
// for anything with standard conditions or observedGeneration, and rules
// where kstatus answers a different question than "is my rollout done".
// A nil object is Missing.
func Of(u *unstructured.Unstructured) Result {
	if u == nil {
		return Result{Status: Missing, Reason: "not found in the cluster"}
	}
	res := Result{Ref: resource.RefOf(u)}
	if u.GetDeletionTimestamp() != nil {
		res.Status, res.Reason = Progressing, "being deleted"
		return res
	}
	if st, reason, ok := override(u); ok {
		res.Status, res.Reason = st, reason
		return res
	}
	ks, err := status.Compute(u)
	if err != nil {
		res.Status, res.Reason = Unknown, err.Error()
		return res
	}
	res.Reason = ks.Message
	switch ks.Status {
	case status.CurrentStatus:
		res.Status = Healthy
	case status.InProgressStatus, status.TerminatingStatus:
		res.Status = Progressing
	case status.FailedStatus:
		res.Status = Degraded
	case status.NotFoundStatus:
		res.Status = Missing
	default:
		res.Status = Unknown
	}
	return res
}

// override holds the per-kind rules that take precedence over kstatus.
func override(u *unstructured.Unstructured) (Status, string, bool) {
	gk := u.GroupVersionKind().GroupKind()
	switch {
	case gk.Group == "apps" && gk.Kind == "Deployment":
		if paused, _, _ := unstructured.NestedBool(u.Object, "spec", "paused"); paused {
			return Suspended, "rollout paused", true
		}
		if c, ok := condition(u, "Progressing"); ok && c["status"] == "False" && c["reason"] == "ProgressDeadlineExceeded" {
			return Degraded, fmt.Sprintf("ProgressDeadlineExceeded: %v", c["message"]), true
		}
	case gk.Group == "" && gk.Kind == "Service":
		typ, _, _ := unstructured.NestedString(u.Object, "spec", "type")
		if typ == "LoadBalancer" {
			ingress, _, _ := unstructured.NestedSlice(u.Object, "status", "loadBalancer", "ingress")
			if len(ingress) == 0 {
				return Progressing, "waiting for the load balancer's address", true
			}
			return Healthy, "load balancer ready", true
		}
	case gk.Group == "" && gk.Kind == "Pod":
		if phase, _, _ := unstructured.NestedString(u.Object, "status", "phase"); phase == "Failed" {
			msg, _, _ := unstructured.NestedString(u.Object, "status", "message")
			return Degraded, "pod failed: " + msg, true
		}
	case gk.Group == "batch" && gk.Kind == "Job":
		if c, ok := condition(u, "Failed"); ok && c["status"] == "True" {
			return Degraded, fmt.Sprintf("job failed: %v: %v", c["reason"], c["message"]), true
		}
		if c, ok := condition(u, "Complete"); ok && c["status"] == "True" {
			return Healthy, "job complete", true
		}
		if suspend, _, _ := unstructured.NestedBool(u.Object, "spec", "suspend"); suspend {
			return Suspended, "job suspended", true
		}
		return Progressing, "job running", true
	case gk.Group == "" && gk.Kind == "PersistentVolumeClaim":
		if phase, _, _ := unstructured.NestedString(u.Object, "status", "phase"); phase == "Lost" {
			return Degraded, "claim lost its volume", true
		}
	}
	return "", "", false
}

func condition(u *unstructured.Unstructured, typ string) (map[string]any, bool) {
	conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	for _, c := range conds {
		if m, ok := c.(map[string]any); ok && m["type"] == typ {
			return m, true
		}
	}
	return nil, false
}

// Report is the health of an App: its worst child, and every child.
type Report struct {
	Status  Status   `json:"status"`
	Objects []Result `json:"objects"`
}

// Aggregate reports the worst status of results (Healthy for none).
func Aggregate(results []Result) Report {
	r := Report{Status: Healthy, Objects: results}
	for _, res := range results {
		if Worse(res.Status, r.Status) {
			r.Status = res.Status
		}
	}
	return r
}
