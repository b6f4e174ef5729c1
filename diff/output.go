package diff

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/plumbhq/plumb/escape"
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
			fmt.Fprintf(&b, "%s\n", paint(ansiRed, "error: "+escape.Text(res.Error)))
			continue
		}
		fmt.Fprintf(&b, "%s\n", paint(ansiBold, fmt.Sprintf("%s (%s)", escape.Text(res.title()), res.Action)))
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
	fmt.Fprintf(&head, "### %s\n\n", escape.Markdown(title))
	fmt.Fprintf(&head, "| create | update | prune | unchanged | errors |\n|---:|---:|---:|---:|---:|\n| %d | %d | %d | %d | %d |\n\n",
		counts[Create], counts[Update], counts[Prune], counts[Unchanged], counts[Error])
	for _, e := range r.Errors() {
		fmt.Fprintf(&head, "- :x: %s\n", escape.Code(e.Error))
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
		out = append(out, Section{Heading: heading, Summary: fmt.Sprintf("%s (%s)", escape.Code(res.title()), res.Action), Body: res.Diff})
		heading = ""
	}
	return out
}

// FitMarkdown lays out head, the sections and tail within max characters.
// When the whole does not fit it degrades in steps, largest first, and says
// so in a closing note: diffs are cut to an excerpt, then left out (the
// summary line stays), then whole sections are left out from the end with a
// count. Cuts only ever happen between blocks, so no code fence or
// <details> is left open. Sizes are kept arithmetically: the layout is
// built once.
func FitMarkdown(head string, sections []Section, tail string, max int) string {
	if max <= 0 {
		max = MaxMarkdown
	}
	blocks := make([]string, len(sections))
	total := len(head) + len(tail)
	for i, sec := range sections {
		blocks[i] = sectionBlock(sec, sec.Body)
		total += len(blocks[i])
	}
	note := func(excerpted, omitted, dropped int) string {
		if excerpted+omitted+dropped == 0 {
			return ""
		}
		return fmt.Sprintf("\n> :warning: Output truncated to fit the %d-character limit: %d diffs cut to an excerpt, %d diffs and %d objects left out. The full report is in the output file.\n",
			max, excerpted, omitted, dropped)
	}
	const noteRoom = 240 // the note's length with large counts
	order := make([]int, len(sections))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return len(sections[order[a]].Body) > len(sections[order[b]].Body) })
	excerpted, omitted, dropped := 0, 0, 0
	for _, i := range order {
		if total <= max || (excerpted+omitted > 0 && total+noteRoom <= max) {
			break
		}
		short := sectionBlock(sections[i], excerpt(sections[i].Body, 20))
		if len(short) < len(blocks[i]) {
			total += len(short) - len(blocks[i])
			blocks[i] = short
			excerpted++
		}
	}
	for _, i := range order {
		if total+noteRoom <= max {
			break
		}
		bare := sectionBlock(sections[i], "")
		total += len(bare) - len(blocks[i])
		blocks[i] = bare
		omitted++
	}
	keep := len(blocks)
	for keep > 0 && total+noteRoom > max {
		keep--
		total -= len(blocks[keep])
		dropped++
	}
	var b strings.Builder
	b.WriteString(head)
	for _, blk := range blocks[:keep] {
		b.WriteString(blk)
	}
	b.WriteString(tail)
	b.WriteString(note(excerpted, omitted, dropped))
	return truncateText(b.String(), max)
}

// sectionBlock renders one section: a collapsible diff, or the summary
// alone when body is empty.
func sectionBlock(sec Section, body string) string {
	if body == "" {
		return sec.Heading + "- " + sec.Summary + " (diff left out)\n\n"
	}
	// Longer than any backtick run inside, so it cannot close early.
	fence := strings.Repeat("`", max(3, longestRun(body, '`')+1))
	return fmt.Sprintf("%s<details><summary>%s</summary>\n\n%sdiff\n%s%s\n</details>\n\n", sec.Heading, sec.Summary, fence, body, fence)
}

// longestRun is the length of the longest run of c in s, found in one pass
// (a hostile diff must not make the fence search quadratic).
func longestRun(s string, c byte) int {
	longest, run := 0, 0
	for i := 0; i < len(s); i++ {
		if s[i] != c {
			run = 0
			continue
		}
		run++
		longest = max(longest, run)
	}
	return longest
}

// excerpt keeps the first n lines of a diff and says how many were dropped.
func excerpt(d string, n int) string {
	lines := strings.SplitAfter(d, "\n")
	if len(lines) <= n {
		return d
	}
	return strings.Join(lines[:n], "") + fmt.Sprintf("... %d more lines cut\n", len(lines)-n)
}

// truncateText is the last resort, for a head or tail that alone exceeds
// max: a cut on a line boundary (or, failing that, a rune boundary), with a
// note, within max.
func truncateText(s string, max int) string {
	if len(s) <= max {
		return s
	}
	note := "\n\n> :warning: Output truncated to fit the size limit.\n"
	if max <= len(note) {
		return note[:max]
	}
	cut := s[:max-len(note)]
	if nl := strings.LastIndexByte(cut, '\n'); nl > 0 {
		cut = cut[:nl]
	}
	for len(cut) > 0 && !utf8.ValidString(cut[len(cut)-min(3, len(cut)):]) {
		cut = cut[:len(cut)-1]
	}
	return cut + note
}
