package diff

import (
	"encoding/base64"
	"reflect"
	"sort"
	"strings"
	gosync "sync"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// Masker is the one place Secret values are hidden. Every output path (text,
// JSON, Markdown, errors, logs, events, status) renders objects and messages
// through it: MaskPair replaces Secret values in objects, Scrub removes any
// known secret value (raw or base64) from free text such as API errors.
// It is safe for concurrent use.
type Masker struct {
	mu     gosync.RWMutex
	values []string // longest first, so a value containing another goes first
}

// Masked placeholders. A changed value shows that it changed, never what it is.
const (
	maskUnchanged = "*** (unchanged)"
	maskChanged   = "*** (changed)"
	maskBefore    = "*** (before)"
	maskSecret    = "***"
	maskEmbedded  = "*** (redacted: embeds a Secret)"
)

// NewMasker learns the secret values of objs (Secrets' data and stringData)
// so that Scrub can find them in text.
func NewMasker(objs ...*unstructured.Unstructured) *Masker {
	m := &Masker{}
	for _, u := range objs {
		m.Learn(u)
	}
	return m
}

// Learn adds the values of a Secret (a no-op for other kinds).
func (m *Masker) Learn(u *unstructured.Unstructured) {
	if u == nil || !isSecret(u) {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	add := func(s string) {
		if len(s) >= 3 { // shorter strings would mask ordinary words
			m.values = append(m.values, s)
		}
	}
	for _, field := range []string{"data", "stringData"} {
		if v, ok := u.Object[field].(string); ok {
			// Not a map: learn the text, and each of its lines.
			add(v)
			for _, line := range strings.Split(v, "\n") {
				add(strings.TrimSpace(line))
			}
		}
	}
	data, _, _ := unstructured.NestedMap(u.Object, "data")
	for _, v := range data {
		if s, ok := v.(string); ok {
			add(s)
			if raw, err := base64.StdEncoding.DecodeString(s); err == nil {
				add(string(raw))
			}
		}
	}
	sd, _, _ := unstructured.NestedMap(u.Object, "stringData")
	for _, v := range sd {
		if s, ok := v.(string); ok {
			add(s)
			add(base64.StdEncoding.EncodeToString([]byte(s)))
		}
	}
	sort.Slice(m.values, func(i, j int) bool { return len(m.values[i]) > len(m.values[j]) })
}

// Scrub replaces every known secret value in s.
func (m *Masker) Scrub(s string) string {
	if m == nil {
		return s
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	for _, v := range m.values {
		s = strings.ReplaceAll(s, v, maskSecret)
	}
	return s
}

// ScrubError returns err with its message scrubbed (nil stays nil).
func (m *Masker) ScrubError(err error) error {
	if err == nil {
		return nil
	}
	return scrubbedError{msg: m.Scrub(err.Error()), err: err}
}

type scrubbedError struct {
	msg string
	err error
}

func (e scrubbedError) Error() string { return e.msg }

// Unwrap keeps errors.Is and errors.As working; the wrapped error's own
// message must never be printed.
func (e scrubbedError) Unwrap() error { return e.err }

// MaskPair returns copies of a desired and a live object (either may be nil)
// in which Secret values are replaced by placeholders that still show which
// keys were added, removed, changed or kept, and any annotation that embeds
// a Secret manifest is redacted.
func (m *Masker) MaskPair(desired, live *unstructured.Unstructured) (*unstructured.Unstructured, *unstructured.Unstructured) {
	if desired != nil {
		desired = desired.DeepCopy()
		m.Learn(desired)
		redactEmbedded(desired)
	}
	if live != nil {
		live = live.DeepCopy()
		m.Learn(live)
		redactEmbedded(live)
	}
	secret := (desired != nil && isSecret(desired)) || (live != nil && isSecret(live))
	if !secret {
		return desired, live
	}
	for _, field := range []string{"data", "stringData"} {
		// A field that is not a map (invalid, but a pull request can write
		// it) cannot be compared key by key: it is hidden whole, compared
		// by its raw value, so a change inside it still shows.
		if maskWhole(desired, live, field) {
			continue
		}
		var dm, lm map[string]any
		if desired != nil {
			dm, _, _ = unstructured.NestedMap(desired.Object, field)
		}
		if live != nil {
			lm, _, _ = unstructured.NestedMap(live.Object, field)
		}
		for k, dv := range dm {
			lv, inLive := lm[k]
			switch {
			case !inLive:
				dm[k] = maskSecret
			case reflect.DeepEqual(lv, dv):
				dm[k], lm[k] = maskUnchanged, maskUnchanged
			default:
				dm[k], lm[k] = maskChanged, maskBefore
			}
		}
		for k := range lm {
			if _, inDesired := dm[k]; !inDesired {
				lm[k] = maskSecret
			}
		}
		if dm != nil {
			_ = unstructured.SetNestedMap(desired.Object, dm, field)
		}
		if lm != nil {
			_ = unstructured.SetNestedMap(live.Object, lm, field)
		}
	}
	return desired, live
}

// maskWhole masks field whole when either side holds something other than
// a map there, with placeholders that say whether the raw values differ.
// It reports whether it did.
func maskWhole(desired, live *unstructured.Unstructured, field string) bool {
	get := func(u *unstructured.Unstructured) (v any, present, notMap bool) {
		if u == nil {
			return nil, false, false
		}
		v, present = u.Object[field]
		_, isMap := v.(map[string]any)
		return v, present, present && !isMap
	}
	dv, dIn, dOdd := get(desired)
	lv, lIn, lOdd := get(live)
	if !dOdd && !lOdd {
		return false
	}
	d, l := maskChanged, maskBefore
	switch {
	case dIn && lIn && reflect.DeepEqual(dv, lv):
		d, l = maskUnchanged, maskUnchanged
	case !lIn:
		d = maskSecret
	case !dIn:
		l = maskSecret
	}
	if dIn {
		desired.Object[field] = d
	}
	if lIn {
		live.Object[field] = l
	}
	return true
}

// redactEmbedded hides annotations whose value is a Secret manifest (the
// last-applied annotation of a Secret, or tools that copy manifests around).
func redactEmbedded(u *unstructured.Unstructured) {
	ann := u.GetAnnotations()
	changed := false
	for k, v := range ann {
		if embedsSecret(v) {
			ann[k] = maskEmbedded
			changed = true
		}
	}
	if changed {
		u.SetAnnotations(ann)
	}
}

func embedsSecret(v string) bool {
	compact := strings.NewReplacer(" ", "", "\n", "", "\t", "", "'", "\"").Replace(v)
	return strings.Contains(compact, `"kind":"Secret"`) || strings.Contains(compact, "kind:Secret")
}
