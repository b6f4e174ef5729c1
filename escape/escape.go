package escape

import (
	"fmt"
	"strings"
	"unicode"
)

// Text returns s with every control character (C0, DEL, C1, and the
// Unicode line and paragraph separators and bidirectional controls)
// written as a Go escape, \n and \t included: a name cannot move the
// cursor, colour the terminal, or start a new line of output.
func Text(s string) string {
	if !needsText(s) {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if unsafeRune(r) {
			b.WriteString(strings.Trim(fmt.Sprintf("%q", r), "'"))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// Lines is Text for text of several lines: newlines and tabs stay, every
// other control character is escaped (an error message printed whole).
func Lines(s string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		parts := strings.Split(l, "\t")
		for j, p := range parts {
			parts[j] = Text(p)
		}
		lines[i] = strings.Join(parts, "\t")
	}
	return strings.Join(lines, "\n")
}

func needsText(s string) bool {
	for _, r := range s {
		if unsafeRune(r) {
			return true
		}
	}
	return false
}

// unsafeRune is a rune Text escapes.
func unsafeRune(r rune) bool {
	switch {
	case r == utf8RuneError:
		return true
	case unicode.IsControl(r):
		return true
	case r == '\u2028' || r == '\u2029': // line and paragraph separators
		return true
	case r >= '\u202a' && r <= '\u202e', r >= '\u2066' && r <= '\u2069', r == '\u200e', r == '\u200f': // bidi
		return true
	}
	return false
}

const utf8RuneError = '\uFFFD'

// Markdown returns s as inline text of GitHub-flavoured Markdown that
// renders literally, wherever inline text may stand (a table cell, a list
// item, a heading, inside <summary>): control characters and line breaks
// are escaped as Text does, so s stays on its line and cannot end a table
// or an HTML block; <, >, & and " become entities, so it opens no tag or
// comment; Markdown's punctuation is backslash-escaped, so it adds no
// emphasis, link, code span, cell (\| is GFM's escaped pipe), emoji, math
// or mention.
func Markdown(s string) string {
	s = Text(s)
	var b strings.Builder
	b.Grow(len(s) + len(s)/8)
	for _, r := range s {
		switch r {
		case '<':
			b.WriteString("&lt;")
		case '>':
			b.WriteString("&gt;")
		case '&':
			b.WriteString("&amp;")
		case '"':
			b.WriteString("&quot;")
		case '\\', '`', '*', '_', '{', '}', '[', ']', '(', ')', '#', '!', '|', '~', ':', '@', '$':
			b.WriteByte('\\')
			b.WriteRune(r)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// Code is s as inline code: <code> with its text escaped as Markdown
// does (a code span could not hold every backtick run in a table cell).
func Code(s string) string { return "<code>" + Markdown(s) + "</code>" }
