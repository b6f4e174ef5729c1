package preview

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/plumbhq/plumb/api/v1alpha1"
	"github.com/plumbhq/plumb/apps"
	"github.com/plumbhq/plumb/cluster"
	"github.com/plumbhq/plumb/diff"
	"github.com/plumbhq/plumb/git"
	"github.com/plumbhq/plumb/render"
	"github.com/plumbhq/plumb/resource"
	"github.com/plumbhq/plumb/sync"
)

// Options say what to preview.
type Options struct {
	// Base and Head are the revisions (any name git resolves).
	Base, Head string
	// AppsFile is a file in the repository holding the App objects; empty
	// means every App manifest in the repository.
	AppsFile string
	// RepoURL keeps the Apps whose source is this repository; empty keeps
	// every App.
	RepoURL string
	// Normalize leaves labels and annotations out of the comparison.
	Normalize diff.NormalizeOptions
	// MaxExportBytes caps the bytes of one revision written out.
	MaxExportBytes int64
	// Charts fetches the charts Apps name and the dependencies their charts
	// do not vendor (nil: none is fetched, and such Apps fail to render),
	// from the repository hosts the base revision's Apps use and ChartHosts
	// only: a pull request cannot choose what CI fetches.
	Charts     *apps.Charts
	ChartHosts []string
	// Live, if set, also plans head against this cluster, with the Apps'
	// inventories in InventoryNamespace.
	Live               *cluster.Client
	InventoryNamespace string
	// Renderer renders each App (nil: in this process). The CLI renders in
	// its sandbox: a pull request is untrusted.
	Renderer apps.Renderer
}

// App is the preview of one affected App. Texts are masked.
type App struct {
	Name      string       `json:"name"`
	Path      string       `json:"path"`
	BaseError string       `json:"baseError,omitempty"`
	HeadError string       `json:"headError,omitempty"`
	Report    diff.Report  `json:"report"`
	Live      *diff.Report `json:"live,omitempty"`
	LiveError string       `json:"liveError,omitempty"`
	// Warnings are head's render warnings (a chart's lookup calls, say).
	Warnings []string `json:"warnings,omitempty"`
	// BaseCharts and HeadCharts are the charts each side rendered
	// (name@version/digest).
	BaseCharts []string `json:"baseCharts,omitempty"`
	HeadCharts []string `json:"headCharts,omitempty"`
}

// Failed reports whether a render or the live plan failed.
func (a App) Failed() bool { return a.BaseError != "" || a.HeadError != "" || a.LiveError != "" }

// Report is the whole preview; its JSON is plumb preview -o json.
type Report struct {
	Base       string `json:"base"`
	Head       string `json:"head"`
	Apps       []App  `json:"apps"`
	Unaffected int    `json:"unaffected"`
	// OtherRepos counts Apps whose source is another repository.
	OtherRepos int `json:"otherRepos"`
	// Renders counts renders performed, to show only affected Apps render.
	Renders int `json:"renders"`
}

// Changed reports whether any App's objects change.
func (r *Report) Changed() bool {
	for _, a := range r.Apps {
		if a.Report.Changed() || (a.Live != nil && a.Live.Changed()) {
			return true
		}
	}
	return false
}

// run is one preview in progress.
type run struct {
	opts     Options
	repo     *git.Local
	masker   *diff.Masker
	base     string
	head     string
	trees    map[string]string // commit → its export
	rep      *Report
	baseApps map[string]*foundApp
	headApps map[string]*foundApp
}

// Run previews the change from opts.Base to opts.Head in repo.
func Run(ctx context.Context, repo *git.Local, opts Options) (*Report, error) {
	r := &run{opts: opts, repo: repo, masker: diff.NewMasker(), trees: map[string]string{}}
	defer r.cleanup()
	var err error
	if r.base, err = repo.Resolve(opts.Base); err != nil {
		return nil, err
	}
	if r.head, err = repo.Resolve(opts.Head); err != nil {
		return nil, err
	}
	changed, err := repo.ChangedFiles(ctx, r.base, r.head)
	if err != nil {
		return nil, err
	}
	if r.headApps, err = findApps(repo, r.head, opts.AppsFile); err != nil {
		return nil, err
	}
	if r.baseApps, err = findApps(repo, r.base, opts.AppsFile); err != nil {
		return nil, fmt.Errorf("at --base: %w", err)
	}
	r.rep = &Report{Base: r.base, Head: r.head}
	names := map[string]bool{}
	for n := range r.headApps {
		names[n] = true
	}
	for n := range r.baseApps {
		names[n] = true
	}
	if len(changed) > 0 && len(names) > 0 {
		for _, c := range []string{r.base, r.head} {
			if err := r.checkout(ctx, c); err != nil {
				return nil, err
			}
		}
	}
	r.allowHosts()
	for _, name := range byDependencies(slices.Sorted(maps.Keys(names)), r.headApps, r.baseApps) {
		b, h := r.baseApps[name], r.headApps[name]
		switch {
		case !fromRepo(opts.RepoURL, b, h):
			r.rep.OtherRepos++
		case len(changed) == 0 || !affected(b, h, r.trees[r.base], r.trees[r.head], changed):
			r.rep.Unaffected++
		default:
			r.rep.Apps = append(r.rep.Apps, r.app(ctx, name, b, h))
		}
	}
	return r.rep, nil
}

