package diff

import (
	"fmt"
	"maps"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/plumbhq/plumb/resource"
)

// IgnoreDifference tells plumb to leave some fields of some objects alone:
// they are removed from the comparison and from the apply payload, so plumb
// neither reports nor reverts them (an HPA owning /spec/replicas, say).
// Empty selector fields match everything.
type IgnoreDifference struct {
	Group     string `json:"group,omitempty"`
	Kind      string `json:"kind,omitempty"`
	Name      string `json:"name,omitempty"`
	Namespace string `json:"namespace,omitempty"`
	// JSONPointers are RFC 6901 pointers such as /spec/replicas.
	JSONPointers []string `json:"jsonPointers,omitempty"`
	// ManagedFieldsManagers leaves alone every field these field managers
	// own in the live object (say "kube-controller-manager" for an HPA).
	ManagedFieldsManagers []string `json:"managedFieldsManagers,omitempty"`
}

func (ig IgnoreDifference) matches(r resource.Ref) bool {
	return (ig.Group == "" || ig.Group == r.Group) &&
		(ig.Kind == "" || ig.Kind == r.Kind) &&
		(ig.Name == "" || ig.Name == r.Name) &&
		(ig.Namespace == "" || ig.Namespace == r.Namespace)
}

// Validate checks the pointers' syntax.
func (ig IgnoreDifference) Validate() error {
	for _, p := range ig.JSONPointers {
		if _, err := parsePointer(p); err != nil {
			return err
		}
	}
	return nil
}

// ReservedLabelPrefix marks plumb's own bookkeeping labels (plumb.dev/app
// decides what prune may delete). No ignore rule removes them, so diff and
// sync, which both strip through StripIgnored, send the same labels.
const ReservedLabelPrefix = "plumb.dev/"

// StripIgnored removes, in place, every field the rules ignore for u; live
// (may be nil) says which fields the ignored managers own.
func StripIgnored(u, live *unstructured.Unstructured, rules []IgnoreDifference) {
	if u == nil || len(rules) == 0 {
		return
	}
	reserved := map[string]string{}
	for k, v := range u.GetLabels() {
		if strings.HasPrefix(k, ReservedLabelPrefix) {
			reserved[k] = v
		}
	}
	defer func() {
		if len(reserved) == 0 {
			return
		}
		labels := u.GetLabels()
		if labels == nil {
			labels = map[string]string{}
		}
		maps.Copy(labels, reserved)
		u.SetLabels(labels)
	}()
	ref := resource.RefOf(u)
	for _, ig := range rules {
		if !ig.matches(ref) {
			continue
		}
		stripManagedBy(u, live, ig.ManagedFieldsManagers)
		for _, p := range ig.JSONPointers {
			if toks, err := parsePointer(p); err == nil {
				removePointer(u.Object, toks)
			}
		}
	}
}

func parsePointer(p string) ([]string, error) {
	if p == "" || !strings.HasPrefix(p, "/") {
		return nil, fmt.Errorf("ignoreDifferences: JSON pointer %q must start with /", p)
	}
	toks := strings.Split(p[1:], "/")
	for i, t := range toks {
		toks[i] = strings.NewReplacer("~1", "/", "~0", "~").Replace(t)
	}
	return toks, nil
}

// removePointer deletes the value at the pointer, if present.
func removePointer(obj any, toks []string) {
	if len(toks) == 0 {
		return
	}
	last := len(toks) == 1
	switch v := obj.(type) {
	case map[string]any:
		if last {
			delete(v, toks[0])
			return
		}
		removePointer(v[toks[0]], toks[1:])
	case []any:
		i, err := strconv.Atoi(toks[0])
		if err != nil || i < 0 || i >= len(v) {
			return
		}
		if last {
			// A whole list element cannot be left out of an apply without
			// shifting the others; point at fields inside it instead.
			return
		}
		removePointer(v[i], toks[1:])
	}
}
