package git

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// Provider is a webhook sender.
type Provider string

// Providers plumb verifies.
const (
	GitHub    Provider = "github"
	Gitea     Provider = "gitea"
	GitLab    Provider = "gitlab"
	Bitbucket Provider = "bitbucket"
	Generic   Provider = "generic"
)

// Errors a webhook endpoint maps to status codes.
var (
	ErrUnknownProvider = errors.New("unknown webhook provider")
	ErrBadSignature    = errors.New("webhook signature missing or invalid")
	ErrBadPayload      = errors.New("webhook payload not understood")
)

// Verify checks a webhook's authenticity over the raw body, before anything
// parses it, in constant time: GitHub and Gitea sign with HMAC-SHA256 in
// X-Hub-Signature-256, Bitbucket in X-Hub-Signature, the generic provider in
// X-Plumb-Signature-256 (all "sha256=<hex>"); GitLab sends the shared secret
// itself in X-Gitlab-Token. An empty secret verifies nothing.
func Verify(p Provider, secret []byte, h http.Header, body []byte) error {
	if len(secret) == 0 {
		return fmt.Errorf("%w: no webhook secret configured", ErrBadSignature)
	}
	switch p {
	case GitHub, Gitea:
		return verifyHMAC(secret, h.Get("X-Hub-Signature-256"), body)
	case Bitbucket:
		return verifyHMAC(secret, h.Get("X-Hub-Signature"), body)
	case Generic:
		return verifyHMAC(secret, h.Get("X-Plumb-Signature-256"), body)
	case GitLab:
		token := h.Get("X-Gitlab-Token")
		// Compare digests so the comparison takes the same time whatever the
		// token's length.
		a, b := sha256.Sum256([]byte(token)), sha256.Sum256(secret)
		if token == "" || subtle.ConstantTimeCompare(a[:], b[:]) != 1 {
			return ErrBadSignature
		}
		return nil
	}
	return fmt.Errorf("%w: %q", ErrUnknownProvider, p)
}

// signatureHeader is the header a provider signs the body in ("" for
// GitLab, which sends its token instead).
func signatureHeader(p Provider) string {
	switch p {
	case GitHub, Gitea:
		return "X-Hub-Signature-256"
	case Bitbucket:
		return "X-Hub-Signature"
	case Generic:
		return "X-Plumb-Signature-256"
	}
	return ""
}

// precheck refuses, before any body is read, a request that cannot verify:
// no secret, GitLab's token wrong, a signature header missing or not of the
// form "sha256=<64 hex digits>".
func precheck(p Provider, secret []byte, h http.Header) error {
	if len(secret) == 0 {
		return fmt.Errorf("%w: no webhook secret configured", ErrBadSignature)
	}
	if p == GitLab {
		return Verify(p, secret, h, nil)
	}
	_, err := parseSignature(h.Get(signatureHeader(p)))
	return err
}

// readSigned reads body whole and its HMAC-SHA256 under secret in one pass.
func readSigned(body io.Reader, secret []byte) ([]byte, []byte, error) {
	mac := hmac.New(sha256.New, secret)
	var buf bytes.Buffer
	if _, err := io.Copy(io.MultiWriter(&buf, mac), body); err != nil {
		return nil, nil, err
	}
	return buf.Bytes(), mac.Sum(nil), nil
}

// verifySum checks the signature header against sum, the body's HMAC
// (GitLab's token was checked by precheck).
func verifySum(p Provider, secret []byte, h http.Header, sum []byte) error {
	if p == GitLab {
		return Verify(p, secret, h, nil)
	}
	got, err := parseSignature(h.Get(signatureHeader(p)))
	if err != nil || !hmac.Equal(got, sum) {
		return ErrBadSignature
	}
	return nil
}

func parseSignature(header string) ([]byte, error) {
	sig, ok := strings.CutPrefix(header, "sha256=")
	if !ok {
		return nil, ErrBadSignature
	}
	got, err := hex.DecodeString(sig)
	if err != nil || len(got) != sha256.Size {
		return nil, ErrBadSignature
	}
	return got, nil
}

