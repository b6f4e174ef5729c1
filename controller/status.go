package controller

import (
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/plumbhq/plumb/api/v1alpha1"
	"github.com/plumbhq/plumb/git"
	"github.com/plumbhq/plumb/health"
	"github.com/plumbhq/plumb/sync"
)

// kstatus condition types.
const (
	ConditionReady       = "Ready"
	ConditionReconciling = "Reconciling"
	ConditionStalled     = "Stalled"
)

// Revision formats a revision as Flux does: "main@sha1:<hash>", or
// "sha1:<hash>" for an App pinned to a commit.
func Revision(rev git.Revision) string {
	if rev.Commit == "" {
		return ""
	}
	name := strings.TrimPrefix(strings.TrimPrefix(rev.Ref, "refs/heads/"), "refs/tags/")
	if name == "" {
		return "sha1:" + rev.Commit
	}
	return name + "@sha1:" + rev.Commit
}

// revisionOf is the App's revision: its commit and its chart
// ("main@sha1:…; web@1.2.3/sha256:…"), or either alone.
func revisionOf(w *appState) string {
	rev := Revision(w.rev)
	if w.chart.Digest != "" {
		rev = strings.TrimPrefix(rev+"; "+w.chart.Revision(), "; ")
	}
	return rev
}

// statusFor derives the App's status from the pass's outcome. It is
// deterministic: the same state gives the same status, so an unchanged
// App writes nothing.
func (c *Controller) statusFor(w *appState, out outcome) v1alpha1.AppStatus {
	app := &w.app
	s := *app.Status.DeepCopy()
	s.ObservedGeneration = app.Generation
	s.Inventory = inventoryRef(app)
	rev := revisionOf(w)
	if rev != "" {
		s.LastAttemptedRevision = rev
	}
	synced := w.renderKey != "" && w.syncedKey == w.renderKey && out.err == nil && out.outOfSync == 0
	if synced {
		s.LastAppliedRevision = rev
	}
	if out.counts != nil {
		s.Sync = out.counts
	}
	if out.health != nil {
		s.Health = string(out.health.Status)
	}
	switch {
	case out.failure == ReasonSyncFailed || out.outOfSync > 0 || len(out.held) > 0:
		s.SyncStatus = OutOfSync
	case out.err != nil:
		s.SyncStatus = Unknown
	case synced:
		s.SyncStatus = Synced
	}

	set := func(typ string, status metav1.ConditionStatus, reason, msg string) {
		meta.SetStatusCondition(&s.Conditions, metav1.Condition{
			Type: typ, Status: status, Reason: reason, Message: msg, ObservedGeneration: app.Generation,
		})
	}
	switch {
	case out.failure == ReasonDependencyNotReady:
		set(ConditionReady, metav1.ConditionFalse, out.failure, out.err.Error())
		set(ConditionStalled, metav1.ConditionFalse, out.failure, "")
		set(ConditionReconciling, metav1.ConditionTrue, out.failure, out.err.Error())
	case out.err != nil:
		msg := out.err.Error()
		if s.LastAppliedRevision != "" && out.failure != ReasonSyncFailed {
			msg += fmt.Sprintf("; live objects left as applied at %s", s.LastAppliedRevision)
		}
		set(ConditionReady, metav1.ConditionFalse, out.failure, msg)
		set(ConditionStalled, metav1.ConditionTrue, out.failure, msg)
		set(ConditionReconciling, metav1.ConditionFalse, out.failure, "retrying with backoff")
	case len(out.held) > 0:
		msg := heldMessage(out.held, approvalRevision(w))
		set(ConditionReady, metav1.ConditionFalse, ConditionPruneApproval, msg)
		set(ConditionStalled, metav1.ConditionFalse, ConditionPruneApproval, "")
		set(ConditionReconciling, metav1.ConditionFalse, ConditionPruneApproval, "")
	case out.outOfSync > 0:
		why := "selfHeal is off: the drift stays until the next change in Git"
		if !auto(app) {
			why = "auto is off: nothing is applied"
		}
		msg := fmt.Sprintf("%d objects differ from %s; %s", out.outOfSync, rev, why)
		set(ConditionReady, metav1.ConditionFalse, ReasonOutOfSync, msg)
		set(ConditionStalled, metav1.ConditionFalse, ReasonOutOfSync, "")
		set(ConditionReconciling, metav1.ConditionFalse, ReasonOutOfSync, "")
	default:
		healthConditions(set, health.Status(s.Health), out.health, rev)
	}
	withWarnings(&s, w.warnings)
	switch {
	case len(out.held) > 0:
		set(ConditionPruneApproval, metav1.ConditionTrue, ConditionPruneApproval, heldMessage(out.held, approvalRevision(w)))
	case out.err == nil:
		meta.RemoveStatusCondition(&s.Conditions, ConditionPruneApproval)
	}
	return s
}

// ConditionPruneApproval is true while prunes wait for approval (and is its
// reason too).
const ConditionPruneApproval = "PruneApprovalRequired"

// heldMessage lists the prunes that wait and says how to approve them.
func heldMessage(held sync.ChangeSet, commit string) string {
	const shown = 20
	var refs []string
	for i, ch := range held {
		if i == shown {
			refs = append(refs, fmt.Sprintf("and %d more", len(held)-shown))
			break
		}
		refs = append(refs, ch.Ref.String())
	}
	return fmt.Sprintf("%s; waiting: %s; approve with the annotation %s: %q (or plumb sync --approve-prune)",
		held[0].Reason, strings.Join(refs, ", "), ApprovePruneAnnotation, commit)
}

