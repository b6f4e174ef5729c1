package sandbox

import (
	"errors"
	"os"
	"os/exec"
	"syscall"
)

// sysProcAttr puts the worker in its own process group and, with netns, in
// new user and network namespaces: a network
// namespace has no interface but a loopback that is down, so nothing is
// reachable, UDP and DNS included. The user namespace maps only plumb's
// own user, so nothing gains a right.
func sysProcAttr(netns bool) *syscall.SysProcAttr {
	// No Pdeathsig: it fires when the thread that started the worker ends,
	// which in Go is not the parent's death. A worker whose parent died
	// reads EOF for its request, or fails writing its answer, and exits.
	a := &syscall.SysProcAttr{Setpgid: true}
	if netns {
		uid, gid := os.Getuid(), os.Getgid()
		a.Cloneflags = syscall.CLONE_NEWUSER | syscall.CLONE_NEWNET
		a.UidMappings = []syscall.SysProcIDMap{{ContainerID: uid, HostID: uid, Size: 1}}
		a.GidMappings = []syscall.SysProcIDMap{{ContainerID: gid, HostID: gid, Size: 1}}
		a.GidMappingsEnableSetgroups = false
	}
	return a
}

// namespacesRefused says the system would not make the namespaces.
func namespacesRefused(err error) bool {
	return errors.Is(err, syscall.EPERM) || errors.Is(err, syscall.EINVAL) || errors.Is(err, syscall.ENOSPC) ||
		errors.Is(err, syscall.EACCES) || errors.Is(err, syscall.EUSERS)
}

// killGroup kills the worker and whatever it started.
func killGroup(cmd *exec.Cmd) error {
	if cmd.Process == nil {
		return nil
	}
	return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
}
