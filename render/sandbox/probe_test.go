package sandbox

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// probeEnv starts the test binary as a probe: it confines itself as a
// worker does and reports what it could still do.
const probeEnv = "PLUMB_SANDBOX_PROBE"

type probeReport struct {
	ReadInside  bool     `json:"readInside"`
	ReadOutside bool     `json:"readOutside"`
	ReadGit     bool     `json:"readGit"`
	Write       bool     `json:"write"`
	Dial        bool     `json:"dial"`
	Env         []string `json:"env"`
	Notes       []string `json:"notes"`
}

// probeMain confines itself to the directory named by probeEnv and tries
// each access; the address to dial is its argument.
func probeMain() int {
	root, outside, addr := os.Getenv(probeEnv), os.Getenv("PROBE_OUTSIDE"), os.Getenv("PROBE_DIAL")
	env := os.Environ()
	notes, err := confine(root, DefaultLimits(), true)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	var r probeReport
	r.Env, r.Notes = env, notes
	_, err = os.ReadFile(filepath.Join(root, "inside.txt"))
	r.ReadInside = err == nil
	_, err = os.ReadFile(outside)
	r.ReadOutside = err == nil
	_, err = os.ReadFile(filepath.Join(root, "link-to-git-config")) // a symlink to .git/config
	r.ReadGit = err == nil
	r.Write = os.WriteFile(filepath.Join(root, "new.txt"), []byte("x"), 0o644) == nil
	if c, err := net.Dial("tcp", addr); err == nil {
		r.Dial = true
		c.Close()
	}
	_ = json.NewEncoder(os.Stdout).Encode(r)
	return 0
}

// TestConfinement: a confined worker reads its root and nothing else,
// writes nothing, reaches no address, and in its namespaces cannot even
// see the network; its environment holds only what it is given.
func TestConfinement(t *testing.T) {
	root := writeFiles(t, map[string]string{"inside.txt": "ok", ".git/config": "[http]\n\textraheader = AUTHORIZATION: basic dG9rZW4=\n"})
	if err := os.Symlink(".git/config", filepath.Join(root, "link-to-git-config")); err != nil {
		t.Fatal(err)
	}
	outside := filepath.Join(t.TempDir(), "secret.txt")
	if err := os.WriteFile(outside, []byte("token"), 0o600); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	for _, netns := range []bool{false, true} {
		t.Run(fmt.Sprintf("netns=%v", netns), func(t *testing.T) {
			exe, err := os.Executable()
			if err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(exe)
			cmd.Env = []string{probeEnv + "=" + root, "PROBE_OUTSIDE=" + outside, "PROBE_DIAL=" + ln.Addr().String()}
			cmd.SysProcAttr = sysProcAttr(netns)
			out, err := cmd.Output()
			if err != nil && netns && namespacesRefused(err) {
				t.Skipf("no user namespaces here: %v", err)
			}
			if err != nil {
				t.Fatalf("probe: %v", err)
			}
			var got probeReport
			if err := json.Unmarshal(out, &got); err != nil {
				t.Fatalf("probe said %q: %v", out, err)
			}
			want := probeReport{ReadInside: true, Env: cmd.Env}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("confined probe (-want +got):\n%s", diff)
			}
		})
	}
}