func verifyHMAC(secret []byte, header string, body []byte) error {
	sig, ok := strings.CutPrefix(header, "sha256=")
	if !ok {
		return ErrBadSignature
	}
	got, err := hex.DecodeString(sig)
	if err != nil || len(got) != sha256.Size {
		return ErrBadSignature
	}
	mac := hmac.New(sha256.New, secret)
	mac.Write(body)
	if !hmac.Equal(got, mac.Sum(nil)) {
		return ErrBadSignature
	}
	return nil
}

// Sign returns the "sha256=<hex>" signature of body, as senders compute it.
func Sign(secret, body []byte) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// Push is what plumb takes from a verified push payload. It is only a hint:
// it names a repository that plumb must already know (by normalised URL)
// and never chooses a URL, revision or path to fetch.
type Push struct {
	// Repos are the normalised spellings of the pushed repository.
	Repos []string
	// Ref is the pushed ref ("refs/heads/main"), when the payload says.
	Ref string
	// Files changed by the push, when the payload lists them (GitHub,
	// Gitea and GitLab list up to a limit); nil means unknown.
	Files []string
}

// pushPayload covers the fields plumb reads from GitHub, Gitea, GitLab and
// generic payloads.
type pushPayload struct {
	Ref        string `json:"ref"`
	Repository struct {
		CloneURL string `json:"clone_url"`
		SSHURL   string `json:"ssh_url"`
		HTMLURL  string `json:"html_url"`
		// GitLab
		GitHTTPURL string `json:"git_http_url"`
		GitSSHURL  string `json:"git_ssh_url"`
		Homepage   string `json:"homepage"`
		// Bitbucket
		Links struct {
			HTML struct {
				Href string `json:"href"`
			} `json:"html"`
		} `json:"links"`
	} `json:"repository"`
	Commits []struct {
		Added    []string `json:"added"`
		Modified []string `json:"modified"`
		Removed  []string `json:"removed"`
	} `json:"commits"`
	Push struct { // Bitbucket
		Changes []struct {
			New *struct {
				Name string `json:"name"`
				Type string `json:"type"`
			} `json:"new"`
		} `json:"changes"`
	} `json:"push"`
}

// ParsePush reads a verified push payload.
func ParsePush(p Provider, body []byte) (Push, error) {
	var pl pushPayload
	if err := json.Unmarshal(body, &pl); err != nil {
		return Push{}, fmt.Errorf("%w: %v", ErrBadPayload, err)
	}
	var push Push
	seen := map[string]bool{}
	r := pl.Repository
	for _, u := range []string{r.CloneURL, r.SSHURL, r.HTMLURL, r.GitHTTPURL, r.GitSSHURL, r.Homepage, r.Links.HTML.Href} {
		if u == "" {
			continue
		}
		n, err := NormalizeURL(u)
		if err == nil && !seen[n] {
			seen[n] = true
			push.Repos = append(push.Repos, n)
		}
	}
	if len(push.Repos) == 0 {
		return Push{}, fmt.Errorf("%w: no repository URL", ErrBadPayload)
	}
	push.Ref = pl.Ref
	if p == Bitbucket {
		for _, c := range pl.Push.Changes {
			if c.New != nil && c.New.Type == "branch" {
				push.Ref = "refs/heads/" + c.New.Name
			}
		}
		return push, nil
	}
	// GitHub lists at most 20 commits, and merges list no files: then the
	// files are unknown, never "none".
	if len(pl.Commits) > 0 && len(pl.Commits) < 20 {
		files := map[string]bool{}
		for _, c := range pl.Commits {
			if len(c.Added)+len(c.Modified)+len(c.Removed) == 0 {
				return push, nil // a merge (or a truncated list): files unknown
			}
			for _, list := range [][]string{c.Added, c.Modified, c.Removed} {
				for _, f := range list {
					if !files[f] {
						files[f] = true
						push.Files = append(push.Files, f)
					}
				}
			}
		}
	}
	return push, nil
}
