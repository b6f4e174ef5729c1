package controller

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/plumbhq/plumb/api/v1alpha1"
	"github.com/plumbhq/plumb/apps"
	"github.com/plumbhq/plumb/charts"
	"github.com/plumbhq/plumb/git"
	"github.com/plumbhq/plumb/render"
	"github.com/plumbhq/plumb/resource"
)

// renderIfChanged renders the App's revision when its inputs changed (or
// no render is kept) and hands the labelled render to the App's applier.
// whole is the render's objects when this pass rendered; failed says the
// pass ends here with out.
func (c *Controller) renderIfChanged(ctx context.Context, w *appState, tm *phases) (whole []*unstructured.Unstructured, out outcome, failed bool) {
	app := &w.app
	var local *git.Local // nil for an App that is a chart alone
	var err error
	if app.Spec.Source.RepoURL != "" {
		if local, err = c.opts.Git.Local(app.Spec.Source.RepoURL, w.rev); err != nil {
			return nil, c.fail(w, ReasonGitFailed, "git_error", err), true
		}
	}
	// The inputs of the last render decide whether this revision can change
	// the render: they are the only paths a render of this App reads, and a
	// change that adds an input (a new Kustomize base) changes a file among
	// them (the kustomization that names it).
	// Helm's .Capabilities are an input of a render that asked for them: a
	// CRD installed since renders such an App again (discovery is cached,
	// refreshed with the REST mapper). Other Apps neither ask nor depend on
	// discovery.
	var caps *render.Capabilities
	if w.usedCaps {
		if caps, err = apps.Capabilities(c.opts.Client)(); err != nil {
			return nil, c.fail(w, ReasonRenderFailed, "render_error", err), true
		}
	}
	key := ""
	if w.inputs != nil {
		if key, err = renderKey(local, w, w.inputs, caps); err != nil {
			return nil, c.fail(w, ReasonGitFailed, "git_error", err), true
		}
	}
	if key != "" && key == w.renderKey && w.desired != nil {
		return nil, outcome{}, false
	}
	rendered, inputs, caps, err := c.render(ctx, w, local, tm)
	c.opts.Metrics.rendered(keyOf(app), err)
	if err != nil {
		// The last good render stays unused: syncing it would roll the
		// cluster back to an older revision. Nothing is applied or pruned.
		w.desired, w.renderKey = nil, ""
		return nil, c.fail(w, ReasonRenderFailed, "render_error", err), true
	}
	if key, err = renderKey(local, w, inputs, caps); err != nil {
		return nil, c.fail(w, ReasonGitFailed, "git_error", err), true
	}
	tm.mark("render")
	desired := rendered.Objects
	// Labelled once, as sync applies them, and their intents hashed once:
	// the checks of later passes reuse both.
	encoded, err := w.applier.Prepare(desired, apps.IgnoreRules(app))
	if err != nil {
		return nil, c.fail(w, ReasonRenderFailed, "render_error", err), true
	}
	w.desired, w.inputs, w.renderKey, w.warnings, w.usedCaps = keep(desired, encoded), inputs, key, rendered.Warnings, caps != nil
	w.hooks = rendered.HookObjects()
	tm.mark("intents")
	return desired, outcome{}, false
}

// render exports the commit (when the App has a Git source), fetches the
// App's chart and the dependencies its chart does not vendor, and renders
// the App, returning the render and the repository paths it read.
func (c *Controller) render(ctx context.Context, w *appState, local *git.Local, tm *phases) (rendered *apps.Rendered, inputs []string, caps *render.Capabilities, err error) {
	app := &w.app
	dir, err := os.MkdirTemp(c.opts.WorkDir, "render-")
	if err != nil {
		return nil, nil, nil, err
	}
	defer os.RemoveAll(dir)
	if local != nil {
		if err := local.Export(ctx, w.rev.Commit, dir, c.opts.MaxRepoBytes); err != nil {
			return nil, nil, nil, err
		}
		tm.mark("export")
	} else if err := os.MkdirAll(filepath.Join(dir, apps.SourcePath(app)), 0o700); err != nil {
		return nil, nil, nil, err
	}
	src := apps.Source(dir, app)
	opts := apps.RenderOptions(app)
	opts.Mapper = c.opts.Client.Mapper()
	opts.Cache = c.renders
	discover := apps.Capabilities(c.opts.Client)
	opts.Capabilities = func() (*render.Capabilities, error) { // asked only by a Helm render
		var err error
		caps, err = discover()
		return caps, err
	}
	var ref *charts.Ref
	if w.chart.Version != "" { // exactly what the poll resolved
		ref = &charts.Ref{RepoURL: w.chart.Ref.RepoURL, Name: w.chart.Ref.Name, Version: w.chart.Version}
	}
	ch, err := c.chartsFor(ctx, app)
	if err != nil {
		return nil, nil, nil, err
	}
	if _, err := apps.PrepareCharts(ctx, src, &opts, ref, ch); err != nil {
		return nil, nil, nil, err
	}
	if inputs, err = render.Inputs(src, opts); err != nil {
		return nil, nil, nil, err
	}
	var r apps.Renderer = apps.InProcess{}
	if c.opts.Sandbox != nil {
		r = c.opts.Sandbox.Within(apps.SandboxLimits(app))
	}
	if rendered, err = apps.Render(ctx, r, src, opts, app.Spec.SyncPolicy.AllowEmpty); err != nil {
		return nil, nil, nil, err
	}
	return rendered, inputs, caps, nil
}

