package health

import (
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"

	"github.com/plumbhq/plumb/resource"
)

// Status is the health of one object or of an App.
type Status string

// Statuses, from best to worst (an App's status is its worst child's).
const (
	Healthy     Status = "Healthy"
	Suspended   Status = "Suspended"
	Progressing Status = "Progressing"
	Unknown     Status = "Unknown"
	Missing     Status = "Missing"
	Degraded    Status = "Degraded"
)

var severity = map[Status]int{Healthy: 0, Suspended: 1, Progressing: 2, Unknown: 3, Missing: 4, Degraded: 5}

// Worse reports whether a is worse than b.
func Worse(a, b Status) bool { return severity[a] > severity[b] }

// Result is the health of one object with a one-line reason, and the rule
// that decided it.
type Result struct {
	Ref    resource.Ref `json:"ref"`
	Status Status       `json:"status"`
	Reason string       `json:"reason,omitempty"`
	// Source is what decided: a user's rule ("example.com/Widget (App
	// rule)"), "built-in" for the kinds plumb rates as Argo CD does, or
	// "kstatus".
	Source string `json:"source,omitempty"`
}

// Explain is the result as one line: "Certificate.cert-manager.io/ns/web
// (kstatus): Degraded: Issuing failed".
func (r Result) Explain() string {
	s := r.Ref.String()
	if r.Source != "" {
		s += " (" + r.Source + ")"
	}
	s += ": " + string(r.Status)
	if r.Reason != "" {
		s += ": " + r.Reason
	}
	return s
}

// Sources of a rating other than a user's rule.
const (
	SourceBuiltIn = "built-in"
	SourceKstatus = "kstatus"
)

// Rater rates live objects: the user's rules first, in the order given
// (an App's before the controller's), then the library, then the built-in
// kinds, then kstatus. A nil Rater has no rules.
type Rater struct {
	chain Chain // the user's rules, then the library
}

// Library rates the kinds it knows (the user's rules, Argo CD's health
// scripts in package health/library); ok is false for any other kind. A
// nil *Rules, or a nil library of the package health/library, rates none.
type Library interface {
	Rate(u *unstructured.Unstructured) (r Result, ok bool)
}

// Chain is libraries consulted in order, the first that rates a kind
// deciding.
type Chain []Library

// Rate implements Library.
func (c Chain) Rate(u *unstructured.Unstructured) (Result, bool) {
	for _, l := range c {
		if l == nil {
			continue
		}
		if r, ok := l.Rate(u); ok {
			return r, true
		}
	}
	return Result{}, false
}

// WithLibrary consults lib after the user's rules and before the built-in
// kinds.
func (r *Rater) WithLibrary(lib Library) *Rater {
	r.chain = append(r.chain, lib)
	return r
}

// NewRater returns a Rater with the user's rules, the first set that
// rates a kind winning.
func NewRater(rules ...Library) *Rater {
	return &Rater{chain: append(Chain{}, rules...)}
}

// Of computes the health of one live object with no rules of the user's.
func Of(u *unstructured.Unstructured) Result { return (*Rater)(nil).Of(u) }

// Of computes the health of one live object. It is a pure function of the
// object and the rules. A nil object is Missing.
func (r *Rater) Of(u *unstructured.Unstructured) Result {
	if u == nil {
		return Result{Status: Missing, Reason: "not found in the cluster"}
	}
	res := Result{Ref: resource.RefOf(u), Source: SourceBuiltIn}
	// Rules and the library see objects being deleted too: a script that
	// knows its kind knows what its deletion waits for.
	if r != nil {
		if rated, ok := r.chain.Rate(u); ok {
			rated.Ref = res.Ref
			return rated
		}
	}
	if u.GetDeletionTimestamp() != nil {
		res.Status, res.Reason = Progressing, "being deleted"
		return res
	}
	if st, reason, ok := builtIn(u); ok {
		res.Status, res.Reason = st, reason
		return res
	}
	res.Source = SourceKstatus
	ks, err := status.Compute(u)
	if err != nil {
		res.Status, res.Reason = Unknown, err.Error()
		return res
	}
	res.Reason = ks.Message
	switch ks.Status {
	case status.CurrentStatus:
		res.Status = Healthy
	case status.InProgressStatus, status.TerminatingStatus:
		res.Status = Progressing
	case status.FailedStatus:
		res.Status = Degraded
	case status.NotFoundStatus:
		res.Status = Missing
	default:
		res.Status = Unknown
	}
	return res
}

func condition(u *unstructured.Unstructured, typ string) (map[string]any, bool) {
	conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	for _, c := range conds {
		if m, ok := c.(map[string]any); ok && m["type"] == typ {
			return m, true
		}
	}
	return nil, false
}

// Report is the health of an App: its worst child, and every child.
type Report struct {
	Status  Status   `json:"status"`
	Objects []Result `json:"objects"`
}

// Aggregate reports the worst status of results (Healthy for none).
func Aggregate(results []Result) Report {
	r := Report{Status: Healthy, Objects: results}
	for _, res := range results {
		if Worse(res.Status, r.Status) {
			r.Status = res.Status
		}
	}
	return r
}
