package sandbox

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/plumbhq/plumb/render"
)

// run hands req to a worker and reads its response within the limits: the
// time limit, the output cap, and the worker's own limits, whose breach is
// named from how the worker ended.
func (s *Sandbox) run(ctx context.Context, req *request, timeout time.Duration) (*response, error) {
	body, err := json.Marshal(req)
	if err != nil {
		return nil, fmt.Errorf("render worker: encode request: %w", err)
	}
	w, err := s.worker(confineFS(req.options()))
	if err != nil {
		return nil, err
	}
	if s.spares != nil {
		// The next spare starts once this render is done, not beside it.
		defer func() { go s.refill() }()
	}
	// The worker stops its render at timeout; a render that does not stop
	// (Kustomize takes no context) is killed a moment later, as is one whose
	// caller gave up.
	var timedOut atomic.Bool
	timer := time.AfterFunc(timeout+time.Second, func() { timedOut.Store(true); _ = killGroup(w.Cmd) })
	defer timer.Stop()
	stop := context.AfterFunc(ctx, func() { _ = killGroup(w.Cmd) })
	defer stop()
	go func() { // a worker that does not read its request is killed by the timer
		_, _ = w.stdin.Write(body)
		_ = w.stdin.Close()
	}()
	out, readErr := io.ReadAll(io.LimitReader(w.stdout, req.Worker.Output+1))
	over := int64(len(out)) > req.Worker.Output
	if over {
		_ = killGroup(w.Cmd)
	}
	waitErr := w.Wait()
	switch {
	case ctx.Err() != nil:
		return nil, ctx.Err()
	case timedOut.Load():
		return nil, limitErr("render exceeded its %s time limit: the worker was stopped", timeout)
	case over:
		return nil, limitErr("render output exceeded %s", mib(req.Worker.Output))
	case waitErr != nil:
		return nil, s.failure(w, req.Worker, waitErr)
	case readErr != nil:
		return nil, fmt.Errorf("render worker: read response: %w", readErr)
	}
	var resp response
	if err := json.Unmarshal(out, &resp); err != nil {
		return nil, fmt.Errorf("render worker: response: %w", err)
	}
	return &resp, nil
}

// worker is a started worker process, waiting for its request.
type worker struct {
	*exec.Cmd
	stdin  io.WriteCloser
	stdout io.Reader
	stderr *tail
}

// worker returns a worker for one render: a spare started ahead, when the
// render is confined (a spare has no PATH and its own network), else a new
// one.
func (s *Sandbox) worker(confined bool) (*worker, error) {
	if s.spares != nil && confined {
		select {
		case w := <-s.spares:
			return w, nil
		default:
		}
	}
	return s.start(confined, false)
}

// refill starts a spare worker, unless enough wait already.
func (s *Sandbox) refill() {
	w, err := s.start(true, true)
	if err != nil {
		return // the next render starts its own, and reports the error
	}
	select {
	case s.spares <- w:
	default:
		_ = killGroup(w.Cmd)
		_ = w.Wait()
	}
}

// Prestart starts the spare workers now rather than at the first render.
func (s *Sandbox) Prestart() {
	for range cap(s.spares) {
		go s.refill()
	}
}

// Close stops the spare workers.
func (s *Sandbox) Close() {
	if s.spares == nil {
		return
	}
	for {
		select {
		case w := <-s.spares:
			_ = killGroup(w.Cmd)
			_ = w.Wait()
		default:
			return
		}
	}
}

