package diff

import (
	"strings"
	"testing"
)

// FuzzFitMarkdown: whatever the sections, the result fits the limit and
// keeps every section's summary when the summaries alone fit.
func FuzzFitMarkdown(f *testing.F) {
	f.Add("### t\n", "a", strings.Repeat("+x\n", 5000), "b", "-y\n", 2000)
	f.Add("", "", "", "", "", 100)
	f.Fuzz(func(t *testing.T, head, s1, b1, s2, b2 string, max int) {
		if max < 1 || max > 1<<20 {
			return
		}
		secs := []Section{{Summary: s1, Body: b1}, {Summary: s2, Body: b2}}
		out := FitMarkdown(head, secs, "tail\n", max)
		if len(out) > max {
			t.Fatalf("output %d characters, limit %d", len(out), max)
		}
		skeleton := FitMarkdown(head, []Section{{Summary: s1}, {Summary: s2}}, "tail\n", 1<<30)
		if len(skeleton)+400 < max && (!strings.Contains(out, s1) || !strings.Contains(out, s2)) {
			t.Fatalf("a summary was lost although the summaries fit")
		}
	})
}
