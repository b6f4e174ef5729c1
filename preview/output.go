package preview

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/plumbhq/plumb/diff"
	"github.com/plumbhq/plumb/escape"
)

// Write writes the report as format (markdown, text or json); max bounds
// the Markdown (diff.FitMarkdown degrades it in steps to fit).
func Write(w io.Writer, rep *Report, format string, max int) error {
	switch format {
	case "json":
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	case "text":
		for _, a := range rep.Apps {
			fmt.Fprintf(w, "=== app %s (%s)\n", escape.Text(a.Name), escape.Text(a.Path))
			for _, e := range []string{a.BaseError, a.HeadError, a.LiveError} {
				if e != "" {
					fmt.Fprintf(w, "error: %s\n", escape.Text(e))
				}
			}
			if err := diff.WriteText(w, a.Report, diff.TextOptions{}); err != nil {
				return err
			}
		}
		_, err := fmt.Fprintf(w, "%d affected apps, %d not affected\n", len(rep.Apps), rep.Unaffected)
		return err
	}
	_, err := io.WriteString(w, Markdown(rep, max))
	return err
}

// Markdown is the pull-request comment: a table of affected Apps, then
// their object diffs, then one line for the Apps the change leaves alone.
func Markdown(rep *Report, max int) string {
	var head strings.Builder
	fmt.Fprintf(&head, "### plumb preview: %s → %s\n\n", escape.Code(short(rep.Base)), escape.Code(short(rep.Head)))
	if rep.OtherRepos > 0 {
		fmt.Fprintf(&head, "%d Apps of other repositories were left out.\n\n", rep.OtherRepos)
	}
	if len(rep.Apps) == 0 {
		head.WriteString("No App is affected by this change.\n\n")
	} else {
		head.WriteString("| app | path | added | changed | removed | render errors |\n|---|---|---:|---:|---:|---|\n")
		for _, a := range rep.Apps {
			c := a.Report.Counts()
			var errs []string
			for side, e := range map[string]string{"base": a.BaseError, "head": a.HeadError, "live": a.LiveError} {
				if e != "" {
					errs = append(errs, side+": "+oneLine(e))
				}
			}
			sort.Strings(errs)
			fmt.Fprintf(&head, "| %s | %s | %d | %d | %d | %s |\n", escape.Markdown(a.Name), escape.Code(a.Path), c[diff.Create], c[diff.Update], c[diff.Prune], strings.Join(errs, "<br>"))
		}
		head.WriteString("\n")
	}
	var lines []string
	for _, a := range rep.Apps {
		if line := chartLine(a); line != "" {
			lines = append(lines, fmt.Sprintf("- %s: %s\n", escape.Markdown(a.Name), line))
		}
		for _, w := range a.Warnings {
			lines = append(lines, fmt.Sprintf("- %s: warning: %s\n", escape.Markdown(a.Name), oneLine(w)))
		}
	}
	if len(lines) > 0 {
		head.WriteString(strings.Join(lines, "") + "\n")
	}
	var sections []diff.Section
	for _, a := range rep.Apps {
		sections = append(sections, diff.Sections(fmt.Sprintf("#### %s\n\n", escape.Markdown(a.Name)), a.Report)...)
		if a.Live != nil {
			sections = append(sections, diff.Sections(fmt.Sprintf("#### %s against the live cluster\n\n", escape.Markdown(a.Name)), *a.Live)...)
		}
	}
	tail := fmt.Sprintf("%d other apps are not affected by this change.\n", rep.Unaffected)
	return diff.FitMarkdown(head.String(), sections, tail, max)
}

// oneLine is repository text (an error, a warning) as Markdown of one
// line, its first 300 characters.
func oneLine(s string) string {
	s = strings.ReplaceAll(s, "\n", " ")
	if r := []rune(s); len(r) > 300 {
		return escape.Markdown(string(r[:300])) + "..."
	}
	return escape.Markdown(s)
}

func short(h string) string {
	if len(h) > 10 {
		return h[:10]
	}
	return h
}

// chartLine says which charts an App rendered: "chart `a` → `b`" when base
// and head differ, "chart `a`" when they agree, "" for no chart.
func chartLine(a App) string {
	base, headC := strings.Join(a.BaseCharts, ", "), strings.Join(a.HeadCharts, ", ")
	switch {
	case base == "" && headC == "":
		return ""
	case base == headC || base == "":
		return "chart " + escape.Code(headC)
	case headC == "":
		return "chart " + escape.Code(base)
	}
	return "chart " + escape.Code(base) + " → " + escape.Code(headC)
}
