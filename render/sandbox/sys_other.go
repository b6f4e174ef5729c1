//go:build !linux

package sandbox

import (
	"os/exec"
	"syscall"
)

func sysProcAttr(bool) *syscall.SysProcAttr { return nil }

func namespacesRefused(error) bool { return false }

func killGroup(cmd *exec.Cmd) error {
	if cmd.Process == nil {
		return nil
	}
	return cmd.Process.Kill()
}
