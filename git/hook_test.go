package git

import (
	"bytes"
	"io"
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
	req.Header.Set("X-Hub-Signature-256", Sign(secret, []byte("y")))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusRequestEntityTooLarge {
		t.Errorf("streamed oversized body: %d", rec.Code)
	}
}

// failingReader fails the test if anything reads it.
type failingReader struct{ t *testing.T }

func (f failingReader) Read([]byte) (int, error) {
	f.t.Error("the body of a request that cannot be authentic was read")
	return 0, io.EOF
}

// blockingReader holds its reader until released.
type blockingReader struct{ release chan struct{} }

func (b blockingReader) Read([]byte) (int, error) {
	<-b.release
	return 0, io.EOF
}

// TestWebhookBodiesAreBounded: a request without a well-formed signature
// (or with GitLab's token wrong) is refused before its body is read, and
// no more than MaxInFlight bodies are read at once.
func TestWebhookBodiesAreBounded(t *testing.T) {
	secret := []byte("hook-secret-of-some-length")
	h := WebhookHandler(&recordingPoller{}, HookOptions{Secret: secret, MaxInFlight: 2})
	for _, tc := range []struct{ provider, header, value string }{
		{"github", "", ""},
		{"github", "X-Hub-Signature-256", "sha256=nothex"},
		{"gitlab", "X-Gitlab-Token", "wrong"},
	} {
		req := httptest.NewRequest(http.MethodPost, "/hooks/"+tc.provider, failingReader{t})
		if tc.header != "" {
			req.Header.Set(tc.header, tc.value)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusUnauthorized {
			t.Errorf("%s %s=%q: %d, want 401", tc.provider, tc.header, tc.value, rec.Code)
		}
	}
	release := make(chan struct{})
	started := make(chan struct{}, 2)
	done := make(chan int, 2)
	for range 2 {
		go func() {
			req := httptest.NewRequest(http.MethodPost, "/hooks/github", io.MultiReader(signalReader{started}, blockingReader{release}))
			req.Header.Set("X-Hub-Signature-256", Sign(secret, nil))
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			done <- rec.Code
		}()
	}
	<-started
	<-started
	req := httptest.NewRequest(http.MethodPost, "/hooks/github", failingReader{t})
	req.Header.Set("X-Hub-Signature-256", Sign(secret, nil))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusServiceUnavailable {
		t.Errorf("a third body while two are read: %d, want 503", rec.Code)
	}
	close(release)
	for range 2 {
		if code := <-done; code != http.StatusAccepted {
			t.Errorf("a held request ended %d, want 202", code)
		}
	}
}

// signalReader says once that reading began, then ends.
type signalReader struct{ started chan struct{} }

func (s signalReader) Read([]byte) (int, error) {
	s.started <- struct{}{}
	return 0, io.EOF
}
