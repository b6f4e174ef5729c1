// Package preview is the engine of plumb preview: what a change between two
// revisions of a repository does to every App it can affect, with no
// cluster. It finds the App manifests at both revisions, works out which
// Apps the changed files reach (their paths, Kustomize bases and
// components, Helm value files), renders only those at both revisions
// (with the sandbox closed: a pull request may edit its own App), and
// diffs them object by object; optionally it also plans head against the
// live cluster. It returns a Report and formats it; it does not print.
package preview
