package git

import (
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestVerify(t *testing.T) {
	secret := []byte("s3cret")
	body := []byte(`{"ref":"refs/heads/main"}`)
	good := Sign(secret, body)
	hdr := func(k, v string) http.Header { h := http.Header{}; h.Set(k, v); return h }
	tests := []struct {
		name    string
		p       Provider
		h       http.Header
		body    []byte
		secret  []byte
		wantErr error
	}{
		{"github good", GitHub, hdr("X-Hub-Signature-256", good), body, secret, nil},
		{"gitea good", Gitea, hdr("X-Hub-Signature-256", good), body, secret, nil},
		{"bitbucket good", Bitbucket, hdr("X-Hub-Signature", good), body, secret, nil},
		{"generic good", Generic, hdr("X-Plumb-Signature-256", good), body, secret, nil},
		{"gitlab good", GitLab, hdr("X-Gitlab-Token", "s3cret"), body, secret, nil},
		{"github body changed", GitHub, hdr("X-Hub-Signature-256", good), []byte(`{"ref":"refs/heads/evil"}`), secret, ErrBadSignature},
		{"github wrong secret", GitHub, hdr("X-Hub-Signature-256", Sign([]byte("other"), body)), body, secret, ErrBadSignature},
		{"github missing", GitHub, http.Header{}, body, secret, ErrBadSignature},
		{"github sha1 header only", GitHub, hdr("X-Hub-Signature", good), body, secret, ErrBadSignature},
		{"github not hex", GitHub, hdr("X-Hub-Signature-256", "sha256=zz"), body, secret, ErrBadSignature},
		{"github short", GitHub, hdr("X-Hub-Signature-256", good[:20]), body, secret, ErrBadSignature},
		{"gitlab wrong token", GitLab, hdr("X-Gitlab-Token", "s3cre"), body, secret, ErrBadSignature},
		{"gitlab missing", GitLab, http.Header{}, body, secret, ErrBadSignature},
		{"no secret configured", GitHub, hdr("X-Hub-Signature-256", Sign(nil, body)), body, nil, ErrBadSignature},
		{"unknown provider", Provider("svn"), http.Header{}, body, secret, ErrUnknownProvider},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Verify(tt.p, tt.secret, tt.h, tt.body)
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) {
				t.Errorf("Verify = %v, want %v", err, tt.wantErr)
			}
		})
	}
}

func TestParsePush(t *testing.T) {
	tests := []struct {
		name string
		p    Provider
		body string
		want Push
	}{
		{
			name: "github",
			p:    GitHub,
			body: `{"ref":"refs/heads/main","repository":{"clone_url":"https://github.com/Org/Repo.git","ssh_url":"git@github.com:Org/Repo.git","html_url":"https://github.com/Org/Repo"},
				"commits":[{"added":["apps/a/x.yaml"],"modified":["apps/b/values.yaml"],"removed":[]},{"added":[],"modified":["apps/a/x.yaml"],"removed":["old.yaml"]}]}`,
			want: Push{Repos: []string{"github.com/Org/Repo"}, Ref: "refs/heads/main", Files: []string{"apps/a/x.yaml", "apps/b/values.yaml", "old.yaml"}},
		},
		{
			name: "gitlab",
			p:    GitLab,
			body: `{"ref":"refs/heads/dev","repository":{"git_http_url":"https://gitlab.example.com/team/app.git","git_ssh_url":"git@gitlab.example.com:team/app.git","homepage":"https://gitlab.example.com/team/app"},"commits":[{"modified":["a.yaml"]}]}`,
			want: Push{Repos: []string{"gitlab.example.com/team/app"}, Ref: "refs/heads/dev", Files: []string{"a.yaml"}},
		},
		{
			name: "bitbucket",
			p:    Bitbucket,
			body: `{"repository":{"links":{"html":{"href":"https://bitbucket.org/team/app"}}},"push":{"changes":[{"new":{"name":"main","type":"branch"}}]}}`,
			want: Push{Repos: []string{"bitbucket.org/team/app"}, Ref: "refs/heads/main"},
		},
		{
			name: "merge listing no files means unknown",
			p:    Gitea,
			body: `{"ref":"refs/heads/main","repository":{"clone_url":"http://gitea.local:3000/o/r.git"},"commits":[{"added":[],"modified":[],"removed":[]}]}`,
			want: Push{Repos: []string{"gitea.local:3000/o/r"}, Ref: "refs/heads/main"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParsePush(tt.p, []byte(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
	for _, bad := range []string{`not json`, `{"ref":"x"}`, `{"repository":{"clone_url":"::"}}`} {
		if _, err := ParsePush(GitHub, []byte(bad)); !errors.Is(err, ErrBadPayload) {
			t.Errorf("ParsePush(%q) = %v, want ErrBadPayload", bad, err)
		}
	}
}

func TestNormalizeURL(t *testing.T) {
	tests := []struct{ in, want string }{
		{"https://github.com/Org/Repo.git", "github.com/Org/Repo"},
		{"https://GitHub.com/Org/Repo/", "github.com/Org/Repo"},
		{"https://user:token@github.com/Org/Repo.git?x=1#frag", "github.com/Org/Repo"},
		{"git@github.com:Org/Repo.git", "github.com/Org/Repo"},
		{"ssh://git@github.com:22/Org/Repo", "github.com/Org/Repo"},
		{"ssh://git@git.example.com:2222/team/app.git", "git.example.com:2222/team/app"},
		{"https://git.example.com:443/a/b", "git.example.com/a/b"},
		{"http://127.0.0.1:8080/repo.git", "127.0.0.1:8080/repo"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := NormalizeURL(tt.in)
			if err != nil || got != tt.want {
				t.Errorf("NormalizeURL(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
			}
		})
	}
	for _, bad := range []string{"", "just-a-name", "https://", "https://host/", "file:///etc/passwd", "https://bot:s3cr#et@host/r"} {
		got, err := NormalizeURL(bad)
		if err == nil {
			t.Errorf("NormalizeURL(%q) = %q, want an error", bad, got)
		} else if strings.Contains(err.Error(), "s3cr") {
			t.Errorf("NormalizeURL error leaks a password: %v", err)
		}
	}
}

func TestRedact(t *testing.T) {
	for in, want := range map[string]string{
		"https://bot:ab#cd@host/r":                   "https://redacted@host/r",
		"https://user:ghp_token@github.com/o/r.git":  "https://redacted@github.com/o/r.git",
		"https://github.com/o/r.git?private_token=x": "https://github.com/o/r.git?redacted",
		"git@github.com:o/r.git":                     "redacted@github.com:o/r.git",
		"not a url":                                  "not a url",
	} {
		if got := Redact(in); got != want {
			t.Errorf("Redact(%q) = %q, want %q", in, got, want)
		}
		if strings.Contains(Redact(in), "token") && !strings.Contains(in, "not") {
			t.Errorf("Redact(%q) kept a token", in)
		}
	}
}
