package sandbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"

	"golang.org/x/sync/errgroup"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utiljson "k8s.io/apimachinery/pkg/util/json"

	"github.com/plumbhq/plumb/render"
)

// protocolVersion changes when request or response change shape; a worker
// refuses a request of another version (a stale binary, say).
const protocolVersion = 1

// request is what a worker renders: everything a render reads but the
// files, which it reads from Source.Root itself.
type request struct {
	Version     int                     `json:"version"`
	Source      render.Source           `json:"source"`
	Renderer    render.Renderer         `json:"renderer,omitempty"`
	Namespace   string                  `json:"namespace,omitempty"`
	Plain       render.PlainOptions     `json:"plain"`
	Helm        helmOptions             `json:"helm"`
	Kustomize   render.KustomizeOptions `json:"kustomize"`
	Limits      render.Limits           `json:"limits"`
	Worker      Limits                  `json:"worker"`
	KubeVersion string                  `json:"kubeVersion,omitempty"`
	APIVersions []string                `json:"apiVersions,omitempty"`
	// Capabilities says KubeVersion and APIVersions are the cluster's.
	Capabilities bool `json:"capabilities,omitempty"`
}

// helmOptions is render.HelmOptions on the wire: archives travel as bytes
// (their unpacked files are the caller's cache, not the worker's).
type helmOptions struct {
	ReleaseName  string         `json:"releaseName,omitempty"`
	ValueFiles   []string       `json:"valueFiles,omitempty"`
	Values       map[string]any `json:"values,omitempty"`
	Set          []string       `json:"set,omitempty"`
	SetString    []string       `json:"setString,omitempty"`
	KubeVersion  string         `json:"kubeVersion,omitempty"`
	APIVersions  []string       `json:"apiVersions,omitempty"`
	SkipCRDs     bool           `json:"skipCRDs,omitempty"`
	Chart        *archive       `json:"chart,omitempty"`
	Dependencies []archive      `json:"dependencies,omitempty"`
}

type archive struct {
	Name string `json:"name"`
	Data []byte `json:"data"`
}

// response is a worker's answer: a result, or an error and its kind.
type response struct {
	Renderer render.Renderer `json:"renderer,omitempty"`
	Objects  []object        `json:"objects,omitempty"`
	Hooks    []object        `json:"hooks,omitempty"`
	Warnings []string        `json:"warnings,omitempty"`
	Error    string          `json:"error,omitempty"`
	// Code keeps render's sentinel errors across the process boundary.
	Code string `json:"code,omitempty"`
}

type object struct {
	Object json.RawMessage `json:"object"`
	Origin render.Origin   `json:"origin"`
}

// Codes of the sentinel errors a response carries.
var codes = map[string]error{
	"limit":   render.ErrLimit,
	"outside": render.ErrOutsideRepository,
	"empty":   render.ErrEmptyRender,
	"timeout": context.DeadlineExceeded,
}

// newRequest is the request for a render of src with opts, whose
// capabilities are resolved already (render.ResolveCapabilities).
func newRequest(src render.Source, opts render.Options, limits Limits) (*request, error) {
	h := opts.Helm
	req := &request{
		Version: protocolVersion, Source: src, Renderer: opts.Renderer, Namespace: opts.Namespace,
		Plain: opts.Plain, Kustomize: opts.Kustomize, Limits: opts.Limits, Worker: limits,
		Helm: helmOptions{
			ReleaseName: h.ReleaseName, ValueFiles: h.ValueFiles, Values: h.Values, Set: h.Set, SetString: h.SetString,
			KubeVersion: h.KubeVersion, APIVersions: h.APIVersions, SkipCRDs: h.SkipCRDs,
		},
	}
	if h.Chart != nil {
		req.Helm.Chart = &archive{Name: h.Chart.Name, Data: h.Chart.Data}
	}
	for _, d := range h.Dependencies {
		req.Helm.Dependencies = append(req.Helm.Dependencies, archive{Name: d.Name, Data: d.Data})
	}
	if opts.Capabilities != nil {
		c, err := opts.Capabilities()
		if err != nil {
			return nil, err
		}
		if c != nil {
			req.Capabilities, req.KubeVersion, req.APIVersions = true, c.KubeVersion, c.APIVersions
		}
	}
	return req, nil
}

