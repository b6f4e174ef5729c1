package diff

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
)

// Every writer below prints only Result fields, which Compute has already
// masked; none of them sees an object.

// TextOptions tune WriteText.
type TextOptions struct {
	// Color adds ANSI colours (the CLI turns it on for terminals only).
	Color bool
}

const (
	ansiRed   = "\x1b[31m"
	ansiGreen = "\x1b[32m"
	ansiCyan  = "\x1b[36m"
	ansiBold  = "\x1b[1m"
	ansiReset = "\x1b[0m"
)

// WriteText prints a unified diff per changed object, headed
// "Kind/namespace/name (action)", and errors last.
func WriteText(w io.Writer, r Report, opts TextOptions) error {
	paint := func(code, s string) string {
		if !opts.Color {
			return s
		}
		return code + s + ansiReset
	}
	var b strings.Builder
	for _, res := range r.Results {
		switch res.Action {
		case Unchanged:
			continue
		case Error:
			fmt.Fprintf(&b, "%s\n", paint(ansiRed, "error: "+res.Error))
			continue
		}
		fmt.Fprintf(&b, "%s\n", paint(ansiBold, fmt.Sprintf("%s (%s)", res.Ref, res.Action)))
		for _, line := range strings.SplitAfter(res.Diff, "\n") {
			switch {
			case strings.HasPrefix(line, "+++"), strings.HasPrefix(line, "---"):
				b.WriteString(paint(ansiBold, strings.TrimSuffix(line, "\n")) + "\n")
			case strings.HasPrefix(line, "@@"):
				b.WriteString(paint(ansiCyan, strings.TrimSuffix(line, "\n")) + "\n")
			case strings.HasPrefix(line, "+"):
				b.WriteString(paint(ansiGreen, strings.TrimSuffix(line, "\n")) + "\n")
			case strings.HasPrefix(line, "-"):
				b.WriteString(paint(ansiRed, strings.TrimSuffix(line, "\n")) + "\n")
			default:
				b.WriteString(line)
			}
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// JSONSchemaVersion is the version of WriteJSON's document; fields are only
// ever added within a version.
const JSONSchemaVersion = "plumb.dev/diff/v1"

// jsonDoc is the documented JSON output (docs/output.md).
type jsonDoc struct {
	SchemaVersion string         `json:"schemaVersion"`
	Changed       bool           `json:"changed"`
	Counts        map[Action]int `json:"counts"`
	Results       []Result       `json:"results"`
}

// WriteJSON prints the report as one JSON document.
func WriteJSON(w io.Writer, r Report) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	results := r.Results
	if results == nil {
		results = []Result{}
	}
	return enc.Encode(jsonDoc{SchemaVersion: JSONSchemaVersion, Changed: r.Changed(), Counts: r.Counts(), Results: results})
}

// MaxMarkdown keeps Markdown under GitHub's 65,536-character comment limit.
const MaxMarkdown = 65536

// WriteMarkdown prints a summary table and a collapsible section per changed
// object, within max characters (MaxMarkdown when max <= 0): the largest
// diffs are cut first, and a note says what was cut.
func WriteMarkdown(w io.Writer, title string, r Report, max int) error {
	if max <= 0 {
		max = MaxMarkdown
	}
	_, err := io.WriteString(w, Markdown(title, r, max))
	return err
}

// Markdown renders the report as Markdown of at most max characters.
func Markdown(title string, r Report, max int) string {
	counts := r.Counts()
	var head strings.Builder
	fmt.Fprintf(&head, "### %s\n\n", title)
	fmt.Fprintf(&head, "| create | update | prune | unchanged | errors |\n|---:|---:|---:|---:|---:|\n| %d | %d | %d | %d | %d |\n\n",
		counts[Create], counts[Update], counts[Prune], counts[Unchanged], counts[Error])
	for _, e := range r.Errors() {
		fmt.Fprintf(&head, "- :x: `%s`\n", strings.ReplaceAll(e.Error, "`", "'"))
	}
	var changed []Result
	for _, res := range r.Results {
		if res.Action != Unchanged && res.Action != Error {
			changed = append(changed, res)
		}
	}
	if len(changed) == 0 {
		head.WriteString("No changes.\n")
		return truncateText(head.String(), max)
	}
	sections := make([]string, len(changed))
	for i, res := range changed {
		sections[i] = res.Diff
	}
	render := func(bodies []string, note string) string {
		var b strings.Builder
		b.WriteString(head.String())
		for i, res := range changed {
			fmt.Fprintf(&b, "<details><summary><code>%s</code> (%s)</summary>\n\n```diff\n%s```\n</details>\n\n", res.Ref, res.Action, bodies[i])
		}
		b.WriteString(note)
		return b.String()
	}
	out := render(sections, "")
	if len(out) <= max {
		return out
	}
	// Cut the largest diffs first, to a short excerpt each, until it fits.
	order := make([]int, len(sections))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return len(sections[order[a]]) > len(sections[order[b]]) })
	cut := 0
	for _, i := range order {
		sections[i] = excerpt(sections[i], 20)
		cut++
		note := fmt.Sprintf("> :warning: Output truncated: %d of %d diffs were cut to fit the %d-character limit; the full report is in the command's output file.\n", cut, len(sections), max)
		if out = render(sections, note); len(out) <= max {
			return out
		}
	}
	return truncateText(out, max)
}

// excerpt keeps the first n lines of a diff and says how many were dropped.
func excerpt(d string, n int) string {
	lines := strings.SplitAfter(d, "\n")
	if len(lines) <= n {
		return d
	}
	return strings.Join(lines[:n], "") + fmt.Sprintf("... %d more lines cut\n", len(lines)-n)
}

// truncateText is the last resort: a hard cut with a note, within max.
func truncateText(s string, max int) string {
	if len(s) <= max {
		return s
	}
	note := "\n\n> :warning: Output truncated to fit the size limit.\n"
	if max <= len(note) {
		return note[:max]
	}
	return s[:max-len(note)] + note
}
