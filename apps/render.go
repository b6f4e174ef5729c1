package apps

import (
	"context"
	"errors"
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/plumbhq/plumb/api/v1alpha1"
	"github.com/plumbhq/plumb/cluster"
	"github.com/plumbhq/plumb/health"
	"github.com/plumbhq/plumb/render"
	"github.com/plumbhq/plumb/render/sandbox"
	"github.com/plumbhq/plumb/sync"
)

// Source is where the App's files are in a checkout at root.
func Source(root string, a *v1alpha1.App) render.Source {
	return render.Source{Root: root, Path: SourcePath(a)}
}

// Rendered is an App's render: the objects a sync applies, the hooks apart
// from them, and what the render did not do with its input.
type Rendered struct {
	Objects  []*unstructured.Unstructured
	Hooks    []render.Object
	Warnings []string
}

// Renderer renders a source: a sandbox.Sandbox in a worker process (what
// the CLI and plumb serve use), or InProcess.
type Renderer interface {
	Render(ctx context.Context, src render.Source, opts render.Options) (*render.Result, error)
}

// InProcess renders in this process, with render.Render: for tests and
// for callers that trust the repository.
type InProcess struct{}

// Render is render.Render.
func (InProcess) Render(ctx context.Context, src render.Source, opts render.Options) (*render.Result, error) {
	return render.Render(ctx, src, opts)
}

// Render renders src with r. An empty render is render.ErrEmptyRender unless
// allowEmpty, so that nothing downstream prunes on it by accident. A hook
// whose events plumb never runs (Helm's test, rollback and delete hooks,
// Argo CD's PostDelete) or that says Skip is named in a warning, so that
// none is left out without a word.
func Render(ctx context.Context, r Renderer, src render.Source, opts render.Options, allowEmpty bool) (*Rendered, error) {
	res, err := r.Render(ctx, src, opts)
	if err != nil && !(errors.Is(err, render.ErrEmptyRender) && allowEmpty) {
		return nil, err
	}
	out := &Rendered{Objects: make([]*unstructured.Unstructured, len(res.Objects)), Hooks: res.Hooks, Warnings: res.Warnings}
	for i, o := range res.Objects {
		out.Objects[i] = o.Object
	}
	for _, h := range res.Hooks {
		out.Warnings = append(out.Warnings, hookWarnings(h.Object)...)
	}
	return out, nil
}

// HookObjects are the render's hooks, as sync.Options.Hooks takes them.
func (r *Rendered) HookObjects() []*unstructured.Unstructured {
	out := make([]*unstructured.Unstructured, len(r.Hooks))
	for i, h := range r.Hooks {
		out[i] = h.Object
	}
	return out
}

// hookWarnings say what plumb will not do with a hook.
func hookWarnings(u *unstructured.Unstructured) []string {
	h, ok, err := sync.ParseHook(u)
	if err != nil {
		return []string{err.Error()} // the sync refuses it with the same words
	}
	if !ok {
		return nil
	}
	var out []string
	for _, e := range h.Unsupported() {
		out = append(out, fmt.Sprintf("%s (hook: %s): %s hooks are not run by plumb", sync.HookName(u), h.Events, e))
	}
	if _, _, skip := h.Phases(false); skip {
		out = append(out, fmt.Sprintf("%s (hook: %s): neither applied nor run", sync.HookName(u), h.Events))
	}
	return out
}

// Capabilities are the cluster's, for Helm's .Capabilities when rendering
// for that cluster (plumb diff, sync and serve): render.Options.Capabilities.
func Capabilities(c *cluster.Client) func() (*render.Capabilities, error) {
	return func() (*render.Capabilities, error) {
		v, apis, err := c.Capabilities()
		if err != nil {
			return nil, err
		}
		return &render.Capabilities{KubeVersion: v, APIVersions: apis}, nil
	}
}

// WaveWaiter is sync.Options.WaitWave: it waits until every object of a
// wave (or hook) is Healthy (or Suspended) as rater rates it, fails fast on
// Degraded, and gives up after timeout.
func WaveWaiter(g health.Getter, timeout time.Duration, rater *health.Rater) func(context.Context, []*unstructured.Unstructured) error {
	return func(ctx context.Context, objs []*unstructured.Unstructured) error {
		_, err := health.Wait(ctx, g, objs, health.WaitOptions{Timeout: timeout, Interval: 200 * time.Millisecond, Rater: rater}, nil)
		return err
	}
}

// SandboxLimits are the App's own render limits (spec.render.limits), to
// lower the controller's with sandbox.Sandbox.Within.
func SandboxLimits(a *v1alpha1.App) sandbox.Limits {
	l := a.Spec.Render.Limits
	if l == nil {
		return sandbox.Limits{}
	}
	var out sandbox.Limits
	if l.Memory != nil {
		out.Memory = l.Memory.Value()
	}
	if l.Output != nil {
		out.Output = l.Output.Value()
	}
	if l.CPU != nil {
		out.CPU = l.CPU.Duration
	}
	if l.Timeout != nil {
		out.Timeout = l.Timeout.Duration
	}
	return out
}