// renderKey identifies a render: the content of every input at commit and
// everything in the spec that changes the output.
func renderKey(local *git.Local, w *appState, inputs []string, caps *render.Capabilities) (string, error) {
	app := &w.app
	content := ""
	if local != nil {
		var err error
		if content, err = local.ContentHash(w.rev.Commit, inputs); err != nil {
			return "", err
		}
	}
	// The ignore rules do not change the render but do change what is sent
	// (and so the intents cached with it).
	spec, err := json.Marshal(struct {
		Name      string
		Path      string
		Namespace string
		Render    v1alpha1.RenderOptions
		Ignore    []v1alpha1.IgnoreDifference
		Caps      *render.Capabilities
		Chart     string
	}{app.Name, apps.SourcePath(app), apps.RenderOptions(app).Namespace, app.Spec.Render, app.Spec.IgnoreDifferences, caps, w.chart.Revision()})
	if err != nil {
		return "", err
	}
	h := sha256.New()
	h.Write(spec)
	h.Write([]byte(content))
	return hex.EncodeToString(h.Sum(nil)), nil
}

// kept is what the controller holds of a render between passes: each
// object's identity (apiVersion, kind, namespace, name), which is all the
// fingerprint check, the watches and health read, and the object itself as
// JSON, decoded again only by a pass that must apply or diff
// (docs/decisions.md, "The controller keeps a render as JSON").
type kept struct {
	ids     []objectID
	encoded [][]byte
	// whole holds the objects themselves instead of encoded when every
	// check needs them (the intents depend on the live objects).
	whole []*unstructured.Unstructured
}

type objectID struct{ apiVersion, kind, namespace, name string }

// keep keeps objs as encoded, or whole when encoded is nil.
func keep(objs []*unstructured.Unstructured, encoded [][]byte) *kept {
	if encoded == nil {
		return &kept{whole: objs}
	}
	k := &kept{ids: make([]objectID, len(objs)), encoded: encoded}
	for i, o := range objs {
		k.ids[i] = objectID{o.GetAPIVersion(), o.GetKind(), o.GetNamespace(), o.GetName()}
	}
	return k
}

// refs returns objects that identify the render's objects: stubs with
// nothing but apiVersion, kind, namespace and name (made for the pass: a
// map per object kept between passes would cost more than the JSON), or the
// objects themselves. They must not be applied.
func (k *kept) refs() []*unstructured.Unstructured {
	if k.whole != nil {
		return k.whole
	}
	out := make([]*unstructured.Unstructured, len(k.ids))
	for i, id := range k.ids {
		meta := map[string]any{"name": id.name}
		if id.namespace != "" {
			meta["namespace"] = id.namespace
		}
		out[i] = &unstructured.Unstructured{Object: map[string]any{"apiVersion": id.apiVersion, "kind": id.kind, "metadata": meta}}
	}
	return out
}

// objects returns the render's objects. Sync and diff copy what they
// change, so the kept whole objects are handed out as they are, as every
// pass's render was before renders were kept encoded.
func (k *kept) objects() ([]*unstructured.Unstructured, error) {
	if k.whole != nil {
		return k.whole, nil
	}
	out := make([]*unstructured.Unstructured, len(k.encoded))
	for i, b := range k.encoded {
		u := &unstructured.Unstructured{}
		if err := u.UnmarshalJSON(b); err != nil {
			id := k.ids[i]
			gv, _ := schema.ParseGroupVersion(id.apiVersion)
			ref := resource.Ref{Group: gv.Group, Kind: id.kind, Namespace: id.namespace, Name: id.name}
			return nil, fmt.Errorf("%s: decoding the kept render: %w", ref, err)
		}
		out[i] = u
	}
	return out, nil
}
