package testenv

import (
	"context"
	"flag"
	"fmt"
	"os"
	"testing"
	"time"
)

// Main is for TestMain: it starts a control plane, points *env at it, runs
// the tests and stops the control plane, returning the exit code for
// os.Exit. With -short it starts nothing and *env stays nil, so integration
// tests should skip with RequireEnv. A fuzzing run (-fuzz, and the worker
// processes it starts) starts nothing either: fuzz targets are pure.
//
//	var env *testenv.Env
//	func TestMain(m *testing.M) { os.Exit(testenv.Main(m, testenv.Options{Nodes: 2}, &env)) }
func Main(m *testing.M, opts Options, env **Env) int {
	flag.Parse()
	if testing.Short() || fuzzing() {
		return m.Run()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	started := time.Now()
	e, err := Start(ctx, opts)
	cancel()
	if err != nil {
		fmt.Fprintf(os.Stderr, "testenv: %v\n", err)
		return 1
	}
	fmt.Fprintf(os.Stderr, "testenv: control plane up in %s (%s)\n", time.Since(started).Round(10*time.Millisecond), e.Dir)
	*env = e
	defer e.Stop()
	return m.Run()
}

// RequireEnv skips the test under -short and fails it if no control plane
// is running otherwise.
func RequireEnv(t testing.TB, env *Env) {
	t.Helper()
	if testing.Short() {
		t.Skip("needs the control plane; skipped with -short")
	}
	if env == nil {
		t.Fatal("no control plane: start it with testenv.Main in TestMain")
	}
}

// fuzzing reports whether the test binary runs a fuzz target (-fuzz) or is
// one of the workers the fuzzer starts.
func fuzzing() bool {
	for _, name := range []string{"test.fuzz", "test.fuzzworker"} {
		if f := flag.Lookup(name); f != nil && f.Value.String() != "" && f.Value.String() != "false" {
			return true
		}
	}
	return false
}