// start starts a worker: no environment but its marker, working directory
// "/", its own process group (killed whole), new user and network
// namespaces where the system allows them. A spare (warm) first warms
// its renderers. A worker waits for its request on stdin and exits when
// stdin closes unread (its parent died).
func (s *Sandbox) start(confined, warm bool) (*worker, error) {
	for {
		cmd := exec.Command(s.exe)
		cmd.Env = []string{workerEnv + "=" + fmt.Sprint(protocolVersion)}
		if warm {
			cmd.Env = append(cmd.Env, warmEnv+"=1")
		}
		if !confined {
			cmd.Env = append(cmd.Env, "PATH="+os.Getenv("PATH")) // Kustomize runs helm
		}
		cmd.Dir = "/"
		w := &worker{Cmd: cmd, stderr: &tail{}}
		cmd.Stderr = w.stderr
		var err error
		if w.stdin, err = cmd.StdinPipe(); err != nil {
			return nil, err
		}
		if w.stdout, err = cmd.StdoutPipe(); err != nil {
			return nil, err
		}
		netns := !s.noNetNS.Load() && confined
		cmd.SysProcAttr = sysProcAttr(netns)
		cmd.WaitDelay = time.Second
		err = cmd.Start()
		if err != nil && netns && namespacesRefused(err) {
			s.noNetNS.Store(true)
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("render worker: start %s: %w", s.exe, err)
		}
		return w, nil
	}
}

// failure names why a worker ended without a response.
func (s *Sandbox) failure(w *worker, lim Limits, err error) error {
	fatal := w.stderr.fatal()
	switch {
	case outOfMemory(fatal):
		return limitErr("render exceeded %s of memory: the worker was stopped", mib(lim.Memory))
	case strings.Contains(fatal, "stack overflow") || strings.Contains(fatal, "stack exceeds"):
		return limitErr("render exceeded the %s stack limit (a template or value that includes itself without end?)", mib(min(lim.Memory/4, maxStack)))
	case cpuTime(w.ProcessState) >= lim.CPU:
		return limitErr("render exceeded %s of CPU time: the worker was stopped", lim.CPU)
	case peakRSS(w.ProcessState) >= lim.Memory*4/10:
		// Died near its memory limit in a way Go did not call out of memory:
		// a thread or C allocation that failed (in a test binary, which links
		// cgo, a crash at an "unknown pc"). A heap grown past 40 % of the
		// limit is a request for more than the rest.
		return limitErr("render exceeded %s of memory: the worker was stopped", mib(lim.Memory))
	case fatal != "":
		return fmt.Errorf("render worker failed (%v): %s", err, fatal)
	}
	return fmt.Errorf("render worker failed: %w", err)
}

// limitErr is a limit a worker hit: its message, and render.ErrLimit to
// errors.Is.
func limitErr(format string, args ...any) error {
	return &workerError{msg: fmt.Sprintf(format, args...), sentinel: render.ErrLimit}
}

// outOfMemory says a Go fatal error is the memory limit: an allocation, or
// a thread whose stack could not be mapped (ENOMEM, errno 12).
func outOfMemory(fatal string) bool {
	for _, s := range []string{"out of memory", "cannot allocate memory", "errno=12", "newosproc"} {
		if strings.Contains(fatal, s) {
			return true
		}
	}
	return false
}

// peakRSS is the largest resident size a worker reached, in bytes.
func peakRSS(ps *os.ProcessState) int64 {
	if ps == nil {
		return 0
	}
	if ru, ok := ps.SysUsage().(*syscall.Rusage); ok {
		return int64(ru.Maxrss) << 10 // kilobytes on Linux
	}
	return 0
}

func cpuTime(ps *os.ProcessState) time.Duration {
	if ps == nil {
		return 0
	}
	return ps.UserTime() + ps.SystemTime()
}

// tail keeps what names a worker's death from its stderr: the first line
// of a Go fatal error or of the worker's own error, and nothing else (a
// stack trace may quote the repository's content).
type tail struct {
	line  bytes.Buffer // the line being written
	first string
}

func (t *tail) Write(p []byte) (int, error) {
	for _, b := range p {
		if b != '\n' {
			if t.line.Len() < 512 {
				t.line.WriteByte(b)
			}
			continue
		}
		l := t.line.String()
		t.line.Reset()
		if t.first == "" && (strings.HasPrefix(l, "fatal error:") || strings.HasPrefix(l, "runtime: ") ||
			strings.HasPrefix(l, "plumb render worker:")) {
			t.first = l
		}
	}
	return len(p), nil
}

// fatal is the line that says why the worker died, "" if none did.
func (t *tail) fatal() string { return t.first }
