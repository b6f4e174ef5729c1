// Package apps is what every front end (the CLI, plumb preview and the
// controller) does with an App before the engine takes over: it parses and
// validates App manifests (api/v1alpha1 holds only their types), converts
// their options for render, diff and sync, and renders an App into the
// objects a sync applies. The plan of a sync (inventory, prune candidates,
// fingerprint check, diff) is sync.Applier's Diff, which holds the state
// it reads.
package apps
