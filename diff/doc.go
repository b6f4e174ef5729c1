// Package diff compares desired objects with their live counterparts: the
// exact answer from a server-side dry-run apply as field manager "plumb",
// normalised (server-set metadata and status dropped, Secret stringData
// folded into data, ignoreDifferences applied) and rendered as text, JSON or
// Markdown. Secret values are masked here, in one place that every output
// path goes through.
//
// It reads the cluster but never writes to it; sync applies what it finds.
package diff