// options are the render options of a request, in the worker.
func (r *request) options() render.Options {
	h := r.Helm
	opts := render.Options{
		Renderer: r.Renderer, Namespace: r.Namespace, Plain: r.Plain, Kustomize: r.Kustomize, Limits: r.Limits,
		Helm: render.HelmOptions{
			ReleaseName: h.ReleaseName, ValueFiles: h.ValueFiles, Values: h.Values, Set: h.Set, SetString: h.SetString,
			KubeVersion: h.KubeVersion, APIVersions: h.APIVersions, SkipCRDs: h.SkipCRDs,
		},
	}
	if h.Chart != nil {
		opts.Helm.Chart = &render.ChartArchive{Name: h.Chart.Name, Data: h.Chart.Data}
	}
	for _, d := range h.Dependencies {
		opts.Helm.Dependencies = append(opts.Helm.Dependencies, render.ChartArchive{Name: d.Name, Data: d.Data})
	}
	if r.Capabilities {
		c := &render.Capabilities{KubeVersion: r.KubeVersion, APIVersions: r.APIVersions}
		opts.Capabilities = func() (*render.Capabilities, error) { return c, nil }
	}
	return opts
}

// newResponse encodes a render's outcome.
func newResponse(res *render.Result, err error) (*response, error) {
	if err != nil {
		resp := &response{Error: err.Error()}
		for code, sentinel := range codes {
			if errors.Is(err, sentinel) {
				resp.Code = code
			}
		}
		return resp, nil
	}
	resp := &response{Renderer: res.Renderer, Warnings: res.Warnings}
	var e error
	if resp.Objects, e = encodeObjects(res.Objects); e != nil {
		return nil, e
	}
	if resp.Hooks, e = encodeObjects(res.Hooks); e != nil {
		return nil, e
	}
	return resp, nil
}

// encodeObjects encodes each object on its own, on every core: a big
// chart's objects are most of a worker's answer.
func encodeObjects(objs []render.Object) ([]object, error) {
	out := make([]object, len(objs))
	err := parallel(len(objs), func(i int) error {
		raw, err := json.Marshal(objs[i].Object.Object)
		if err != nil {
			return fmt.Errorf("%s: encode: %w", objs[i].Origin, err)
		}
		out[i] = object{Object: raw, Origin: objs[i].Origin}
		return nil
	})
	return out, err
}

// parallel runs fn for 0..n-1 on GOMAXPROCS goroutines and returns the
// first error.
func parallel(n int, fn func(i int) error) error {
	var g errgroup.Group
	g.SetLimit(runtime.GOMAXPROCS(0))
	for i := range n {
		g.Go(func() error { return fn(i) })
	}
	return g.Wait()
}

// result decodes a response: the worker's result, or its error with the
// sentinel it wraps.
func (r *response) result() (*render.Result, error) {
	if r.Error != "" {
		if sentinel, ok := codes[r.Code]; ok {
			return nil, &workerError{msg: r.Error, sentinel: sentinel}
		}
		return nil, errors.New(r.Error)
	}
	res := &render.Result{Renderer: r.Renderer, Warnings: r.Warnings}
	var err error
	if res.Objects, err = decodeObjects(r.Objects); err != nil {
		return nil, err
	}
	if res.Hooks, err = decodeObjects(r.Hooks); err != nil {
		return nil, err
	}
	return res, nil
}

// decodeObjects decodes as the API machinery does (integers stay int64).
func decodeObjects(objs []object) ([]render.Object, error) {
	if len(objs) == 0 {
		return nil, nil
	}
	out := make([]render.Object, len(objs))
	err := parallel(len(objs), func(i int) error {
		u := &unstructured.Unstructured{}
		if err := utiljson.Unmarshal(objs[i].Object, &u.Object); err != nil {
			return fmt.Errorf("%s: render worker: decode: %w", objs[i].Origin, err)
		}
		if u.Object == nil {
			return fmt.Errorf("%s: render worker: an object that is null", objs[i].Origin)
		}
		out[i] = render.Object{Object: u, Origin: objs[i].Origin}
		return nil
	})
	return out, err
}

// workerError is a worker's error message wrapping one of render's
// sentinel errors, so that errors.Is holds across the process boundary.
type workerError struct {
	msg      string
	sentinel error
}

func (e *workerError) Error() string { return e.msg }
func (e *workerError) Unwrap() error { return e.sentinel }
