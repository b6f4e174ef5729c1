package testenv

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"syscall"
	"time"
)

// spawner starts child processes from one OS thread that stays alive for the
// lifetime of the environment. Linux delivers the parent-death signal when the
// *thread* that forked a child exits, and the Go runtime may retire threads,
// so children are forked from a goroutine locked to a thread that never exits
// before the environment is stopped. The effect: if the test binary dies for
// any reason (panic, timeout, SIGKILL), the kernel kills every control plane
// process with it.
type spawner struct {
	reqs chan spawnReq
}

type spawnReq struct {
	cmd  *exec.Cmd
	errc chan error
}

func newSpawner() *spawner {
	s := &spawner{reqs: make(chan spawnReq)}
	go func() {
		runtime.LockOSThread()
		for r := range s.reqs {
			r.errc <- r.cmd.Start()
		}
		// Unlock before returning so the runtime keeps this thread (and the
		// kernel does not signal children that are still being waited on).
		runtime.UnlockOSThread()
	}()
	return s
}

func (s *spawner) start(cmd *exec.Cmd) error {
	errc := make(chan error, 1)
	s.reqs <- spawnReq{cmd: cmd, errc: errc}
	return <-errc
}

func (s *spawner) close() { close(s.reqs) }

// process is one running control plane component.
type process struct {
	name    string
	logPath string
	cmd     *exec.Cmd
	done    chan struct{}
	waitErr error
}

// startProcess runs bin with args in its own process group, with output going
// to <dir>/<name>.log. env, if not nil, is added to the environment.
func startProcess(sp *spawner, dir, name string, env []string, bin string, args ...string) (*process, error) {
	logPath := dir + "/" + name + ".log"
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	if env != nil {
		cmd.Env = append(os.Environ(), env...)
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := sp.start(cmd); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &process{name: name, logPath: logPath, cmd: cmd, done: make(chan struct{})}
	go func() {
		p.waitErr = cmd.Wait()
		logFile.Close()
		close(p.done)
	}()
	return p, nil
}

// exited reports whether the process has ended, and how.
func (p *process) exited() (bool, error) {
	select {
	case <-p.done:
		return true, p.waitErr
	default:
		return false, nil
	}
}

// stop sends SIGTERM to the process group, then SIGKILL after grace.
func (p *process) stop(grace time.Duration) {
	if done, _ := p.exited(); done {
		return
	}
	pgid := p.cmd.Process.Pid
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(grace):
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		<-p.done
	}
	// Anything the component forked into its group goes too.
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
}

// kill ends the process group at once, as a crash would.
func (p *process) kill() {
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	<-p.done
}

// logTail returns the last lines of the process's log for error messages.
func (p *process) logTail(lines int) string {
	b, err := os.ReadFile(p.logPath)
	if err != nil {
		return ""
	}
	b = bytes.TrimRight(b, "\n")
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] == '\n' {
			lines--
			if lines == 0 {
				return string(b[i+1:])
			}
		}
	}
	return string(b)
}

// errExited is returned while waiting for a component that died.
var errExited = errors.New("exited")

// Process is a program a test started next to the control plane with
// StartProcess: it dies with the test binary, and Env.Stop ends it too.
type Process struct {
	p *process
}

// StartProcess runs bin with args and the extra environment env, in its own
// process group, its output in the file LogPath returns. The name must be
// unique among the environment's processes.
func (e *Env) StartProcess(name string, env []string, bin string, args ...string) (*Process, error) {
	p, err := startProcess(e.spawner, e.Dir, name, env, bin, args...)
	if err != nil {
		return nil, err
	}
	e.procs = append(e.procs, p)
	return &Process{p: p}, nil
}

// Kill SIGKILLs the process group and waits for it, as a crash would.
func (p *Process) Kill() { p.p.kill() }

// Stop sends SIGTERM and waits up to 10 seconds before SIGKILL.
func (p *Process) Stop() { p.p.stop(10 * time.Second) }

// Exited reports whether the process has ended, and how.
func (p *Process) Exited() (bool, error) { return p.p.exited() }

// Pid is the process's ID.
func (p *Process) Pid() int { return p.p.cmd.Process.Pid }

// LogPath is the file that holds the process's output.
func (p *Process) LogPath() string { return p.p.logPath }

// Log returns the process's output so far.
func (p *Process) Log() string {
	b, _ := os.ReadFile(p.p.logPath)
	return string(b)
}
