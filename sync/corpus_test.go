package sync

import (
	"os"
	"path/filepath"
	"strings"
	gosync "sync"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/plumbhq/plumb/render"
)

// Issue W, acceptance 4: the hook and wave examples of Argo CD's example
// apps (../shared/corpus/argocd-example-apps) sync in the order Argo CD
// documents for them: hooks by phase and weight, waves one after another.
// Each group must finish before anything of the next one starts.
func TestArgoExampleAppsOrder(t *testing.T) {
	cases := []struct {
		name, path string
		order      [][]string // groups of "Kind/name" prefixes
		gone       []string   // hooks a delete policy removed
		// rerun is how many hooks run again for new content: Helm's
		// install hooks never do (argo-cd #7536 runs them on every sync).
		rerun int
	}{
		{
			name: "sync-waves", path: "sync-waves",
			order: [][]string{
				{"Job/upgrade-sql-schema"},
				{"ReplicaSet/backend", "Service/backend"},
				{"Job/maint-page-up"},
				{"ReplicaSet/frontend", "Service/frontend"},
				{"Job/maint-page-down"},
			},
			rerun: 3,
		},
		{
			name: "helm-hooks", path: "helm-hooks",
			order: [][]string{
				{"Job/upgrade-sql-schema"}, // pre-install, weight -2
				{"Job/maint-page-up"},      // pre-install, weight -1
				{"ReplicaSet/frontend"},    // wave 0
				{"Service/frontend"},       // helm.sh/hook-weight 2 as a wave, as Argo CD reads it
				{"Job/maint-page-down"},    // post-install, once the App is healthy
			},
		},
		{
			name: "pre-post-sync", path: "pre-post-sync",
			order: [][]string{
				{"Job/pre-post-sync-before"},
				{"Deployment/pre-post-sync-kustomize-guestbook-ui", "Service/pre-post-sync-kustomize-guestbook-ui"},
				{"Job/pre-post-sync-after"},
			},
			gone:  []string{"pre-post-sync-before", "pre-post-sync-after"}, // HookSucceeded
			rerun: 2,
		},
	}
	root := filepath.Join("..", "..", "shared", "corpus", "argocd-example-apps")
	if _, err := os.Stat(filepath.Join(root, "README.md")); err != nil {
		t.Fatalf("test corpus not found at %s: %v", root, err)
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEngine(t, "argo-"+tc.name)
			res, err := render.Render(e.ctx, render.Source{Root: root, Path: tc.path}, render.Options{Namespace: e.ns})
			if err != nil {
				t.Fatal(err)
			}
			var objs, hooks []*unstructured.Unstructured
			for _, o := range res.Objects {
				objs = append(objs, o.Object)
			}
			for _, h := range res.Hooks {
				hooks = append(hooks, h.Object)
			}
			var mu gosync.Mutex
			var seen []string
			progress := func(ch Change) {
				mu.Lock()
				defer mu.Unlock()
				seen = append(seen, ch.Ref.Kind+"/"+ch.Ref.Name+" "+string(ch.Action))
			}
			if _, err := e.a.Sync(e.ctx, objs, Options{WaitWave: e.waitHealthy, Hooks: hooks, Progress: progress}); err != nil {
				t.Fatal(err)
			}
			t.Logf("order: %s", strings.Join(seen, ", "))
			checkOrder(t, seen, tc.order)
			for _, name := range tc.gone {
				if j, err := e.cs.BatchV1().Jobs(e.ns).Get(e.ctx, name, metav1.GetOptions{}); err == nil && j.DeletionTimestamp == nil {
					t.Errorf("Job/%s is still there: its HookSucceeded policy did not delete it", name)
				}
			}
			// New content: an annotation on every object.
			for _, o := range objs {
				ann := o.GetAnnotations()
				if ann == nil {
					ann = map[string]string{}
				}
				ann["example.com/rev"] = "2"
				o.SetAnnotations(ann)
			}
			changes, err := e.a.Sync(e.ctx, objs, Options{WaitWave: e.waitHealthy, Hooks: hooks})
			if err != nil {
				t.Fatal(err)
			}
			if got := changes.Counts()[Ran]; got != tc.rerun {
				t.Errorf("%d hooks ran for new content, want %d", got, tc.rerun)
			}
		})
	}
}

// checkOrder fails unless every entry of each group is in seen, after
// every entry of the groups before it.
func checkOrder(t *testing.T, seen []string, groups [][]string) {
	t.Helper()
	index := func(prefix string) int {
		for i, s := range seen {
			if strings.HasPrefix(s, prefix) {
				return i
			}
		}
		return -1
	}
	lastOfPrev := -1
	for _, g := range groups {
		first, last := len(seen), -1
		for _, p := range g {
			i := index(p)
			if i < 0 {
				t.Errorf("%s never synced", p)
				continue
			}
			first, last = min(first, i), max(last, i)
		}
		if first <= lastOfPrev {
			t.Errorf("%v started before the group before it finished", g)
		}
		lastOfPrev = last
	}
}
