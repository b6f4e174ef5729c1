package sync

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/plumbhq/plumb/diff"
)

// RanHook is a hook as it last ran to the end, for plumb diff to compare
// the render's hooks with. A Secret's content is not kept (its values stay
// out of the inventory), only its digest.
type RanHook struct {
	Key    string          `json:"key"`
	Events string          `json:"events"`
	Object json.RawMessage `json:"object,omitempty"`
	Digest string          `json:"digest"`
}

// ranHooks records hooks as they ran.
func ranHooks(hooks []*unstructured.Unstructured) ([]RanHook, error) {
	out := make([]RanHook, 0, len(hooks))
	for _, u := range hooks {
		b, err := json.Marshal(u.Object)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", HookName(u), err)
		}
		sum := sha256.Sum256(b)
		h, _, _ := ParseHook(u)
		r := RanHook{Key: HookName(u), Events: h.Events, Digest: hex.EncodeToString(sum[:])}
		if !isSecret(u) {
			r.Object = b
		}
		out = append(out, r)
	}
	return out, nil
}

func isSecret(u *unstructured.Unstructured) bool {
	return u.GetKind() == "Secret" && u.GroupVersionKind().Group == ""
}

// hookDiff compares the render's hooks with the hooks as they last ran:
// a new or changed hook is a change, a hook no longer rendered is removed.
// Hooks named by generateName are compared under their key ("name*").
func hookDiff(last []RanHook, hooks []*unstructured.Unstructured, opts diff.Options) ([]diff.Result, error) {
	current, err := ranHooks(hooks)
	if err != nil {
		return nil, err
	}
	events := map[string]string{}
	var base, head []*unstructured.Unstructured
	var secrets []diff.Result
	lastByKey := map[string]RanHook{}
	for _, r := range last {
		lastByKey[r.Key] = r
	}
	for i, r := range current {
		events[r.Key] = r.Events
		prev, ran := lastByKey[r.Key]
		delete(lastByKey, r.Key)
		if isSecret(hooks[i]) { // compared by digest: no values in the inventory or the output
			res := diff.Result{Ref: hookKey(hooks[i]), Hook: r.Events, Action: diff.Unchanged}
			switch {
			case !ran:
				res.Action, res.Diff = diff.Create, "(a Secret: its content is not shown)\n"
			case prev.Digest != r.Digest:
				res.Action, res.Diff = diff.Update, "(a Secret: its content is not shown)\n"
			}
			secrets = append(secrets, res)
			continue
		}
		head = append(head, keyed(hooks[i], r.Key))
		if ran && prev.Object != nil {
			u := &unstructured.Unstructured{}
			if err := json.Unmarshal(prev.Object, &u.Object); err != nil {
				return nil, fmt.Errorf("%s: the inventory's record of its last run: %w", r.Key, err)
			}
			base = append(base, keyed(u, r.Key))
		}
	}
	for key, r := range lastByKey { // no longer rendered
		events[key] = r.Events
		if r.Object == nil {
			continue
		}
		u := &unstructured.Unstructured{}
		if err := json.Unmarshal(r.Object, &u.Object); err != nil {
			return nil, fmt.Errorf("%s: the inventory's record of its last run: %w", key, err)
		}
		base = append(base, keyed(u, key))
	}
	opts.From, opts.To = "last run", "render"
	opts.Hook = func(u *unstructured.Unstructured) string { return events[HookName(u)] }
	return append(diff.Objects(base, head, opts).Results, secrets...), nil
}

// keyed is u named by its hook key, so that a generateName hook compares
// with its own last run.
func keyed(u *unstructured.Unstructured, key string) *unstructured.Unstructured {
	if u.GetName() != "" {
		return u
	}
	c := u.DeepCopy()
	c.SetName(hookKey(u).Name)
	c.SetGenerateName("")
	return c
}
