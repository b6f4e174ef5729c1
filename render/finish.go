package render

import (
	"fmt"
	"path/filepath"

	"github.com/plumbhq/plumb/resource"
)

// Finish checks a Raw result and completes it: the object cap, hooks apart
// from objects, each object valid, default namespaces, no identity twice.
// An empty result is ErrEmptyRender (res stays usable).
func Finish(res *Result, src Source, opts Options) error {
	opts.Limits = opts.Limits.WithDefaults()
	if err := finish(res, opts); err != nil {
		return err
	}
	if len(res.Objects) == 0 {
		name, _ := src.dir()
		if abs, err := filepath.Abs(src.Root); err == nil && (name == "." || name == "") {
			name = filepath.Base(abs)
		}
		return fmt.Errorf("%s: %w", name, ErrEmptyRender)
	}
	return nil
}

// Detect is the renderer in effect for src: opts.Renderer, else what the
// directory holds.
func Detect(src Source, opts Options) (Renderer, error) {
	opts.Limits = opts.Limits.WithDefaults()
	cfs, _, kind, err := openSource(src, opts)
	if err != nil {
		return "", err
	}
	cfs.Close()
	return kind, nil
}

// ResolveCapabilities returns opts with the cluster's capabilities asked
// once and fixed (Options.Capabilities then returns them without asking),
// so that a render elsewhere needs no cluster.
func ResolveCapabilities(opts Options) (Options, error) {
	if opts.Capabilities == nil {
		return opts, nil
	}
	v, apis, err := opts.capabilities()
	if err != nil {
		return opts, err
	}
	opts.Helm.KubeVersion, opts.Helm.APIVersions = "", nil
	opts.Capabilities = func() (*Capabilities, error) { return &Capabilities{KubeVersion: v, APIVersions: apis}, nil }
	return opts, nil
}

// finish validates every object, gives namespaced objects the default
// namespace, enforces the object cap and refuses duplicate identities.
func finish(res *Result, opts Options) error {
	if n := len(res.Objects) + len(res.Hooks); n > opts.Limits.MaxObjects {
		return fmt.Errorf("%d objects is over the %d-object limit: %w", n, opts.Limits.MaxObjects, ErrLimit)
	}
	separateHooks(res)
	all := append(append([]Object{}, res.Objects...), res.Hooks...)
	for _, o := range all {
		if err := validate(o, o.Origin.Hook != ""); err != nil {
			return err
		}
	}
	scope := newScope(opts.Mapper, all)
	seen := map[resource.Ref]Origin{}
	for _, list := range [][]Object{res.Objects, res.Hooks} {
		for _, o := range list {
			namespaced := scope.namespaced(o.Object)
			switch {
			case namespaced && o.Object.GetNamespace() == "" && opts.Namespace != "":
				o.Object.SetNamespace(opts.Namespace)
			case !namespaced && o.Object.GetNamespace() != "":
				// The API server ignores it; dropping it keeps identities exact.
				o.Object.SetNamespace("")
			}
			ref := resource.RefOf(o.Object)
			if ref.Name == "" {
				continue // a generateName hook: a new object every time
			}
			if prev, dup := seen[ref]; dup {
				return fmt.Errorf("%s: defined twice: in %s and in %s", ref, prev, o.Origin)
			}
			seen[ref] = o.Origin
		}
	}
	return nil
}
