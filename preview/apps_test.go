package preview

import (
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/plumbhq/plumb/api/v1alpha1"
)

func TestByDependencies(t *testing.T) {
	app := func(name string, deps ...string) *foundApp {
		a := &foundApp{app: v1alpha1.App{}}
		a.app.Name, a.app.Namespace = name, "apps"
		for _, d := range deps {
			a.app.Spec.DependsOn = append(a.app.Spec.DependsOn, v1alpha1.AppReference{Name: d})
		}
		return a
	}
	cases := []struct {
		name string
		head map[string]*foundApp
		base map[string]*foundApp
		want []string
	}{
		{"no dependencies: by name", map[string]*foundApp{"b": app("b"), "a": app("a")}, nil, []string{"a", "b"}},
		{"a chain", map[string]*foundApp{"a": app("a", "c"), "b": app("b"), "c": app("c", "b")}, nil, []string{"b", "c", "a"}},
		{"a dependency outside the set is ignored", map[string]*foundApp{"a": app("a", "zz"), "b": app("b")}, nil, []string{"a", "b"}},
		{"an App removed at head keeps base's spec", map[string]*foundApp{"b": app("b")}, map[string]*foundApp{"a": app("a", "b")}, []string{"b", "a"}},
		{"a cycle follows by name", map[string]*foundApp{"a": app("a", "b"), "b": app("b", "a"), "c": app("c")}, nil, []string{"c", "a", "b"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var names []string
			for _, m := range []map[string]*foundApp{tc.head, tc.base} {
				for n := range m {
					names = append(names, n)
				}
			}
			slices.Sort(names)
			if d := cmp.Diff(tc.want, byDependencies(names, tc.head, tc.base)); d != "" {
				t.Errorf("order (-want +got):\n%s", d)
			}
		})
	}
}
