package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/plumbhq/plumb/api/v1alpha1"
	"github.com/plumbhq/plumb/git"
	"github.com/plumbhq/plumb/internal/gittest"
)

// githubPush is the part of a GitHub push event plumb reads.
func githubPush(url string) []byte {
	b, _ := json.Marshal(map[string]any{
		"ref":        "refs/heads/main",
		"repository": map[string]any{"clone_url": url, "html_url": url},
	})
	return b
}

// Acceptance 3, in config-file mode: a signed push webhook gets a change
// applied although the poll interval is an hour; a bad signature gets 401
// and no poll; 10 MiB gets 413. The Apps' status is served by the API.
func TestServeWebhookConfigMode(t *testing.T) {
	s := newServeEnv(t, "serve-hook", gittest.Options{})
	apps := s.exampleApps(s.repo.URL, func(a *v1alpha1.App) {
		a.Spec.SyncPolicy.Interval = &metav1.Duration{Duration: time.Hour}
		a.Namespace = "" // config mode: the context's namespace (-n)
	})
	dir := t.TempDir()
	config := filepath.Join(dir, "apps.yaml")
	secretFile := filepath.Join(dir, "webhook-secret")
	secret := "s3cret-webhook-key"
	if err := os.WriteFile(config, appsYAML(t, apps), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(secretFile, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	d := startServe(t, "-n", s.ns, "--config", config, "--webhook-secret-file", secretFile)
	apiApps := func() []v1alpha1.App {
		code, body := d.get("/api/v1/apps")
		var list v1alpha1.AppList
		if code != http.StatusOK || json.Unmarshal([]byte(body), &list) != nil {
			t.Fatalf("GET /api/v1/apps: %d %s", code, body)
		}
		return list.Items
	}
	eventually(t, 60*time.Second, "Apps Synced and Healthy in /api/v1/apps", func() (bool, string) {
		var desc []string
		for _, a := range apiApps() {
			if !ready(a, s.head) {
				desc = append(desc, describe(a))
			}
		}
		return len(desc) == 0, strings.Join(desc, " | ")
	})
	if got := d.metric("plumb_app_synced", fmt.Sprintf(`app="%s/helm"`, s.ns)); got != 1 {
		t.Errorf("plumb_app_synced for helm: %v", got)
	}
	if got := d.metric("plumb_app_health", fmt.Sprintf(`app="%s/helm"`, s.ns), `status="Healthy"`); got != 1 {
		t.Errorf("plumb_app_health Healthy for helm: %v", got)
	}

	s.commit(map[string]string{"plain/configmap.yaml": strings.Replace(readExample(t, "plain/configmap.yaml"), "hello from plain YAML", "pushed", 1)}, "plain: pushed")
	body := githubPush(s.repo.URL)
	polls := d.metric("plumb_git_requests_total", `op="ls-remote"`)

	refusedWebhooks(t, s, d, secret, body, polls)

	good := http.Header{"X-Github-Event": {"push"}, "X-Hub-Signature-256": {git.Sign([]byte(secret), body)}}
	start := time.Now()
	if code := d.post("/hooks/github", good, body); code != http.StatusAccepted {
		t.Fatalf("signed webhook: %d, want 202", code)
	}
	eventually(t, 30*time.Second, "the pushed change is live", func() (bool, string) {
		got := s.kubectl("get", "configmap", "hello-config", "-o", "jsonpath={.data.message}")
		return got == "pushed", got
	})
	t.Logf("signed push webhook → change live in %s (poll interval 1h)", time.Since(start).Round(time.Millisecond))
	if got := d.metric("plumb_webhook_requests_total", `provider="github"`, `result="accepted"`); got != 1 {
		t.Errorf("webhook accepted metric: %v", got)
	}
	if got := d.metric("plumb_webhook_requests_total", `result="unauthorized"`); got != 2 {
		t.Errorf("webhook unauthorized metric: %v", got)
	}
	// Three Apps of one repository polled at once share one ls-remote.
	if got := d.metric("plumb_git_requests_total", `op="ls-remote"`) - polls; got < 1 || got > 3 {
		t.Errorf("ls-remotes for one push: %v", got)
	}
	// An unknown repository: 202 and nothing done.
	other := githubPush("https://git.example.com/unknown.git")
	if code := d.post("/hooks/github", http.Header{"X-Hub-Signature-256": {git.Sign([]byte(secret), other)}}, other); code != http.StatusAccepted {
		t.Errorf("unknown repository: %d, want 202", code)
	}
	if got := d.metric("plumb_webhook_requests_total", `result="unknown_repo"`); got != 1 {
		t.Errorf("unknown_repo metric: %v", got)
	}
}

// refusedWebhooks posts a push webhook (body) with a wrong signature, with
// none, and a 10 MiB one: each is refused, and none triggers a poll (polls:
// the ls-remotes before) or brings the pushed change.
func refusedWebhooks(t *testing.T, s *serveEnv, d *plumbd, secret string, body []byte, polls float64) {
	t.Helper()
	bad := http.Header{"X-Github-Event": {"push"}, "X-Hub-Signature-256": {git.Sign([]byte("wrong secret"), body)}}
	if code := d.post("/hooks/github", bad, body); code != http.StatusUnauthorized {
		t.Errorf("bad signature: %d, want 401", code)
	}
	if code := d.post("/hooks/github", http.Header{"X-Github-Event": {"push"}}, body); code != http.StatusUnauthorized {
		t.Errorf("no signature: %d, want 401", code)
	}
	huge := bytes.Repeat([]byte("x"), 10<<20)
	if code := d.post("/hooks/github", http.Header{"X-Hub-Signature-256": {git.Sign([]byte(secret), huge)}}, huge); code != http.StatusRequestEntityTooLarge {
		t.Errorf("10 MiB body: %d, want 413", code)
	}
	time.Sleep(time.Second) // a poll, had one been triggered, would have started by now
	if got := d.metric("plumb_git_requests_total", `op="ls-remote"`); got != polls {
		t.Errorf("refused webhooks triggered %v polls", got-polls)
	}
	if got := s.kubectl("get", "configmap", "hello-config", "-o", "jsonpath={.data.message}"); got == "pushed" {
		t.Fatal("the change arrived without a valid webhook")
	}
}
