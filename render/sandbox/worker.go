package sandbox

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"time"

	"github.com/plumbhq/plumb/render"
)

// workerEnv marks a process started as a render worker; the worker clears
// it, so nothing the render starts inherits it.
const workerEnv = "PLUMB_RENDER_WORKER"

// IsWorker says whether this process was started as a render worker: main
// (and the TestMain of a package whose tests render through a Sandbox)
// then calls WorkerMain instead of anything else.
func IsWorker() bool { return os.Getenv(workerEnv) == fmt.Sprint(protocolVersion) }

// WorkerMain is a render worker's whole life: it confines itself, reads
// one request from stdin, renders and writes the response to stdout. It
// returns the process's exit code: 0 whenever a response was written, a
// render error included.
func WorkerMain() int {
	os.Unsetenv(workerEnv)
	if os.Getenv(warmEnv) != "" {
		os.Unsetenv(warmEnv)
		warm()
	}
	if err := serve(os.Stdin, os.Stdout); err != nil {
		fmt.Fprintf(os.Stderr, "plumb render worker: %v\n", err)
		return 3
	}
	return 0
}

func serve(in io.Reader, out io.Writer) error {
	var req request
	// The request comes from the plumb that started this worker, and is
	// read before the limits apply: it holds chart archives and values.
	if err := json.NewDecoder(in).Decode(&req); err != nil {
		return fmt.Errorf("read request: %w", err)
	}
	if req.Version != protocolVersion {
		return fmt.Errorf("request of protocol version %d, this worker speaks %d", req.Version, protocolVersion)
	}
	lim := req.Worker.withDefaults()
	// The Go runtime's own limits: the collector works harder near the
	// memory limit, and a runaway recursion stops at a stack far smaller
	// than the default 1 GB (the worker exits; plumb says why).
	debug.SetMemoryLimit(lim.Memory * 9 / 10)
	debug.SetMaxStack(int(min(lim.Memory/4, maxStack)))
	_ = time.Local.String() // the zone is read now, before the file system closes
	opts := req.options()
	notes, err := confine(req.Source.Root, lim, confineFS(opts))
	if err != nil {
		return err
	}
	res, err := render.Raw(context.Background(), req.Source, opts)
	if res != nil {
		res.Warnings = append(notes, res.Warnings...)
	}
	resp, err := newResponse(res, err)
	if err != nil {
		return err
	}
	body, err := json.Marshal(resp)
	if err != nil {
		return fmt.Errorf("encode response: %w", err)
	}
	if int64(len(body)) > lim.Output {
		body, _ = json.Marshal(&response{
			Error: fmt.Sprintf("render output is %s, over the %s limit", mib(int64(len(body))), mib(lim.Output)),
			Code:  "limit",
		})
	}
	_, err = out.Write(body)
	return err
}

// maxStack caps a goroutine's stack in the worker (Go's default is 1 GB).
const maxStack = 64 << 20

// confineFS says whether the worker may confine its file system and
// network: Kustomize's Helm inflation runs a helm binary that writes a
// temporary directory, and remote bases are fetched, so an App that allows
// them renders with the resource limits only.
func confineFS(opts render.Options) bool {
	return !opts.Kustomize.AllowHelm && !opts.Kustomize.AllowRemote
}

func mib(n int64) string {
	if n%(1<<20) == 0 {
		return fmt.Sprintf("%d MiB", n>>20)
	}
	return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
}
