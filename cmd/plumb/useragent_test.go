package main

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	gosync "sync"
	"testing"

	"k8s.io/client-go/rest"
)

// Every request the CLI makes says it is plumb, which version, on what,
// and which command: an audit log can tell `plumb sync` from kubectl.
func TestCLIUserAgent(t *testing.T) {
	var mu gosync.Mutex
	agents := map[string]bool{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		agents[r.UserAgent()] = true
		mu.Unlock()
		http.Error(w, "no", http.StatusForbidden)
	}))
	defer srv.Close()
	kubeconfig := writeKubeconfig(t, &rest.Config{Host: srv.URL, BearerToken: "t"})
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "cm.yaml"), []byte(configMap("a", "")), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, command := range []string{"diff", "sync"} {
		runCmd(t, "--kubeconfig", kubeconfig, command, dir)
	}
	want := regexp.MustCompile(`^plumb/\S+ \((linux|darwin|windows)/\w+\) (diff|sync)$`)
	seen := map[string]bool{}
	mu.Lock()
	defer mu.Unlock()
	for ua := range agents {
		m := want.FindStringSubmatch(ua)
		if m == nil {
			t.Errorf("User-Agent %q is not plumb/<version> (<os>/<arch>) <command>", ua)
			continue
		}
		seen[m[2]] = true
	}
	if !seen["diff"] || !seen["sync"] {
		t.Errorf("User-Agents %v: want one of diff and one of sync", agents)
	}
}
