package git

import (
	"errors"
	"io"
	"net/http"
	"strings"
	"time"
)

// Poller is told to poll a repository now. The webhook handler only ever
// names repositories (normalised URLs) and ref/file hints; PollNow reports
// whether the repository is one plumb knows, and must not block (it queues
// and coalesces).
type Poller interface {
	PollNow(repo string, push Push) bool
}

// HookOptions configure a WebhookHandler.
type HookOptions struct {
	// Secret signs or authenticates every provider's requests.
	Secret []byte
	// MaxBody caps the request body (default 1 MiB).
	MaxBody int64
	// ReadTimeout bounds reading the body (default 10 s).
	ReadTimeout time.Duration
	// Result, if set, is told each request's outcome (for metrics).
	Result func(provider, result string)
}

// WebhookHandler serves POST /hooks/<provider>. It verifies the signature
// over the raw body before parsing anything, answers at once, and leaks no
// detail: 401 for a missing or bad signature, 413 for an oversized body,
// 202 otherwise, whether or not the repository is known.
func WebhookHandler(p Poller, opts HookOptions) http.Handler {
	if opts.MaxBody <= 0 {
		opts.MaxBody = 1 << 20
	}
	if opts.ReadTimeout <= 0 {
		opts.ReadTimeout = 10 * time.Second
	}
	report := func(provider, result string) {
		if opts.Result != nil {
			opts.Result(provider, result)
		}
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		provider := Provider(strings.TrimPrefix(r.URL.Path, "/hooks/"))
		switch provider {
		case GitHub, Gitea, GitLab, Bitbucket, Generic:
		default:
			report("unknown", "not_found")
			http.NotFound(w, r)
			return
		}
		if r.Method != http.MethodPost {
			report(string(provider), "method")
			w.Header().Set("Allow", http.MethodPost)
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		if r.ContentLength > opts.MaxBody {
			report(string(provider), "too_large")
			http.Error(w, "request body too large", http.StatusRequestEntityTooLarge)
			return
		}
		rc := http.NewResponseController(w)
		_ = rc.SetReadDeadline(time.Now().Add(opts.ReadTimeout))
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, opts.MaxBody))
		var tooLarge *http.MaxBytesError
		switch {
		case errors.As(err, &tooLarge):
			report(string(provider), "too_large")
			http.Error(w, "request body too large", http.StatusRequestEntityTooLarge)
			return
		case err != nil:
			report(string(provider), "read_error")
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		if err := Verify(provider, opts.Secret, r.Header, body); err != nil {
			report(string(provider), "unauthorized")
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		w.WriteHeader(http.StatusAccepted)
		push, err := ParsePush(provider, body)
		if err != nil {
			report(string(provider), "ignored")
			return
		}
		for _, repo := range push.Repos {
			if p.PollNow(repo, push) {
				report(string(provider), "accepted")
				return
			}
		}
		report(string(provider), "unknown_repo")
	})
}
