package diff

import (
	"context"
	"fmt"
	"sort"
	gosync "sync"

	"github.com/pmezard/go-difflib/difflib"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/yaml"

	"github.com/plumbhq/plumb/resource"
)

// Action is what a sync would do to one object.
type Action string

// Actions.
const (
	Create    Action = "create"
	Update    Action = "update"
	Unchanged Action = "unchanged"
	Prune     Action = "prune"
	Error     Action = "error"
)

// Cluster is what diff needs from a cluster (sync's client provides it).
type Cluster interface {
	// Get returns the live object, or nil when it does not exist.
	Get(ctx context.Context, obj *unstructured.Unstructured) (*unstructured.Unstructured, error)
	// DryRunApply returns what a server-side apply of obj as field manager
	// "plumb" would produce, admission, defaults and CRD schemas included.
	DryRunApply(ctx context.Context, obj *unstructured.Unstructured) (*unstructured.Unstructured, error)
}

// Result is the outcome for one object. Diff and error texts are already
// masked: they are safe to print anywhere.
type Result struct {
	Ref    resource.Ref `json:"ref"`
	Action Action       `json:"action"`
	// Diff is a unified diff of normalised YAML, live ("a/") to desired
	// ("b/"); empty when unchanged.
	Diff  string `json:"diff,omitempty"`
	Error string `json:"error,omitempty"`
	// Hook is the phase of a hook ("pre-upgrade", "PreSync"), "" for an
	// object a sync keeps in step.
	Hook string `json:"hook,omitempty"`
}

// title is "Kind/namespace/name", with the hook's phase for a hook.
func (r Result) title() string {
	if r.Hook != "" {
		return fmt.Sprintf("%s (hook: %s)", r.Ref, r.Hook)
	}
	return r.Ref.String()
}

// Report is the result for every object, in a stable order.
type Report struct {
	Results []Result `json:"results"`
}

// Changed reports whether a sync would change anything.
func (r Report) Changed() bool {
	for _, res := range r.Results {
		if res.Action != Unchanged {
			return true
		}
	}
	return false
}

// Errors returns the results that failed.
func (r Report) Errors() []Result {
	var out []Result
	for _, res := range r.Results {
		if res.Action == Error {
			out = append(out, res)
		}
	}
	return out
}

// Counts returns the number of results per action.
func (r Report) Counts() map[Action]int {
	c := map[Action]int{}
	for _, res := range r.Results {
		c[res.Action]++
	}
	return c
}

// Options tune Compute.
type Options struct {
	Ignore    []IgnoreDifference
	Normalize NormalizeOptions
	// Workers bounds parallel requests (default 8).
	Workers int
	// Masker hides Secret values; a new one is used when nil.
	Masker *Masker
	// From and To name the two sides in diff headers (default "live" and
	// "desired").
	From, To string
	// Unchanged, if set, names desired objects the caller already knows to
	// be unchanged (sync's fingerprints): they are reported unchanged
	// without a request.
	Unchanged func(*unstructured.Unstructured) bool
	// Hook, if set, gives an object's hook phase ("" for none), for
	// Objects to report.
	Hook func(*unstructured.Unstructured) string
}

// Compute diffs each desired object against the cluster: the exact answer
// from a server-side dry-run apply, compared with the live object after
// normalisation, ignoring the fields the rules ignore. prune lists live
// objects that the previous sync applied and the desired set no longer
// holds; they are reported as Prune with their live content as removed.
func Compute(ctx context.Context, c Cluster, desired []*unstructured.Unstructured, prune []*unstructured.Unstructured, opts Options) Report {
	if opts.Workers <= 0 {
		opts.Workers = 8
	}
	m := opts.Masker
	if m == nil {
		m = NewMasker()
	}
	for _, d := range desired {
		m.Learn(d)
	}
	prereq := PrerequisitesOf(desired)
	results := make([]Result, len(desired)+len(prune))
	var wg gosync.WaitGroup
	sem := make(chan struct{}, opts.Workers)
	for i, d := range desired {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			if opts.Unchanged != nil && opts.Unchanged(d) {
				results[i] = Result{Ref: resource.RefOf(d), Action: Unchanged}
				return
			}
			results[i] = one(ctx, c, d, prereq, opts, m)
		}()
	}
	wg.Wait()
	for i, p := range prune {
		results[len(desired)+i] = Result{
			Ref:    resource.RefOf(p),
			Action: Prune,
			Diff:   unified(m, nil, p, opts),
		}
	}
	sort.SliceStable(results, func(i, j int) bool { return results[i].Ref.String() < results[j].Ref.String() })
	return Report{Results: results}
}

// Prerequisites records what a desired set itself creates for its other
// objects: CRDs (by group/kind) and Namespaces.
type Prerequisites struct {
	kinds      map[schema.GroupKind]bool
	namespaces map[string]bool
}

// PrerequisitesOf collects the CRDs and Namespaces among desired.
func PrerequisitesOf(desired []*unstructured.Unstructured) Prerequisites {
	p := Prerequisites{kinds: map[schema.GroupKind]bool{}, namespaces: map[string]bool{}}
	for _, d := range desired {
		if gk, _, ok := resource.CRDKind(d); ok {
			p.kinds[gk] = true
		} else if gk := d.GroupVersionKind().GroupKind(); gk.Group == "" && gk.Kind == "Namespace" {
			p.namespaces[d.GetName()] = true
		}
	}
	return p
}

