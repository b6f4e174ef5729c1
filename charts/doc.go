// Package charts fetches Helm charts from where platform teams publish them:
// Helm chart repositories (an index.yaml over HTTPS) and OCI registries. A
// chart is named by repository, name and an exact version or a semver range;
// Resolve turns that into one version and the digest of its archive, Fetch
// returns the archive, verified against that digest. Archives are stored by
// digest in a cache shared by every App, bounded in size and safe for
// concurrent use, so a pinned version is downloaded once. Unpack reads an
// archive as untrusted input.
//
// It is a source, like git: render consumes what it fetches and never talks
// to the network itself. Credentials are used for their own host only and
// never appear in an error.
package charts
