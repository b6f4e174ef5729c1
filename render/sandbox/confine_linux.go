package sandbox

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/landlock-lsm/go-landlock/landlock"
	llsys "github.com/landlock-lsm/go-landlock/landlock/syscall"
	"golang.org/x/sys/unix"
)

// confine applies the limits to this process: the kernel's resource limits
// (data segment, CPU seconds, open files, no core files and, when the file
// system is confined, no file written), then Landlock: read-only access to
// root and nothing else, no TCP connect or bind, no signals or abstract
// sockets out of the process. On a kernel without Landlock the rest still
// holds (best effort, as go-landlock defines it); the caller's network
// namespace, where it could make one, covers the network.
func confine(root string, lim Limits, fsToo bool) (notes []string, err error) {
	cpu := uint64(lim.CPU.Seconds())
	limits := []struct {
		name     string
		resource int
		cur, max uint64
	}{
		{"memory", unix.RLIMIT_DATA, uint64(lim.Memory), uint64(lim.Memory)},
		// The kernel sends SIGXCPU at the soft limit (Go ignores it) and
		// SIGKILL at the hard one.
		{"CPU", unix.RLIMIT_CPU, cpu, cpu + 1},
		{"open files", unix.RLIMIT_NOFILE, 256, 256},
		{"core", unix.RLIMIT_CORE, 0, 0},
	}
	if fsToo {
		limits = append(limits, struct {
			name     string
			resource int
			cur, max uint64
		}{"file size", unix.RLIMIT_FSIZE, 0, 0})
	}
	for _, l := range limits {
		if err := unix.Setrlimit(l.resource, &unix.Rlimit{Cur: l.cur, Max: l.max}); err != nil {
			return nil, fmt.Errorf("set the %s limit: %w", l.name, err)
		}
	}
	if !fsToo {
		return []string{"render sandbox: Kustomize's allowHelm or allowRemote is on, so file and network access are not confined (memory, CPU and time are)"}, nil
	}
	switch abi := landlockABI(); {
	case abi < 1:
		notes = append(notes, "render sandbox: the kernel has no Landlock: file access is not confined beyond the checkout's own checks")
	case abi < 4:
		notes = append(notes, fmt.Sprintf("render sandbox: Landlock ABI %d cannot restrict TCP (4 can)", abi))
	}
	rules, err := readRules(root)
	if err != nil {
		return nil, err
	}
	if err := landlock.V7.BestEffort().Restrict(rules...); err != nil {
		return nil, fmt.Errorf("landlock: %w", err)
	}
	return notes, nil
}

// readRules grant reading root, except a .git directory in it (a CLI
// render of a work tree): the root's own listing, then each entry but
// .git. A symlink entry gets no rule of its own: what it points to inside
// root is readable through that entry's rule, .git is not.
func readRules(root string) ([]landlock.Rule, error) {
	if _, err := os.Lstat(filepath.Join(root, ".git")); err != nil {
		return []landlock.Rule{landlock.RODirs(root)}, nil
	}
	ents, err := os.ReadDir(root)
	if err != nil {
		return nil, err
	}
	rules := []landlock.Rule{landlock.PathAccess(llsys.AccessFSReadDir, root)}
	for _, e := range ents {
		p := filepath.Join(root, e.Name())
		switch {
		case e.Name() == ".git", e.Type()&os.ModeSymlink != 0:
		case e.IsDir():
			rules = append(rules, landlock.RODirs(p))
		default:
			rules = append(rules, landlock.ROFiles(p))
		}
	}
	return rules, nil
}

// landlockABI is the kernel's Landlock ABI version, 0 without Landlock.
func landlockABI() int {
	const createRulesetVersion = 1 // LANDLOCK_CREATE_RULESET_VERSION
	v, _, errno := unix.Syscall(unix.SYS_LANDLOCK_CREATE_RULESET, 0, 0, createRulesetVersion)
	if errno != 0 {
		return 0
	}
	return int(v)
}
