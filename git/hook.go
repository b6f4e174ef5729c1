package git

import (
	"errors"
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
	// MaxInFlight caps the bodies being read at once (default 64): memory
	// stays under MaxInFlight × MaxBody however many senders connect, and a
	// request over it is answered 503 at once (polling still finds the
	// change).
	MaxInFlight int
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
	if opts.MaxInFlight <= 0 {
		opts.MaxInFlight = 64
	}
	slots := make(chan struct{}, opts.MaxInFlight)
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
		body, ok := readAuthentic(w, r, provider, opts, slots, report)
		if !ok {
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

// readAuthentic reads the body of an authentic request, or answers the
// request and returns false. Nothing is read from a request that cannot
// be authentic (GitLab's token is checked whole, a signature header for
// its form); the signature is computed as the capped body streams in.
func readAuthentic(w http.ResponseWriter, r *http.Request, provider Provider, opts HookOptions, slots chan struct{}, report func(provider, result string)) ([]byte, bool) {
	fail := func(result, msg string, code int) ([]byte, bool) {
		report(string(provider), result)
		http.Error(w, msg, code)
		return nil, false
	}
	if err := precheck(provider, opts.Secret, r.Header); err != nil {
		return fail("unauthorized", "unauthorized", http.StatusUnauthorized)
	}
	select {
	case slots <- struct{}{}:
		defer func() { <-slots }()
	default:
		w.Header().Set("Retry-After", "1")
		return fail("busy", "busy", http.StatusServiceUnavailable)
	}
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Now().Add(opts.ReadTimeout))
	body, sum, err := readSigned(http.MaxBytesReader(w, r.Body, opts.MaxBody), opts.Secret)
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		return fail("too_large", "request body too large", http.StatusRequestEntityTooLarge)
	case err != nil:
		return fail("read_error", "bad request", http.StatusBadRequest)
	}
	if err := verifySum(provider, opts.Secret, r.Header, sum); err != nil {
		return fail("unauthorized", "unauthorized", http.StatusUnauthorized)
	}
	return body, true
}