// healthConditions sets the conditions of a pass that applied (or found
// in step) what it rendered: they follow the App's health.
func healthConditions(set func(typ string, status metav1.ConditionStatus, reason, msg string), status health.Status, rep *health.Report, rev string) {
	detail := ""
	if rep != nil {
		detail = healthDetail(rep)
	}
	switch status {
	case health.Healthy, health.Suspended:
		msg := fmt.Sprintf("applied %s; %s", rev, strings.ToLower(string(status)))
		set(ConditionReady, metav1.ConditionTrue, ReasonSucceeded, msg)
		set(ConditionStalled, metav1.ConditionFalse, ReasonSucceeded, "")
		set(ConditionReconciling, metav1.ConditionFalse, ReasonSucceeded, "")
	case health.Degraded:
		msg := fmt.Sprintf("applied %s; degraded: %s", rev, detail)
		set(ConditionReady, metav1.ConditionFalse, ReasonDegraded, msg)
		set(ConditionStalled, metav1.ConditionTrue, ReasonDegraded, msg)
		set(ConditionReconciling, metav1.ConditionFalse, ReasonDegraded, "")
	default:
		msg := fmt.Sprintf("applied %s; waiting for %s", rev, detail)
		if detail == "" {
			msg = fmt.Sprintf("applied %s; waiting for health", rev)
		}
		set(ConditionReady, metav1.ConditionFalse, ReasonProgressing, msg)
		set(ConditionStalled, metav1.ConditionFalse, ReasonProgressing, "")
		set(ConditionReconciling, metav1.ConditionTrue, ReasonProgressing, msg)
	}
}

// withWarnings adds what the render did not do to the Ready condition's
// message, so that it is said where users look.
func withWarnings(s *v1alpha1.AppStatus, warnings []string) {
	const shown = 5 // a condition message holds at most 32,768 characters
	if c := meta.FindStatusCondition(s.Conditions, ConditionReady); c != nil && len(warnings) > 0 {
		list := warnings
		if len(list) > shown {
			list = append(list[:shown:shown], fmt.Sprintf("and %d more", len(warnings)-shown))
		}
		c.Message += "; warnings: " + strings.Join(list, "; ")
	}
}

// healthDetail names the objects that are not healthy (at most three).
func healthDetail(r *health.Report) string {
	var parts []string
	for _, o := range r.Objects {
		if o.Status != health.Healthy && o.Status != health.Suspended {
			parts = append(parts, o.Explain())
		}
	}
	sort.Strings(parts)
	if len(parts) > 3 {
		parts = append(parts[:3], fmt.Sprintf("and %d more", len(parts)-3))
	}
	if len(parts) == 0 {
		return fmt.Sprintf("%d objects", len(r.Objects))
	}
	return strings.Join(parts, "; ")
}

func statusEqual(a, b v1alpha1.AppStatus) bool { return equality.Semantic.DeepEqual(a, b) }

// events records what changed as Kubernetes Events on the App: every sync
// that changed objects, and each new failure, drift or health verdict once.
func (c *Controller) events(w *appState, old v1alpha1.AppStatus, out outcome) {
	if c.opts.Events == nil {
		return
	}
	app := &w.app
	ref := &corev1.ObjectReference{
		APIVersion: v1alpha1.APIVersion, Kind: v1alpha1.Kind,
		Namespace: app.Namespace, Name: app.Name, UID: app.UID,
	}
	emit := func(typ, reason, msg string, once bool) {
		if once && w.lastEvent == reason+"\x00"+msg {
			return
		}
		w.lastEvent = reason + "\x00" + msg
		c.opts.Events.Eventf(ref, typ, reason, "%s", msg)
	}
	rev := app.Status.LastAttemptedRevision
	switch {
	case out.failure == ReasonDependencyNotReady:
		emit(corev1.EventTypeNormal, out.failure, out.err.Error(), true)
	case out.err != nil:
		emit(corev1.EventTypeWarning, out.failure, out.err.Error(), true)
	case out.counts != nil && changedObjects(out.counts) > 0:
		emit(corev1.EventTypeNormal, "Synced", fmt.Sprintf("%s: %s", rev, countsText(out.counts)), false)
	case len(out.held) > 0:
		emit(corev1.EventTypeWarning, ConditionPruneApproval, heldMessage(out.held, approvalRevision(w)), true)
	case out.outOfSync > 0:
		emit(corev1.EventTypeNormal, ReasonOutOfSync, fmt.Sprintf("%d objects differ from %s", out.outOfSync, rev), true)
	}
	if len(out.held) > 0 && out.counts != nil && changedObjects(out.counts) > 0 { // the Synced Event took the switch
		emit(corev1.EventTypeWarning, ConditionPruneApproval, heldMessage(out.held, approvalRevision(w)), true)
	}
	if len(w.warnings) > 0 && out.counts != nil && changedObjects(out.counts) > 0 {
		emit(corev1.EventTypeWarning, "RenderWarning", strings.Join(w.warnings, "; "), false)
	}
	if out.health != nil && old.Health != app.Status.Health {
		switch out.health.Status {
		case health.Healthy:
			emit(corev1.EventTypeNormal, "Healthy", fmt.Sprintf("%s: every object is healthy", rev), false)
		case health.Degraded:
			emit(corev1.EventTypeWarning, ReasonDegraded, healthDetail(out.health), false)
		}
	}
}

func changedObjects(counts map[string]int) int {
	return counts["created"] + counts["configured"] + counts["recreated"] + counts["pruned"]
}

// countsText is "1 created, 2 configured, ..." in a fixed order.
func countsText(counts map[string]int) string {
	var parts []string
	for _, a := range []string{"created", "configured", "recreated", "pruned", "held", "unchanged", "skipped", "failed"} {
		if n := counts[a]; n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, a))
		}
	}
	return strings.Join(parts, ", ")
}
