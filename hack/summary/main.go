// Command summary prints the reliability and security summary of a test
// run from the entries the tests recorded (internal/testreport) and the
// fuzz runs appended by `make fuzz`. It exits 1 when any fault was not
// survived, any bad input was not refused, any leak was found or any
// object was lost.
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"github.com/plumbhq/plumb/internal/testreport"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: summary REPORT.jsonl")
		os.Exit(2)
	}
	f, err := os.Open(os.Args[1])
	if err != nil {
		fmt.Fprintf(os.Stderr, "summary: %v\n", err)
		os.Exit(2)
	}
	defer f.Close()
	ok, err := summarise(os.Stdout, f)
	if err != nil {
		fmt.Fprintf(os.Stderr, "summary: %v\n", err)
		os.Exit(2)
	}
	if !ok {
		os.Exit(1)
	}
}

type tally struct {
	tried, passed int
	failed        []string
}

func summarise(w io.Writer, r io.Reader) (bool, error) {
	kinds := map[string]*tally{}
	var details []string
	var lost, leaks int
	var execs int64
	var fuzzTargets []string
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		if strings.TrimSpace(sc.Text()) == "" {
			continue
		}
		var e testreport.Entry
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			return false, fmt.Errorf("%q: %w", sc.Text(), err)
		}
		k := kinds[e.Kind]
		if k == nil {
			k = &tally{}
			kinds[e.Kind] = k
		}
		k.tried++
		if e.OK {
			k.passed++
		} else {
			k.failed = append(k.failed, e.Name)
		}
		if e.Kind == testreport.Fault && e.Detail != "" {
			details = append(details, fmt.Sprintf("  - %s: %s", e.Name, e.Detail))
		}
		lost += e.Lost
		leaks += e.Leaks
		if e.Kind == testreport.Fuzz {
			execs += e.Execs
			fuzzTargets = append(fuzzTargets, fmt.Sprintf("%s %d", e.Name, e.Execs))
		}
	}
	if err := sc.Err(); err != nil {
		return false, err
	}
	get := func(kind string) *tally {
		if k := kinds[kind]; k != nil {
			sort.Strings(k.failed)
			return k
		}
		return &tally{}
	}
	faults, bad, leak, fuzz := get(testreport.Fault), get(testreport.BadInput), get(testreport.Leak), get(testreport.Fuzz)
	fmt.Fprintln(w, "==== plumb reliability and security summary ====")
	fmt.Fprintf(w, "faults injected:    %d, survived %d%s\n", faults.tried, faults.passed, failedList(faults))
	for _, d := range details {
		fmt.Fprintln(w, d)
	}
	fmt.Fprintf(w, "bad inputs tried:   %d, refused cleanly %d%s\n", bad.tried, bad.passed, failedList(bad))
	fmt.Fprintf(w, "fuzz executions:    %d over %d targets%s\n", execs, fuzz.tried, failedList(fuzz))
	if len(fuzzTargets) > 0 {
		fmt.Fprintf(w, "                    (%s)\n", strings.Join(fuzzTargets, ", "))
	}
	fmt.Fprintf(w, "leaks found:        %d (%d outputs searched%s)\n", leaks, leak.tried, failedList(leak))
	fmt.Fprintf(w, "objects lost:       %d\n", lost)
	ok := len(faults.failed)+len(bad.failed)+len(leak.failed)+len(fuzz.failed) == 0 && leaks == 0 && lost == 0
	if ok {
		fmt.Fprintln(w, "result:             OK")
	} else {
		fmt.Fprintln(w, "result:             FAILED")
	}
	return ok, nil
}

func failedList(t *tally) string {
	if len(t.failed) == 0 {
		return ""
	}
	return "; FAILED: " + strings.Join(t.failed, ", ")
}
