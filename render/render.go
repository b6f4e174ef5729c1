package render

import (
	"context"
	"errors"
	"fmt"
	"path"
	"path/filepath"
	"runtime/debug"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// ErrEmptyRender means the source rendered no objects at all. Sync refuses
// to prune on it: an empty result is far more often a mistake (a wrong path,
// a values file that disabled everything) than an intent.
var ErrEmptyRender = errors.New("render produced no objects")

// Renderer selects how a directory is turned into objects.
type Renderer string

// Renderers. Auto detects: a kustomization file means Kustomize, Chart.yaml
// means Helm, anything else is a plain directory of manifests.
const (
	Auto      Renderer = ""
	Plain     Renderer = "plain"
	Kustomize Renderer = "kustomize"
	Helm      Renderer = "helm"
)

// Source is a directory inside a checkout.
type Source struct {
	// Root is the checkout on disk; nothing outside it is ever read.
	Root string
	// Path is the slash-separated directory inside Root ("" or "." for Root).
	Path string
}

// dir is Path cleaned and slash-separated, "." for the root; a path that
// leaves the root is refused.
func (s Source) dir() (string, error) {
	p := path.Clean(filepath.ToSlash(s.Path))
	if path.IsAbs(p) {
		p = strings.TrimPrefix(p, "/")
	}
	if p == ".." || strings.HasPrefix(p, "../") {
		return "", fmt.Errorf("%s: %w", s.Path, ErrOutsideRepository)
	}
	if p == "" {
		p = "."
	}
	return p, nil
}

// Options control a render. The zero value renders with auto-detection and
// the default limits.
type Options struct {
	Renderer Renderer
	// Namespace is given to namespaced objects that name none, and is the
	// Helm release namespace.
	Namespace string
	// Mapper, when a cluster is at hand, decides which kinds are namespaced.
	// Without it the built-in cluster-scoped kinds and the CRDs of the same
	// render decide, and unknown kinds count as namespaced.
	Mapper Mapper

	Plain     PlainOptions
	Helm      HelmOptions
	Kustomize KustomizeOptions
	Limits    Limits
	// Capabilities return the target cluster's, for Helm's .Capabilities;
	// only a Helm render calls it (it may ask the cluster). Nil renders
	// offline (see DefaultKubeVersion). The Helm options' pins win.
	Capabilities func() (*Capabilities, error)
	// Cache, if set, keeps converted documents for the next render (a
	// controller's; one-shot renders need none).
	Cache *Cache
}

// Mapper is the part of a meta.RESTMapper that render uses.
type Mapper interface {
	RESTMapping(gk schema.GroupKind, versions ...string) (*meta.RESTMapping, error)
}

// PlainOptions select files of a plain directory.
type PlainOptions struct {
	// Recursive includes subdirectories.
	Recursive bool
	// Include and Exclude are path.Match globs tested against each file's
	// path relative to the source directory and against its base name.
	// Include defaults to *.yaml, *.yml and *.json.
	Include, Exclude []string
}

// Limits cap what one render may consume. Zero fields take the defaults.
type Limits struct {
	MaxFileBytes  int64         // default 16 MiB
	MaxTotalBytes int64         // default 64 MiB
	MaxObjects    int           // default 10,000
	Timeout       time.Duration // default 2 minutes
	// MaxOutputBytes caps what a Helm chart renders, before it is decoded
	// (default 128 MiB).
	MaxOutputBytes int64
}

// DefaultLimits are the caps used for zero Limits fields.
var defaultLimits = Limits{
	MaxFileBytes:   16 << 20,
	MaxTotalBytes:  64 << 20,
	MaxObjects:     10000,
	Timeout:        2 * time.Minute,
	MaxOutputBytes: 128 << 20,
}

// WithDefaults is l with the default of every zero field.
func (l Limits) WithDefaults() Limits {
	if l.MaxFileBytes <= 0 {
		l.MaxFileBytes = defaultLimits.MaxFileBytes
	}
	if l.MaxTotalBytes <= 0 {
		l.MaxTotalBytes = defaultLimits.MaxTotalBytes
	}
	if l.MaxObjects <= 0 {
		l.MaxObjects = defaultLimits.MaxObjects
	}
	if l.Timeout <= 0 {
		l.Timeout = defaultLimits.Timeout
	}
	if l.MaxOutputBytes <= 0 {
		l.MaxOutputBytes = defaultLimits.MaxOutputBytes
	}
	return l
}

// Origin says where an object came from.
type Origin struct {
	// File is the repository-relative file of a plain or Kustomize object
	// (Kustomize reports the kustomization directory), and Index the
	// document's index in it.
	File  string `json:"file,omitempty"`
	Index int    `json:"index,omitempty"`
	// Template is the chart template of a Helm object, e.g.
	// "guestbook/templates/deployment.yaml".
	Template string `json:"template,omitempty"`
	// Hook lists the Helm hook events of a hook object.
	Hook string `json:"hook,omitempty"`
}

func (o Origin) String() string {
	s := o.Template
	if s == "" {
		s = fmt.Sprintf("%s#%d", o.File, o.Index)
	}
	if o.Hook != "" {
		s += " (hook: " + o.Hook + ")"
	}
	return s
}

// Object is one rendered object and where it came from.
type Object struct {
	Object *unstructured.Unstructured
	Origin Origin
}

// Result is a render's output in a deterministic order: plain files in path
// order and documents in file order; Kustomize and Helm in the order those
// tools emit.
type Result struct {
	Renderer Renderer
	Objects  []Object
	// Hooks are Helm hooks (never Helm tests) and objects carrying Argo CD's
	// hook annotation, kept apart because they are not part of the desired
	// state that sync keeps in step. A hook may use generateName.
	Hooks []Object
	// Warnings say what the render did not do with its input (a chart's
	// lookup calls, which return nothing here).
	Warnings []string
}

// openSource opens the checkout of src (opts.Limits already defaulted) and
// returns src's directory in it and the renderer in effect for it.
func openSource(src Source, opts Options) (cfs *checkoutFS, dir string, kind Renderer, err error) {
	if dir, err = src.dir(); err != nil {
		return nil, "", "", err
	}
	if cfs, err = openCheckout(src.Root, opts.Limits); err != nil {
		return nil, "", "", err
	}
	kind = opts.Renderer
	switch {
	case kind == Auto && opts.Helm.Chart != nil:
		kind = Helm // a chart from a repository, values from the source
	case kind == Auto:
		kind = detect(cfs, dir)
	}
	return cfs, dir, kind, nil
}

// Render turns src into objects. Nothing outside src.Root is read; see
// Limits for the caps. An empty result is ErrEmptyRender.
func Render(ctx context.Context, src Source, opts Options) (*Result, error) {
	res, err := Raw(ctx, src, opts)
	if err != nil {
		return nil, err
	}
	return res, Finish(res, src, opts)
}

// Raw runs the renderer of src and returns its objects as it made them,
// before Finish checks them: the part of Render that runs third-party code
// on the repository's content, which a sandboxed worker runs apart.
func Raw(ctx context.Context, src Source, opts Options) (*Result, error) {
	res, err := raw(ctx, src, opts)
	if err != nil {
		return nil, scrubRenderError(src, opts, err)
	}
	return res, nil
}

func raw(ctx context.Context, src Source, opts Options) (*Result, error) {
	opts.Limits = opts.Limits.WithDefaults()
	cfs, dir, kind, err := openSource(src, opts)
	if err != nil {
		return nil, err
	}
	defer cfs.Close()
	st, err := cfs.stat(dir)
	if err != nil {
		return nil, err
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("%s: not a directory", dir)
	}

	ctx, cancel := context.WithTimeout(ctx, opts.Limits.Timeout)
	defer cancel()
	type outcome struct {
		res *Result
		err error
	}
	done := make(chan outcome, 1)
	// Renderers run third-party code that takes no context (Kustomize) or
	// may panic on hostile input (both). Run it apart: a panic becomes an
	// error and a render that overruns its timeout is abandoned (in the
	// sandbox's worker process, the process ends with it).
	go func() {
		defer func() {
			if p := recover(); p != nil {
				done <- outcome{err: fmt.Errorf("%s: %s renderer panicked: %v\n%s", dir, kind, p, firstFrames(debug.Stack()))}
			}
		}()
		var o outcome
		switch kind {
		case Plain:
			o.res, o.err = renderPlain(cfs, dir, opts)
		case Kustomize:
			o.res, o.err = renderKustomize(cfs, dir, opts)
		case Helm:
			o.res, o.err = renderHelm(ctx, cfs, dir, opts)
		default:
			o.err = fmt.Errorf("unknown renderer %q (want plain, kustomize or helm)", kind)
		}
		done <- o
	}()
	select {
	case o := <-done:
		if o.err != nil {
			return nil, o.err
		}
		o.res.Renderer = kind
		return o.res, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("%s: render: %w (limit %s)", dir, ctx.Err(), opts.Limits.Timeout)
	}
}

func firstFrames(stack []byte) string {
	lines := strings.Split(string(stack), "\n")
	if len(lines) > 16 {
		lines = lines[:16]
	}
	return strings.Join(lines, "\n")
}

func detect(cfs *checkoutFS, dir string) Renderer {
	for _, name := range kustomizationFiles {
		if st, err := cfs.stat(path.Join(dir, name)); err == nil && !st.IsDir() {
			return Kustomize
		}
	}
	if st, err := cfs.stat(path.Join(dir, "Chart.yaml")); err == nil && !st.IsDir() {
		return Helm
	}
	return Plain
}

// Hook annotations: Argo CD's resource hooks (PreSync, Sync, ...) and
// Helm's, which Argo CD also reads on plain manifests.
const (
	ArgoHookAnnotation = "argocd.argoproj.io/hook"
	HelmHookAnnotation = "helm.sh/hook"
)

// separateHooks moves objects that carry a hook annotation from Objects to
// Hooks, as Argo CD treats a repository written for it. A chart's own
// hooks are apart already (Helm takes them out); "crd-install", Helm 2's
// hook for CRDs that Helm 3 no longer knows, stays an object: a CRD.
func separateHooks(res *Result) {
	kept := res.Objects[:0]
	for _, o := range res.Objects {
		ann := o.Object.GetAnnotations()
		hook, ok := ann[ArgoHookAnnotation]
		if !ok {
			hook, ok = ann[HelmHookAnnotation]
			ok = ok && !strings.Contains(hook, "crd-install")
		}
		if ok {
			o.Origin.Hook = hook
			res.Hooks = append(res.Hooks, o)
			continue
		}
		kept = append(kept, o)
	}
	res.Objects = kept
}

func validate(o Object, hook bool) error {
	u := o.Object
	if name, ok, _ := unstructured.NestedFieldNoCopy(u.Object, "metadata", "name"); ok {
		if _, isString := name.(string); !isString {
			return fmt.Errorf("%s: %s: metadata.name is not a string (YAML reads %v as %T; quote it)", o.Origin, u.GetKind(), name, name)
		}
	}
	var missing []string
	if u.GetAPIVersion() == "" {
		missing = append(missing, "apiVersion")
	}
	if u.GetKind() == "" {
		missing = append(missing, "kind")
	}
	if u.GetName() == "" && (!hook || u.GetGenerateName() == "") {
		missing = append(missing, "metadata.name")
	}
	if len(missing) > 0 {
		what := u.GetKind()
		if what == "" {
			what = "object"
		}
		if u.GetName() != "" {
			what += " " + u.GetName()
		}
		return fmt.Errorf("%s: %s has no %s", o.Origin, what, strings.Join(missing, ", "))
	}
	if _, err := schema.ParseGroupVersion(u.GetAPIVersion()); err != nil {
		return fmt.Errorf("%s: %s %s: apiVersion: %w", o.Origin, u.GetKind(), u.GetName(), err)
	}
	return nil
}
