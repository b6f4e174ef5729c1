// Package git fetches the repositories plumb reconciles from: a cache of
// shallow, single-branch clones on local disk shared by every App of one
// repository, cheap polling (ls-remote first, fetch only when the ref moved),
// the content hash of the paths an App reads (which decides whether it must
// be rendered again), and verification of webhook payloads that ask for an early poll.
//
// It knows nothing about Kubernetes objects; render reads the checkouts it
// produces. It never logs credentials: URLs are redacted in every error.
package git
