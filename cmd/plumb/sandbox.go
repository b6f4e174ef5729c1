package main

import (
	"fmt"
	"time"

	"github.com/spf13/pflag"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/plumbhq/plumb/render/sandbox"
)

// sandboxFlags are the limits of the render worker every command renders
// in (render, diff, sync, status, preview and serve).
type sandboxFlags struct {
	memory  string
	output  string
	cpu     time.Duration
	timeout time.Duration
	workers int
}

func (f *sandboxFlags) bind(fs *pflag.FlagSet) {
	d := sandbox.DefaultLimits()
	fs.StringVar(&f.memory, "render-memory", resource.NewQuantity(d.Memory, resource.BinarySI).String(), "memory limit of one render (its worker process)")
	fs.StringVar(&f.output, "render-output", resource.NewQuantity(d.Output, resource.BinarySI).String(), "limit on the bytes of one render's objects")
	fs.DurationVar(&f.cpu, "render-cpu", d.CPU, "CPU time limit of one render")
	fs.DurationVar(&f.timeout, "render-timeout", d.Timeout, "wall-clock limit of one render")
}

// bindWorkers adds --render-workers, for the commands that render many
// Apps at once.
func (f *sandboxFlags) bindWorkers(fs *pflag.FlagSet) {
	fs.IntVar(&f.workers, "render-workers", 2, "renders running at once, each in its own worker process")
}

// sandbox is the render sandbox the flags describe, keeping spares
// workers started and warm (for the commands that render many times).
func (f *sandboxFlags) sandbox(spares int) (*sandbox.Sandbox, error) {
	var lim sandbox.Limits
	for _, q := range []struct {
		flag, value string
		into        *int64
	}{{"--render-memory", f.memory, &lim.Memory}, {"--render-output", f.output, &lim.Output}} {
		v, err := resource.ParseQuantity(q.value)
		if err != nil || v.Sign() <= 0 {
			return nil, fmt.Errorf("%s: %q is not a positive quantity such as 512Mi", q.flag, q.value)
		}
		*q.into = v.Value()
	}
	if f.cpu <= 0 || f.timeout <= 0 {
		return nil, fmt.Errorf("--render-cpu and --render-timeout must be positive")
	}
	lim.CPU, lim.Timeout = f.cpu, f.timeout
	return sandbox.New(sandbox.Options{Limits: lim, Workers: f.workers, Spares: spares})
}
