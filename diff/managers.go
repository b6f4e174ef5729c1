package diff

import (
	"bytes"
	"sort"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"
	"sigs.k8s.io/structured-merge-diff/v6/value"
)

// stripManagedBy removes from u every field that the named managers own in
// live (from live's managedFields). A node a manager owns as a whole (a list
// item marked "." in fieldsV1) goes whole, so no half item is left behind.
// Written here because structured-merge-diff can compute ownership but has no
// operation to remove a field set from an unstructured object.
func stripManagedBy(u, live *unstructured.Unstructured, managers []string) {
	if u == nil || live == nil || len(managers) == 0 {
		return
	}
	want := map[string]bool{}
	for _, m := range managers {
		want[m] = true
	}
	var paths []fieldpath.Path
	for _, mf := range live.GetManagedFields() {
		if !want[mf.Manager] || mf.FieldsV1 == nil {
			continue
		}
		set := &fieldpath.Set{}
		if err := set.FromJSON(bytes.NewReader(mf.FieldsV1.Raw)); err != nil {
			continue
		}
		set.Iterate(func(p fieldpath.Path) { paths = append(paths, p.Copy()) })
	}
	// Shortest first: once a whole node is gone, paths inside it are no-ops.
	sort.SliceStable(paths, func(i, j int) bool { return len(paths[i]) < len(paths[j]) })
	for _, p := range paths {
		u.Object = removePath(u.Object, p).(map[string]any)
	}
}

// removePath returns node with the element at p removed.
func removePath(node any, p fieldpath.Path) any {
	if len(p) == 0 {
		return node
	}
	pe, last := p[0], len(p) == 1
	switch n := node.(type) {
	case map[string]any:
		if pe.FieldName == nil {
			return node
		}
		child, ok := n[*pe.FieldName]
		if !ok {
			return node
		}
		if last {
			delete(n, *pe.FieldName)
		} else {
			n[*pe.FieldName] = removePath(child, p[1:])
		}
		return n
	case []any:
		for i, item := range n {
			if !matches(pe, i, item) {
				continue
			}
			if last {
				return append(n[:i:i], n[i+1:]...)
			}
			n[i] = removePath(item, p[1:])
			return n
		}
	}
	return node
}

// matches reports whether list item i is the one pe selects.
func matches(pe fieldpath.PathElement, i int, item any) bool {
	switch {
	case pe.Index != nil:
		return *pe.Index == i
	case pe.Value != nil:
		return value.Equals(*pe.Value, value.NewValueInterface(item))
	case pe.Key != nil:
		m, ok := item.(map[string]any)
		if !ok {
			return false
		}
		for _, f := range *pe.Key {
			v, ok := m[f.Name]
			if !ok || !value.Equals(f.Value, value.NewValueInterface(v)) {
				return false
			}
		}
		return true
	}
	return false
}
