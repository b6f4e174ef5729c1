// Package render turns a directory of a checkout into Kubernetes objects:
// plain YAML and JSON, Kustomize overlays (in-process, builtin plugins only)
// and Helm charts (client-only), each object with where it came from.
//
// Every file it reads goes through one filesystem rooted at the checkout, so
// symlinks and ".." paths cannot escape it, and reads, objects and time are
// capped. It does not talk to a cluster (no Helm lookup) and does not decide
// what to apply; diff and sync consume its result.
package render
