// Command plumb is a GitOps reconciler: it renders what a Git repository
// describes and keeps a Kubernetes cluster in step with it.
package main

import (
	"os"

	"github.com/plumbhq/plumb/render/sandbox"
)

func main() {
	if sandbox.IsWorker() { // plumb started again to render in its sandbox
		os.Exit(sandbox.WorkerMain())
	}
	os.Exit(run(os.Args[1:], streams{in: os.Stdin, out: os.Stdout, errOut: os.Stderr}))
}
