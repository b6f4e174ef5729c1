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
	sections := Sections("", r)
	if len(sections) == 0 {
		head.WriteString("No changes.\n")
	}
	return FitMarkdown(head.String(), sections, "", max)
}

// Section is one collapsible diff of a Markdown document; Heading, if set,
// is printed before it.
type Section struct {
	Heading string
	Summary string
	Body    string // a unified diff
}

// Sections returns one section per changed object of r; heading goes
// before the first.
func Sections(heading string, r Report) []Section {
	var out []Section
	for _, res := range r.Results {
		if res.Action == Unchanged || res.Action == Error {
			continue
		}
		out = append(out, Section{Heading: heading, Summary: fmt.Sprintf("<code>%s</code> (%s)", res.Ref, res.Action), Body: res.Diff})
		heading = ""
	}
	return out
}

// FitMarkdown lays out head, the sections and tail within max characters:
// when too long, the largest diffs are cut to an excerpt first, one at a
// time, with a note saying how many were cut; every section keeps its
// summary line.
func FitMarkdown(head string, sections []Section, tail string, max int) string {
	if max <= 0 {
		max = MaxMarkdown
	}
	bodies := make([]string, len(sections))
	for i, sec := range sections {
		bodies[i] = sec.Body
	}
	layout := func(note string) string {
		var b strings.Builder
		b.WriteString(head)
		for i, sec := range sections {
			if sec.Heading != "" {
				b.WriteString(sec.Heading)
			}
			fmt.Fprintf(&b, "<details><summary>%s</summary>\n\n```diff\n%s```\n</details>\n\n", sec.Summary, bodies[i])
		}
		b.WriteString(tail)
		b.WriteString(note)
		return b.String()
	}
	out := layout("")
	if len(out) <= max {
		return out
	}
	order := make([]int, len(bodies))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return len(bodies[order[a]]) > len(bodies[order[b]]) })
	for cut, i := range order {
		bodies[i] = excerpt(bodies[i], 20)
		note := fmt.Sprintf("\n> :warning: Output truncated: %d of %d diffs were cut to fit the %d-character limit; the full report is in the output file.\n", cut+1, len(bodies), max)
		if out = layout(note); len(out) <= max {
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
