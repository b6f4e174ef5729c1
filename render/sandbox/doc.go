// Package sandbox runs renders in a worker process: plumb started again as
// a render worker, with hard limits on memory, CPU, wall-clock time and
// output, no environment, no network and read access to the App's export
// only (Landlock, where the kernel has it). Helm and Kustomize take no
// context and no allocation limits, so a process is the one boundary that
// stops a hostile chart or overlay: a worker over a limit is killed and the
// render fails naming the limit, and nothing else in the caller is touched.
//
// The protocol is one JSON request on the worker's stdin (the source, the
// render options, the limits) and one JSON response on its stdout (the
// objects as rendered, or an error). The caller runs render.Finish on the
// result, with its cluster's REST mapper. The CLI and plumb serve both
// render through it.
package sandbox
