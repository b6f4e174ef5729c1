package sync

import (
	"errors"
	"fmt"
	"strings"

	"github.com/plumbhq/plumb/resource"
)

// Action is what happened to one object.
type Action string

// Actions.
const (
	Created    Action = "created"
	Configured Action = "configured"
	Recreated  Action = "recreated"
	Unchanged  Action = "unchanged"
	Pruned     Action = "pruned"
	Skipped    Action = "skipped"
	Failed     Action = "failed"
	// Ran: a hook was created and completed.
	Ran Action = "ran"
	// Held: a prune waits for approval (the deletion budget).
	Held Action = "held"
)

// Change is the outcome for one object. Texts are masked.
type Change struct {
	Ref    resource.Ref `json:"ref"`
	Action Action       `json:"action"`
	// Hook is a hook's events as written ("pre-upgrade", "PreSync"), "" for
	// the objects a sync keeps in step.
	Hook   string `json:"hook,omitempty"`
	Stage  string `json:"stage,omitempty"`
	Reason string `json:"reason,omitempty"`
	Error  string `json:"error,omitempty"`
}

// ChangeSet is every change of one sync, in the order they happened.
type ChangeSet []Change

// Counts returns the number of changes per action.
func (cs ChangeSet) Counts() map[Action]int {
	c := map[Action]int{}
	for _, ch := range cs {
		c[ch.Action]++
	}
	return c
}

// Failed returns the changes that failed.
func (cs ChangeSet) Failed() ChangeSet { return cs.with(Failed) }

// Held returns the prunes that wait for approval.
func (cs ChangeSet) Held() ChangeSet { return cs.with(Held) }

// with returns the changes of one action.
func (cs ChangeSet) with(a Action) ChangeSet {
	var out ChangeSet
	for _, ch := range cs {
		if ch.Action == a {
			out = append(out, ch)
		}
	}
	return out
}

// Errors callers branch on.
var (
	// ErrPruneRefused: the sync would have deleted objects it must not.
	ErrPruneRefused = errors.New("prune refused")
	// ErrApplyFailed: at least one object failed; later stages and prune
	// were skipped and the inventory was not written.
	ErrApplyFailed = errors.New("apply failed")
	// ErrHookFailed: a hook failed (or timed out); what follows its phase
	// was skipped and SyncFail hooks ran.
	ErrHookFailed = errors.New("hook failed")
	// ErrOwnership: the object belongs to another App, or to no App, and
	// the desired object does not ask to adopt it.
	ErrOwnership = errors.New("ownership conflict")
)

// failedList names the failures, the first few in full: an error (and the
// App condition made of it) must stay readable when a whole stage failed.
func failedList(cs ChangeSet) string {
	const shown = 5
	var parts []string
	failed := cs.Failed()
	for i, ch := range failed {
		if i == shown {
			parts = append(parts, fmt.Sprintf("and %d more", len(failed)-shown))
			break
		}
		parts = append(parts, ch.Error)
	}
	return strings.Join(parts, "; ")
}
