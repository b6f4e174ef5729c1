// Command plumb is a GitOps reconciler: it renders what a Git repository
// describes and keeps a Kubernetes cluster in step with it.
package main

import "os"

func main() { os.Exit(run(os.Args[1:], streams{in: os.Stdin, out: os.Stdout, errOut: os.Stderr})) }
