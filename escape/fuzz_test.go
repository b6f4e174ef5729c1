package escape

import (
	"bytes"
	"strings"
	"testing"

	"github.com/yuin/goldmark"
	"github.com/yuin/goldmark/extension"
	gmhtml "github.com/yuin/goldmark/renderer/html"
	"golang.org/x/net/html"
)

// FuzzMarkdown: whatever a repository names, in a table cell it renders
// as one cell of one row whose text is the name (as Text writes it), with
// no element or comment of its own: it cannot close the table, start a
// block, or hide what follows.
func FuzzMarkdown(f *testing.F) {
	for _, s := range []string{"web", "x |…|\n\nNo App is affected.\n\n<!--", "`a`", "<details><summary>", "[a](b)", "\\|", "&amp;", "a\r\nb", "*_~"} {
		f.Add(s)
	}
	gfm := goldmark.New(goldmark.WithExtensions(extension.GFM), goldmark.WithRendererOptions(gmhtml.WithUnsafe()))
	f.Fuzz(func(t *testing.T, s string) {
		md := "| a |\n|---|\n| " + Markdown(s) + " |\n\nafter\n"
		var out bytes.Buffer
		if err := gfm.Convert([]byte(md), &out); err != nil {
			t.Fatal(err)
		}
		doc, err := html.Parse(&out)
		if err != nil {
			t.Fatal(err)
		}
		var cells []string
		elements := map[string]int{}
		var walk func(n *html.Node, inCell bool, cell *strings.Builder)
		walk = func(n *html.Node, inCell bool, cell *strings.Builder) {
			switch n.Type {
			case html.CommentNode:
				t.Fatalf("%q rendered an HTML comment:\n%s", s, md)
			case html.ElementNode:
				elements[n.Data]++
				if n.Data == "td" {
					cell = &strings.Builder{}
					defer func() { cells = append(cells, cell.String()) }()
					inCell = true
				} else if inCell {
					t.Fatalf("%q rendered a <%s> in its cell:\n%s", s, n.Data, md)
				}
			case html.TextNode:
				if inCell {
					cell.WriteString(n.Data)
				}
			}
			for c := n.FirstChild; c != nil; c = c.NextSibling {
				walk(c, inCell, cell)
			}
		}
		walk(doc, false, nil)
		if len(cells) != 1 || elements["tr"] != 2 || elements["p"] != 1 {
			t.Fatalf("%q: %d cells, %d rows, %d paragraphs; want 1, 2 and 1:\n%s", s, len(cells), elements["tr"], elements["p"], md)
		}
		if got, want := cells[0], strings.Trim(Text(s), " "); got != want {
			t.Fatalf("the cell reads %q, want %q:\n%s", got, want, md)
		}
	})
}
