// Package controller is plumb's reconcile loop: it keeps many Apps in step
// with their repositories, end to end through the pipeline git → render →
// diff → sync → health, and reports each App's truth as status conditions
// (kstatus: Ready, Reconciling, Stalled), Kubernetes Events and metrics.
//
// Each App is a key on a delaying work queue served by a fixed number of
// workers. A pass polls the remote (ls-remote, coalesced per repository),
// renders only when the content the App reads changed (keyed by the git
// object hashes of render.Inputs plus the options), diffs when new content
// arrived or a drift check is due, applies when the App is automatic (drift
// only with selfHeal), prunes when allowed, and rates health. Errors never
// lead to a sync or a prune: a failed poll or render leaves the live objects
// as they are.
//
// It does not serve HTTP, elect a leader or parse flags: `plumb serve`
// (cmd/plumb) wires it to webhooks, metrics, the App API and a Lease. It
// logs through the slog.Logger it is given, because a daemon's log is its
// user interface; the engine packages it drives stay silent.
package controller
