// Package escape makes text from a repository (names, paths, kinds, error
// messages) safe to print: Markdown that no input can break out of, and
// terminal text without control characters. Every writer of plumb's
// output (render, diff, preview, the CLI) passes repository text through
// it; it has no other job and imports nothing of plumb.
package escape