// app previews one affected App: both renders, their diff (hooks
// included, marked with their phase) and, with a cluster, head's plan
// against it.
func (r *run) app(ctx context.Context, name string, b, h *foundApp) App {
	cur := h
	if cur == nil {
		cur = b
	}
	ap := App{Name: name, Path: apps.SourcePath(&cur.app)}
	var base, head side
	var err error
	if b != nil {
		base, err = r.render(ctx, r.trees[r.base], &b.app)
		ap.BaseCharts = base.charts
		if err != nil && !errors.Is(err, errNoPath) {
			ap.BaseError = r.masker.Scrub(err.Error())
		}
	}
	if h != nil {
		head, err = r.render(ctx, r.trees[r.head], &h.app)
		ap.HeadCharts, ap.Warnings = head.charts, head.warnings
		if err != nil {
			ap.HeadError = r.masker.Scrub(err.Error())
		}
	}
	if ap.Failed() {
		return ap
	}
	hooks := map[resource.Ref]string{} // by the identity all() gives a hook
	for _, sd := range []side{base, head} {
		for _, hk := range sd.hooks {
			ref := resource.RefOf(hk.Object)
			if ref.Name == "" {
				ref.Name = hk.Object.GetGenerateName()
			}
			hooks[ref] = hk.Origin.Hook
		}
	}
	ap.Report = diff.Objects(base.all(), head.all(), diff.Options{Normalize: r.opts.Normalize, Masker: r.masker, From: "base", To: "head",
		Hook: func(u *unstructured.Unstructured) string { return hooks[resource.RefOf(u)] }})
	if r.opts.Live != nil && h != nil {
		live, err := r.live(ctx, &h.app, head)
		if err != nil {
			ap.LiveError = r.masker.Scrub(err.Error())
		} else {
			ap.Live = &live
		}
	}
	return ap
}

// side is one revision's render of an App.
type side struct {
	objects  []*unstructured.Unstructured
	hooks    []render.Object
	charts   []string // name@version/digest of each chart fetched
	warnings []string
}

// all is the side's objects and hooks; a hook named by generateName is
// compared under that prefix (each sync makes a new object of it).
func (sd side) all() []*unstructured.Unstructured {
	out := append([]*unstructured.Unstructured{}, sd.objects...)
	for _, h := range sd.hooks {
		u := h.Object
		if u.GetName() == "" {
			u = u.DeepCopy()
			u.SetName(u.GetGenerateName())
		}
		out = append(out, u)
	}
	return out
}

// live plans head's render against the cluster, as plumb diff does.
func (r *run) live(ctx context.Context, app *v1alpha1.App, head side) (diff.Report, error) {
	a, err := sync.NewApplier(r.opts.Live, sync.ApplierOptions{App: app.Name, InventoryNamespace: r.opts.InventoryNamespace})
	if err != nil {
		return diff.Report{}, err
	}
	hooks := make([]*unstructured.Unstructured, len(head.hooks))
	for i, h := range head.hooks {
		hooks[i] = h.Object
	}
	return a.Diff(ctx, head.objects, sync.DiffOptions{
		Prune: true,
		Hooks: hooks,
		Diff:  diff.Options{Ignore: apps.IgnoreRules(app), Masker: r.masker, Normalize: r.opts.Normalize},
	})
}

var errNoPath = errors.New("the App's path does not exist at this revision")

// render renders app in the export at root, with the sandbox closed, and
// names the charts it fetched.
func (r *run) render(ctx context.Context, root string, app *v1alpha1.App) (side, error) {
	r.rep.Renders++
	if st, err := os.Stat(filepath.Join(root, apps.SourcePath(app))); err != nil || !st.IsDir() {
		return side{}, errNoPath
	}
	src, opts := apps.Source(root, app), renderOptions(app)
	resolved, err := apps.PrepareCharts(ctx, src, &opts, apps.ChartRef(app), r.opts.Charts)
	var sd side
	for _, c := range resolved {
		sd.charts = append(sd.charts, c.Revision())
	}
	if err != nil {
		return sd, err
	}
	var rr apps.Renderer = apps.InProcess{}
	if r.opts.Renderer != nil {
		rr = r.opts.Renderer
	}
	rendered, err := apps.Render(ctx, rr, src, opts, false)
	if err != nil {
		return sd, err
	}
	sd.objects, sd.hooks, sd.warnings = rendered.Objects, rendered.Hooks, rendered.Warnings
	return sd, nil
}

// renderOptions are the App's render options with the sandbox closed: a
// pull request can edit its own App manifest, so it may not turn on remote
// Kustomize bases or the Kustomize Helm generator (which runs helm outside
// the confined filesystem) in CI.
func renderOptions(app *v1alpha1.App) render.Options {
	opts := apps.RenderOptions(app)
	opts.Kustomize = render.KustomizeOptions{}
	return opts
}

// allowHosts confines chart fetching to the repository hosts the base
// revision's Apps use (their charts, their charts' dependencies) and
// the options' ChartHosts.
func (r *run) allowHosts() {
	if r.opts.Charts == nil {
		return
	}
	ch := *r.opts.Charts
	ch.Hosts = map[string]bool{}
	for _, h := range r.opts.ChartHosts {
		ch.Hosts[h] = true
	}
	for _, b := range r.baseApps {
		for _, h := range apps.ChartHosts(apps.Source(r.trees[r.base], &b.app), &b.app) {
			ch.Hosts[h] = true
		}
	}
	r.opts.Charts = &ch
}

// checkout exports commit once into a temporary directory.
func (r *run) checkout(ctx context.Context, commit string) error {
	if _, ok := r.trees[commit]; ok {
		return nil
	}
	dir, err := os.MkdirTemp("", "plumb-preview-")
	if err != nil {
		return err
	}
	r.trees[commit] = dir
	return r.repo.Export(ctx, commit, dir, r.opts.MaxExportBytes)
}

func (r *run) cleanup() {
	for _, dir := range r.trees {
		os.RemoveAll(dir)
	}
}
