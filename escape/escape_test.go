package escape

import "testing"

func TestText(t *testing.T) {
	cases := []struct{ name, in, want string }{
		{"plain", "Deployment/shop/web", "Deployment/shop/web"},
		{"newline", "a.yaml\n---\nkind: Secret", `a.yaml\n---\nkind: Secret`},
		{"terminal escape", "x\x1b[2J\x1b[31mred", `x\x1b[2J\x1b[31mred`},
		{"carriage return", "ok\rFAIL", `ok\rFAIL`},
		{"bidi override", "abc\u202edcba", `abc\u202edcba`},
		{"line separator", "a\u2028b", `a\u2028b`},
		{"C1 control", "a\u009bb", `a\u009bb`},
		{"unicode text stays", "größe…", "größe…"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := Text(tc.in); got != tc.want {
				t.Errorf("Text(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
	if got, want := Lines("one\n\ttwo\x1b[0m"), "one\n\ttwo\\x1b[0m"; got != want {
		t.Errorf("Lines = %q, want %q", got, want)
	}
}

func TestMarkdown(t *testing.T) {
	cases := []struct{ name, in, want string }{
		{"plain", "web", "web"},
		{"table cell end", "a | b", `a \| b`},
		{"html comment", "<!-- x -->", `&lt;\!-- x --&gt;`},
		{"code span", "`x`", "\\`x\\`"},
		{"link", "[a](http://b)", `\[a\]\(http\://b\)`},
		{"new paragraph", "a\n\nb", `a\\n\\nb`}, // Text's \n, its backslash escaped
		{"entity", "&lt;", "&amp;lt;"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := Markdown(tc.in); got != tc.want {
				t.Errorf("Markdown(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}
