package git

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strings"
	gosync "sync"
	"testing"
)

type recordingPoller struct {
	mu    gosync.Mutex
	known string
	polls []Push
}

func (p *recordingPoller) PollNow(repo string, push Push) bool {
	if repo != p.known {
		return false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.polls = append(p.polls, push)
	return true
}

func TestWebhookHandler(t *testing.T) {
	secret := []byte("hook-secret")
	known := `{"ref":"refs/heads/main","repository":{"clone_url":"https://git.example.com/team/apps.git"},"commits":[{"modified":["apps/a/values.yaml"]}]}`
	unknown := `{"ref":"refs/heads/main","repository":{"clone_url":"https://git.example.com/other/repo.git"}}`
	tests := []struct {
		name      string
		path      string
		body      string
		header    map[string]string
		wantCode  int
		wantPolls int
		result    string
	}{
		{"signed github push", "/hooks/github", known, map[string]string{"X-Hub-Signature-256": Sign(secret, []byte(known))}, 202, 1, "accepted"},
		{"gitlab token", "/hooks/gitlab", known, map[string]string{"X-Gitlab-Token": "hook-secret"}, 202, 1, "accepted"},
		{"bad signature", "/hooks/github", known, map[string]string{"X-Hub-Signature-256": Sign([]byte("nope"), []byte(known))}, 401, 0, "unauthorized"},
		{"no signature", "/hooks/gitea", known, nil, 401, 0, "unauthorized"},
		{"unknown repository", "/hooks/github", unknown, map[string]string{"X-Hub-Signature-256": Sign(secret, []byte(unknown))}, 202, 0, "unknown_repo"},
		{"oversized body", "/hooks/github", strings.Repeat("x", 2<<20), map[string]string{"X-Hub-Signature-256": "sha256=00"}, 413, 0, "too_large"},
		{"unknown provider", "/hooks/svn", known, nil, 404, 0, "not_found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := &recordingPoller{known: "git.example.com/team/apps"}
			var results []string
			h := WebhookHandler(p, HookOptions{Secret: secret, Result: func(_, r string) { results = append(results, r) }})
			req := httptest.NewRequest(http.MethodPost, tt.path, bytes.NewBufferString(tt.body))
			for k, v := range tt.header {
				req.Header.Set(k, v)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tt.wantCode || len(p.polls) != tt.wantPolls {
				t.Errorf("code %d polls %d, want %d and %d", rec.Code, len(p.polls), tt.wantCode, tt.wantPolls)
			}
			if len(results) != 1 || results[0] != tt.result {
				t.Errorf("results %v, want [%s]", results, tt.result)
			}
			if strings.Contains(rec.Body.String(), "hook-secret") || strings.Contains(rec.Body.String(), "sha256") {
				t.Errorf("response leaks detail: %q", rec.Body.String())
			}
		})
	}
	// A chunked body without Content-Length is capped while reading.
	p := &recordingPoller{}
	h := WebhookHandler(p, HookOptions{Secret: secret, MaxBody: 1024})
	req := httptest.NewRequest(http.MethodPost, "/hooks/github", strings.NewReader(strings.Repeat("y", 4096)))
	req.ContentLength = -1
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusRequestEntityTooLarge {
		t.Errorf("streamed oversized body: %d", rec.Code)
	}
}
