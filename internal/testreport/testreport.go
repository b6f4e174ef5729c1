// Package testreport lets the reliability and security tests record what
// they tried (faults injected, bad inputs fed, outputs searched for leaks)
// so that `make test` can print one summary of them (hack/summary). It
// records nothing unless PLUMB_TEST_REPORT names a file.
package testreport

import (
	"encoding/json"
	"os"
	"testing"
)

// EnvVar names the JSON Lines file entries are appended to.
const EnvVar = "PLUMB_TEST_REPORT"

// Kinds of entries.
const (
	Fault    = "fault"
	BadInput = "bad-input"
	Leak     = "leak-search"
	Fuzz     = "fuzz"
)

// Entry is one case. OK means survived (fault), refused (bad input) or
// nothing found (leak search); Record sets it false when the test failed.
type Entry struct {
	Kind   string `json:"kind"`
	Name   string `json:"name"`
	OK     bool   `json:"ok"`
	Lost   int    `json:"objectsLost"`
	Leaks  int    `json:"leaks"`
	Execs  int64  `json:"execs,omitempty"`
	Detail string `json:"detail,omitempty"`
}

// Record writes e when the test ends, marked not OK if the test failed.
// The entry is passed as a pointer so the test can fill in counts (objects
// lost, leaks, details) as it learns them.
func Record(t testing.TB, e *Entry) {
	t.Helper()
	t.Cleanup(func() {
		out := *e
		out.OK = out.OK && !t.Failed()
		if out.Detail != "" {
			t.Logf("%s %s: %s", out.Kind, out.Name, out.Detail)
		}
		file := os.Getenv(EnvVar)
		if file == "" {
			return
		}
		b, err := json.Marshal(out)
		if err != nil {
			t.Errorf("testreport: %v", err)
			return
		}
		f, err := os.OpenFile(file, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			t.Errorf("testreport: %v", err)
			return
		}
		defer f.Close()
		if _, err := f.Write(append(b, '\n')); err != nil {
			t.Errorf("testreport: %v", err)
		}
	})
}
