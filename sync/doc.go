// Package sync applies a set of desired objects to a cluster: ordered in
// stages (CRDs and Namespaces first, webhooks last), server-side apply with
// field manager "plumb" by a bounded worker pool, the inventory of what each
// App applied, and safe pruning of what it no longer renders. An Applier is
// one App's conversation with the cluster: it keeps the inventory, the
// intents of the current render and a held inventory write between calls,
// and its Diff is the plan every front end shares. It returns change sets
// and diff reports and never logs or prints.
//
// It imports diff (to know what changed) but not health; callers wait for
// health after a sync. Import the standard library's sync as gosync beside it.
package sync
