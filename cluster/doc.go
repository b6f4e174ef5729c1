// Package cluster is plumb's connection to one Kubernetes cluster: a dynamic
// client, a metadata-only client and a REST mapper over cached discovery,
// with the few verbs the engine uses (get, server-side apply and its
// dry-run, JSON patch, delete). It holds no policy: what to apply, prune or
// wait for is decided by sync, diff and health, which consume it through
// small interfaces of their own where they can.
package cluster
