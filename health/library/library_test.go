package library

import (
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/plumbhq/plumb/health"
)

// libraryCase is one case of the library's own tests (health_test.yaml).
type libraryCase struct {
	Dir          string
	HealthStatus struct {
		Status  health.Status `json:"status"`
		Message string        `json:"message"`
	} `json:"healthStatus"`
	InputPath string `json:"inputPath"`
}

func cases(t *testing.T, l *Library) []libraryCase {
	t.Helper()
	files, err := fs.Glob(l.files, "*/*/health_test.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var out []libraryCase
	for _, f := range files {
		data, err := fs.ReadFile(l.files, f)
		if err != nil {
			t.Fatal(err)
		}
		var doc struct {
			Tests []libraryCase `json:"tests"`
		}
		if err := sigsyaml.Unmarshal(data, &doc); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for _, c := range doc.Tests {
			c.Dir = path.Dir(f)
			out = append(out, c)
		}
	}
	return out
}

// Issue K, acceptance 2: the library's own test cases, run through plumb's
// Rater: every case must agree, status and message; the figure by
// expected status is logged for docs/health.md.
func TestLibraryCases(t *testing.T) {
	l, err := New()
	if err != nil {
		t.Fatal(err)
	}
	r := health.NewRater().WithLibrary(l)
	type tally struct{ agree, total int }
	by := map[health.Status]*tally{}
	kinds := map[string]bool{}
	for _, c := range cases(t, l) {
		name := c.Dir + "/" + c.InputPath
		data, err := fs.ReadFile(l.files, path.Join(c.Dir, c.InputPath))
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		u := &unstructured.Unstructured{}
		if err := sigsyaml.Unmarshal(data, &u.Object); err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		want := c.HealthStatus
		if by[want.Status] == nil {
			by[want.Status] = &tally{}
		}
		by[want.Status].total++
		kinds[c.Dir] = true
		got := r.Of(u)
		if got.Status == want.Status && strings.TrimSpace(got.Reason) == strings.TrimSpace(want.Message) {
			by[want.Status].agree++
			continue
		}
		t.Errorf("%s: got %s %q (%s), want %s %q", name, got.Status, got.Reason, got.Source, want.Status, want.Message)
	}
	var lines []string
	agree, total := 0, 0
	for st, n := range by {
		lines = append(lines, fmt.Sprintf("%s %d/%d", st, n.agree, n.total))
		agree, total = agree+n.agree, total+n.total
	}
	sort.Strings(lines)
	t.Logf("library: %d kinds; cases agreeing %d/%d: %s", len(kinds), agree, total, strings.Join(lines, ", "))
}

// Issue K, acceptance 4: a user's rule for one kind overrides the library
// for that kind only.
func TestUserRuleOverridesLibrary(t *testing.T) {
	l, err := New()
	if err != nil {
		t.Fatal(err)
	}
	rules, err := health.CompileRules([]health.Rule{{APIVersion: "cert-manager.io/v1", Kind: "Certificate", Current: "true"}}, "App")
	if err != nil {
		t.Fatal(err)
	}
	failing := func(kind string) *unstructured.Unstructured {
		return &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "cert-manager.io/v1", "kind": kind, "metadata": map[string]any{"name": "web", "namespace": "shop"},
			"status": map[string]any{"conditions": []any{map[string]any{"type": "Ready", "status": "False", "message": "no ACME account"}}},
		}}
	}
	r := health.NewRater(rules).WithLibrary(l)
	if got := r.Of(failing("Certificate")); got.Status != health.Healthy || got.Source != "cert-manager.io/Certificate (App rule)" {
		t.Errorf("Certificate: %s; want the App's rule to decide", got.Explain())
	}
	if got := r.Of(failing("Issuer")); got.Status != health.Degraded || got.Source != "cert-manager.io/Issuer (library)" {
		t.Errorf("Issuer: %s; want the library to decide", got.Explain())
	}
}

// Issue K, item 3: a user's own Lua health check, as Argo CD users have
// them, rates its kind; a bad script is refused (syntax) or makes only its
// object Unknown (an error, an endless loop, unbounded allocation, a wrong
// result), within the budgets.
func TestUserScripts(t *testing.T) {
	widget := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "example.com/v1", "kind": "Widget",
		"metadata": map[string]any{"name": "w"}, "status": map[string]any{"phase": "Broken"}}}
	other := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "ConfigMap", "metadata": map[string]any{"name": "c"}}}
	if _, err := CompileScripts([]Script{{APIVersion: "example.com/v1", Kind: "Widget", Lua: "hs = {"}}, "App"); err == nil {
		t.Error("a script that does not parse was accepted")
	}
	cases := []struct{ name, lua, status, want string }{
		{"rates", `hs = {} if obj.status.phase == "Broken" then hs.status = "Degraded"; hs.message = "broken" end return hs`, "Degraded", "broken"},
		{"error", `error("boom")`, "Unknown", "boom"},
		{"endless loop", `while true do end`, "Unknown", "time budget"},
		{"allocates without bound", `local t = {} local i = 0 while true do i = i + 1 t[i] = string.rep("x", 1048576) end`, "Unknown", "time budget"},
		{"not a table", `return 42`, "Unknown", "not a table"},
		{"no os.execute", `return {status = os.execute("true")}`, "Unknown", "attempt to call a non-function object"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, err := CompileScripts([]Script{{APIVersion: "example.com/v1", Kind: "Widget", Lua: tc.lua}}, "App")
			if err != nil {
				t.Fatal(err)
			}
			r := health.NewRater(s)
			got := r.Of(widget)
			if string(got.Status) != tc.status || !strings.Contains(got.Reason, tc.want) || got.Source != "example.com/Widget (App Lua rule)" {
				t.Errorf("got %s, want %s with %q", got.Explain(), tc.status, tc.want)
			}
			if got := r.Of(other); got.Status != health.Healthy {
				t.Errorf("another kind: %s", got.Explain())
			}
		})
	}
}