// Coming reports whether err says a prerequisite of d is missing (no CRD
// serves the kind, or the namespace does not exist) that the same sync
// creates first.
func (p Prerequisites) Coming(d *unstructured.Unstructured, err error) bool {
	switch {
	case meta.IsNoMatchError(err):
		return p.kinds[d.GroupVersionKind().GroupKind()]
	case apierrors.IsNotFound(err):
		return d.GetNamespace() != "" && p.namespaces[d.GetNamespace()]
	}
	return false
}

func one(ctx context.Context, c Cluster, d *unstructured.Unstructured, p Prerequisites, opts Options, m *Masker) Result {
	ref := resource.RefOf(d)
	res := Result{Ref: ref}
	fail := func(what string, err error) Result {
		res.Action = Error
		res.Error = m.Scrub(fmt.Sprintf("%s: %s: %v", ref, what, err))
		return res
	}
	// The GET and the dry-run are two reads; a controller may write in
	// between (a Deployment's revision annotation, say). A dry-run answers
	// with the resourceVersion it was applied onto, so a mismatch means the
	// two saw different states: read both again.
	var live, predicted *unstructured.Unstructured
	for attempt := 0; ; attempt++ {
		var err error
		live, err = c.Get(ctx, d)
		if err != nil && !p.Coming(d, err) {
			return fail("get", err)
		}
		m.Learn(live)
		payload := d.DeepCopy()
		StripIgnored(payload, live, opts.Ignore)
		predicted, err = c.DryRunApply(ctx, payload)
		if err != nil && live == nil && p.Coming(d, err) {
			// Its CRD or namespace comes earlier in the same sync: the server
			// cannot predict the object yet, so show it as rendered.
			predicted, err = payload, nil
		}
		if err != nil {
			return fail("dry-run apply", err)
		}
		if live == nil || predicted.GetResourceVersion() == live.GetResourceVersion() || attempt == 2 {
			break
		}
	}
	if live == nil {
		res.Action = Create
		res.Diff = unified(m, predicted, nil, opts)
		return res
	}
	res.Diff = unified(m, predicted, live, opts)
	if res.Diff == "" {
		res.Action = Unchanged
	} else {
		res.Action = Update
	}
	return res
}

// unified renders the masked, normalised difference from live to desired.
func unified(m *Masker, desired, live *unstructured.Unstructured, opts Options) string {
	owners := live
	desired = Normalize(desired, opts.Normalize)
	live = Normalize(live, opts.Normalize)
	StripIgnored(desired, owners, opts.Ignore)
	StripIgnored(live, owners, opts.Ignore)
	desired, live = m.MaskPair(desired, live)
	a, b := toYAML(live), toYAML(desired)
	if a == b {
		return ""
	}
	ref := ""
	if desired != nil {
		ref = resource.RefOf(desired).String()
	} else {
		ref = resource.RefOf(live).String()
	}
	from, to := opts.From, opts.To
	if from == "" {
		from = "live"
	}
	if to == "" {
		to = "desired"
	}
	fromFile, toFile := from+"/"+ref, to+"/"+ref
	if live == nil {
		fromFile = "/dev/null"
	}
	if desired == nil {
		toFile = "/dev/null"
	}
	text, err := difflib.GetUnifiedDiffString(difflib.UnifiedDiff{
		A: difflib.SplitLines(a), B: difflib.SplitLines(b),
		FromFile: fromFile, ToFile: toFile, Context: 3,
	})
	if err != nil {
		return m.Scrub(err.Error())
	}
	return m.Scrub(text)
}

func toYAML(u *unstructured.Unstructured) string {
	if u == nil {
		return ""
	}
	b, err := yaml.Marshal(u.Object)
	if err != nil {
		return fmt.Sprintf("# cannot render: %v\n", err)
	}
	return string(b)
}

// Objects compares two object sets offline, by identity: objects only in
// head are Create, only in base Prune (removed), in both Update or
// Unchanged. No cluster is involved; normalisation, ignore rules and masking
// are the same as Compute's.
func Objects(base, head []*unstructured.Unstructured, opts Options) Report {
	m := opts.Masker
	if m == nil {
		m = NewMasker()
	}
	for _, u := range append(append([]*unstructured.Unstructured{}, base...), head...) {
		m.Learn(u)
	}
	byRef := map[resource.Ref]*unstructured.Unstructured{}
	for _, b := range base {
		byRef[resource.RefOf(b)] = b
	}
	var results []Result
	for _, h := range head {
		ref := resource.RefOf(h)
		b, ok := byRef[ref]
		delete(byRef, ref)
		res := Result{Ref: ref, Diff: unified(m, h, b, opts), Hook: hookOf(opts, h)}
		switch {
		case !ok:
			res.Action = Create
		case res.Diff == "":
			res.Action = Unchanged
		default:
			res.Action = Update
		}
		results = append(results, res)
	}
	for ref, b := range byRef {
		results = append(results, Result{Ref: ref, Action: Prune, Diff: unified(m, nil, b, opts), Hook: hookOf(opts, b)})
	}
	sort.SliceStable(results, func(i, j int) bool { return results[i].Ref.String() < results[j].Ref.String() })
	return Report{Results: results}
}

func hookOf(opts Options, u *unstructured.Unstructured) string {
	if opts.Hook == nil {
		return ""
	}
	return opts.Hook(u)
}
