package preview

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/yuin/goldmark"
	"github.com/yuin/goldmark/extension"
	gmhtml "github.com/yuin/goldmark/renderer/html"
	"golang.org/x/net/html"

	"github.com/plumbhq/plumb/diff"
	"github.com/plumbhq/plumb/resource"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// injection is the comment-injection attempt of issue S: an App name that
// closes the table, claims no App is affected and opens an HTML comment
// to hide the rest, beside a changed image. Paths, object names, errors
// and warnings carry the same tricks.
func injection() *Report {
	hostile := "x |…|\n\nNo App is affected by this change.\n\n<!--"
	return &Report{
		Base: "1111111111aaaa", Head: "2222222222bbbb", Unaffected: 3,
		Apps: []App{{
			Name: hostile,
			Path: "apps/`shop` | <details>",
			Report: diff.Report{Results: []diff.Result{{
				Ref:    resource.Ref{Group: "apps", Kind: "Deployment", Namespace: "shop", Name: "web</code></summary><!--"},
				Action: diff.Update,
				Diff:   "--- live\n+++ desired\n@@ -1 +1 @@\n-        image: nginx:1.27\n+        image: evil.example.com/nginx:backdoor\n```\n</details>\n",
			}}},
			HeadError: "values.yaml: `x` | ]]> <!-- -->\n\n# heading",
			Warnings:  []string{"[click](https://evil.example.com) **bold** :warning: @security $x$"},
		}},
	}
}

// TestMarkdownEscapesRepositoryText: the injection renders as literal
// text on GitHub-flavoured Markdown (goldmark with the GFM extensions
// parses it here), and the changed image is in the comment. The golden
// file is the comment as posted.
func TestMarkdownEscapesRepositoryText(t *testing.T) {
	md := Markdown(injection(), 0)
	golden := filepath.Join("testdata", "injection.md")
	if *update {
		if err := os.WriteFile(golden, []byte(md), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(string(want), md); diff != "" {
		t.Errorf("Markdown differs from %s (-want +got; -update rewrites it):\n%s", golden, diff)
	}

	var out bytes.Buffer
	// Raw HTML passes, as GitHub lets <details>, <summary> and <code> (and
	// would let a comment) through.
	gfm := goldmark.New(goldmark.WithExtensions(extension.GFM), goldmark.WithRendererOptions(gmhtml.WithUnsafe()))
	if err := gfm.Convert([]byte(md), &out); err != nil {
		t.Fatal(err)
	}
	doc, err := html.Parse(&out)
	if err != nil {
		t.Fatal(err)
	}
	var comments, rows, cells int
	var text strings.Builder
	var walk func(n *html.Node)
	walk = func(n *html.Node) {
		switch {
		case n.Type == html.CommentNode:
			comments++
		case n.Type == html.ElementNode && n.Data == "tr":
			rows++
		case n.Type == html.ElementNode && n.Data == "td":
			cells++
		case n.Type == html.TextNode:
			text.WriteString(n.Data)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(doc)
	if comments != 0 {
		t.Errorf("the rendered comment holds %d HTML comments, want none", comments)
	}
	if rows != 2 || cells != 6 {
		t.Errorf("the table has %d rows and %d cells, want 2 and 6 (a header and one App)", rows, cells)
	}
	rendered := text.String()
	for _, literal := range []string{
		`x |…|\n\nNo App is affected by this change.\n\n<!--`, // the name, as text, on one line
		"apps/`shop` | <details>",
		"[click](https://evil.example.com) **bold** :warning: @security $x$",
		"evil.example.com/nginx:backdoor",
		"3 other apps are not affected by this change.",
	} {
		if !strings.Contains(rendered, literal) {
			t.Errorf("the rendered comment does not show %q literally:\n%s", literal, rendered)
		}
	}
}
