package sync

import (
	"fmt"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/plumbhq/plumb/resource"
)

// Hook annotations: Helm's and Argo CD's, read as those tools do, so that
// charts and repositories written for them run unchanged.
const (
	HelmHookAnnotation         = "helm.sh/hook"
	HelmWeightAnnotation       = "helm.sh/hook-weight"
	HelmDeletePolicyAnnotation = "helm.sh/hook-delete-policy"
	ArgoHookAnnotation         = "argocd.argoproj.io/hook"
	ArgoDeletePolicyAnnotation = "argocd.argoproj.io/hook-delete-policy"
)

// Phase is the part of a sync a hook runs in.
type Phase string

// Phases, in the order a sync runs them; SyncFail runs only when the sync
// failed.
const (
	PreSync  Phase = "PreSync"
	InSync   Phase = "Sync"
	PostSync Phase = "PostSync"
	SyncFail Phase = "SyncFail"
)

// Delete policies, by Argo CD's names; Helm's are mapped onto them.
const (
	BeforeHookCreation = "BeforeHookCreation"
	HookSucceeded      = "HookSucceeded"
	HookFailed         = "HookFailed"
)

// Hook is one hook object as a sync sees it.
type Hook struct {
	Object *unstructured.Unstructured
	// Events are the hook's annotation as written ("pre-install,pre-upgrade",
	// "PreSync"), for messages.
	Events string
	// Helm tells a Helm hook from an Argo CD one: Helm's events depend on
	// whether the App is installed, and Helm runs hooks one at a time.
	Helm bool
	// Weight orders hooks within a phase: helm.sh/hook-weight, or a sync
	// wave for an Argo CD hook.
	Weight int
	// Policies are the delete policies; BeforeHookCreation when none is set.
	Policies map[string]bool
}

// ParseHook reads the hook annotations of u. ok is false when u is no hook.
// Argo CD's annotation wins where both are set, as in Argo CD.
func ParseHook(u *unstructured.Unstructured) (h Hook, ok bool, err error) {
	ann := u.GetAnnotations()
	h = Hook{Object: u, Policies: map[string]bool{}}
	policies := ""
	if v, found := ann[ArgoHookAnnotation]; found {
		h.Events, policies = v, ann[ArgoDeletePolicyAnnotation]
		if w, werr := waveOf(u); werr == nil {
			h.Weight = w
		} else {
			return h, true, werr
		}
	} else if v, found := ann[HelmHookAnnotation]; found {
		h.Events, h.Helm, policies = v, true, ann[HelmDeletePolicyAnnotation]
		if w, werr := intAnnotation(u, HelmWeightAnnotation); werr == nil {
			h.Weight = w
		} else {
			return h, true, werr
		}
	} else {
		return h, false, nil
	}
	for _, p := range splitList(policies) {
		switch strings.ToLower(p) {
		case "before-hook-creation", "beforehookcreation":
			h.Policies[BeforeHookCreation] = true
		case "hook-succeeded", "hooksucceeded":
			h.Policies[HookSucceeded] = true
		case "hook-failed", "hookfailed":
			h.Policies[HookFailed] = true
		default:
			return h, true, fmt.Errorf("%s: hook delete policy %q is not before-hook-creation, hook-succeeded or hook-failed", HookName(u), p)
		}
	}
	if len(h.Policies) == 0 {
		h.Policies[BeforeHookCreation] = true // Helm's and Argo CD's default
	}
	return h, true, nil
}

// Phases are the phases the hook runs in: Helm's install events on the
// App's first sync, its upgrade events on the later ones. unsupported names
// the events plumb does not run (Helm's test, rollback and delete hooks,
// Argo CD's PostDelete), and skip is true for Argo CD's Skip: an object
// that is neither applied nor run.
func (h Hook) Phases(install bool) (phases []Phase, unsupported []string, skip bool) {
	for _, e := range splitList(h.Events) {
		if !h.Helm {
			switch Phase(e) {
			case PreSync, InSync, PostSync, SyncFail:
				phases = append(phases, Phase(e))
			case "Skip":
				skip = true
			default:
				unsupported = append(unsupported, e)
			}
			continue
		}
		switch strings.ToLower(e) {
		case "pre-install":
			phases = appendIf(phases, install, PreSync)
		case "post-install":
			phases = appendIf(phases, install, PostSync)
		case "pre-upgrade":
			phases = appendIf(phases, !install, PreSync)
		case "post-upgrade":
			phases = appendIf(phases, !install, PostSync)
		default:
			unsupported = append(unsupported, e)
		}
	}
	return phases, unsupported, skip
}

// Unsupported names the hook events plumb never runs, whatever the sync:
// what a render warns about.
func (h Hook) Unsupported() []string {
	_, first, _ := h.Phases(true)
	_, later, _ := h.Phases(false)
	seen := map[string]bool{}
	var out []string
	for _, e := range append(first, later...) {
		if !seen[e] {
			seen[e] = true
			out = append(out, e)
		}
	}
	return out
}

func appendIf(phases []Phase, ok bool, p Phase) []Phase {
	if ok {
		return append(phases, p)
	}
	return phases
}

// hookSteps orders the hooks of one phase into steps run one after the
// other: by weight, then kind stage, then name. Argo CD hooks of one wave
// share a step, as Argo CD runs a wave; Helm runs its hooks one at a time.
func hookSteps(hooks []Hook) [][]Hook {
	sort.SliceStable(hooks, func(i, j int) bool {
		a, b := hooks[i], hooks[j]
		if a.Weight != b.Weight {
			return a.Weight < b.Weight
		}
		if sa, sb := stage(a.Object), stage(b.Object); sa != sb {
			return sa < sb
		}
		return HookName(a.Object) < HookName(b.Object)
	})
	var steps [][]Hook
	for i, h := range hooks {
		if i > 0 && !h.Helm && !hooks[i-1].Helm && hooks[i-1].Weight == h.Weight {
			steps[len(steps)-1] = append(steps[len(steps)-1], h)
			continue
		}
		steps = append(steps, []Hook{h})
	}
	return steps
}

// HookName names a hook, which may have a generateName instead of a
// name: "Job.batch/shop/migrate-*".
func HookName(u *unstructured.Unstructured) string {
	return hookKey(u).String()
}

// hookKey identifies a hook across syncs: its name, or its generateName
// followed by "*" (each run creates a new object).
func hookKey(u *unstructured.Unstructured) resource.Ref {
	ref := resource.RefOf(u)
	if ref.Name == "" {
		ref.Name = u.GetGenerateName() + "*"
	}
	return ref
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
