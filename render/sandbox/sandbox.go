package sandbox

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/plumbhq/plumb/render"
)

// Limits bound one worker. Zero fields take the defaults.
type Limits struct {
	// Memory caps the worker's data segment (RLIMIT_DATA: its heap and
	// stacks), default 512 MiB.
	Memory int64 `json:"memory,omitempty"`
	// CPU caps the worker's CPU time (RLIMIT_CPU), default 1 minute.
	CPU time.Duration `json:"cpu,omitempty"`
	// Timeout caps the render's wall-clock time, default 2 minutes (a
	// lower render.Limits.Timeout wins).
	Timeout time.Duration `json:"timeout,omitempty"`
	// Output caps the bytes of the rendered objects, default 128 MiB.
	Output int64 `json:"output,omitempty"`
}

// DefaultLimits are the limits of zero Limits fields.
func DefaultLimits() Limits {
	return Limits{Memory: 512 << 20, CPU: time.Minute, Timeout: 2 * time.Minute, Output: 128 << 20}
}

func (l Limits) withDefaults() Limits {
	d := DefaultLimits()
	if l.Memory <= 0 {
		l.Memory = d.Memory
	}
	if l.CPU <= 0 {
		l.CPU = d.CPU
	}
	if l.Output <= 0 {
		l.Output = d.Output
	}
	if l.Timeout <= 0 {
		l.Timeout = d.Timeout
	}
	return l
}

// Min is l with each limit lowered to other's where other sets a lower
// one: an App may tighten the controller's limits, never loosen them.
func (l Limits) Min(other Limits) Limits {
	if other.Memory > 0 && other.Memory < l.Memory {
		l.Memory = other.Memory
	}
	if other.CPU > 0 && other.CPU < l.CPU {
		l.CPU = other.CPU
	}
	if other.Output > 0 && other.Output < l.Output {
		l.Output = other.Output
	}
	if other.Timeout > 0 && other.Timeout < l.Timeout {
		l.Timeout = other.Timeout
	}
	return l
}

// Options configure a Sandbox.
type Options struct {
	// Executable is the worker's binary, default this process's own (plumb,
	// or a test binary whose TestMain runs WorkerMain).
	Executable string
	Limits     Limits
	// Workers caps the workers running at once, default 2.
	Workers int
	// Spares is how many workers to keep started and warm, waiting for a
	// render (0 for a command that renders once): a render then starts no
	// process, and its renderers' first-use costs are paid ahead.
	Spares int
}

// Sandbox renders in worker processes, a few at a time.
type Sandbox struct {
	exe    string
	limits Limits
	slots  chan struct{}
	// noNetNS is set once starting a worker in new user and network
	// namespaces failed (user namespaces are off): later workers start
	// without, and their renders say so.
	noNetNS *atomic.Bool
	spares  chan *worker // nil without spares
}

// New returns a Sandbox.
func New(opts Options) (*Sandbox, error) {
	exe := opts.Executable
	if exe == "" {
		var err error
		if exe, err = os.Executable(); err != nil {
			return nil, fmt.Errorf("render sandbox: %w", err)
		}
	}
	if opts.Workers <= 0 {
		opts.Workers = 2
	}
	s := &Sandbox{exe: exe, limits: opts.Limits.withDefaults(), slots: make(chan struct{}, opts.Workers), noNetNS: &atomic.Bool{}}
	if opts.Spares > 0 {
		s.spares = make(chan *worker, opts.Spares)
	}
	return s, nil
}

// Within is s with its limits lowered to tighter where tighter sets lower
// ones (an App's own), sharing s's workers.
func (s *Sandbox) Within(tighter Limits) *Sandbox {
	c := *s
	c.limits = s.limits.Min(tighter)
	return &c
}

// Limits are the sandbox's limits, defaults filled in.
func (s *Sandbox) Limits() Limits { return s.limits }

// Render renders src in a worker with the sandbox's limits and checks the
// result as render.Render does (render.Finish, with opts.Mapper).
func (s *Sandbox) Render(ctx context.Context, src render.Source, opts render.Options) (*render.Result, error) {
	kind, err := render.Detect(src, opts)
	if err != nil {
		return nil, err
	}
	// The worker has no cluster: a Helm render gets the capabilities asked
	// here, any other render needs none.
	if kind == render.Helm {
		if opts, err = render.ResolveCapabilities(opts); err != nil {
			return nil, err
		}
	} else {
		opts.Capabilities = nil
	}
	if src.Root, err = filepath.Abs(src.Root); err != nil {
		return nil, err
	}
	timeout := s.limits.Timeout
	if t := opts.Limits.Timeout; t > 0 && t < timeout {
		timeout = t
	}
	opts.Limits.Timeout = timeout // the worker stops itself at the limit
	if o := opts.Limits.MaxOutputBytes; o <= 0 || o > s.limits.Output {
		opts.Limits.MaxOutputBytes = s.limits.Output // and checks a chart's output before decoding it
	}
	req, err := newRequest(src, opts, s.limits)
	if err != nil {
		return nil, err
	}
	select {
	case s.slots <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	resp, err := s.run(ctx, req, timeout)
	<-s.slots
	if err != nil {
		return nil, err
	}
	res, err := resp.result()
	if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
		return nil, limitErr("render exceeded its %s time limit", timeout)
	}
	if err != nil {
		return nil, err
	}
	if s.noNetNS.Load() && confineFS(opts) {
		res.Warnings = append(res.Warnings, "render sandbox: no network namespace (user namespaces are off here): only TCP is blocked, by Landlock")
	}
	return res, render.Finish(res, src, opts)
}
