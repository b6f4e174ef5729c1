package sandbox

import (
	"encoding/json"
	"testing"

	"github.com/plumbhq/plumb/render"
)

// FuzzWorkerResponse: a worker runs a hostile repository's render, so its
// answer is untrusted too. Whatever bytes it writes, the caller decodes
// them to a result or an error, never a panic; a result's objects are
// mappings, and Finish checks them as it checks any render.
func FuzzWorkerResponse(f *testing.F) {
	good, _ := json.Marshal(response{Renderer: render.Plain, Objects: []object{{
		Object: json.RawMessage(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a"}}`), Origin: render.Origin{File: "a.yaml"},
	}}})
	for _, seed := range [][]byte{good, []byte(`{"error":"x","code":"limit"}`), []byte(`{"objects":[{"object":[1,2]}]}`),
		[]byte(`{"objects":[{"object":null}]}`), []byte(`{"hooks":[{"object":{"kind":1}}]}`), []byte(`null`), {}} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, out []byte) {
		var resp response
		if err := json.Unmarshal(out, &resp); err != nil {
			return
		}
		res, err := resp.result()
		if err != nil {
			return
		}
		for _, o := range append(res.Objects, res.Hooks...) {
			if o.Object == nil {
				t.Fatalf("a nil object from %q", out)
			}
		}
		_ = render.Finish(res, render.Source{Root: t.TempDir()}, render.Options{})
	})
}

// FuzzWorkerRequest: the worker decodes any request to options or refuses
// it, never panicking before it has confined itself.
func FuzzWorkerRequest(f *testing.F) {
	good, _ := json.Marshal(request{Version: protocolVersion, Source: render.Source{Root: "/r"}, Helm: helmOptions{Chart: &archive{Name: "c.tgz", Data: []byte{1}}}})
	f.Add(good)
	f.Add([]byte(`{"version":1,"helm":{"values":{"a":[1,{"b":null}]}},"capabilities":true}`))
	f.Fuzz(func(t *testing.T, in []byte) {
		var req request
		if err := json.Unmarshal(in, &req); err != nil {
			return
		}
		opts := req.options()
		if opts.Capabilities != nil {
			if _, err := opts.Capabilities(); err != nil {
				t.Fatal(err)
			}
		}
	})
}
