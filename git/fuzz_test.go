package git

import (
	"net/http"
	"strings"
	"testing"
)

// FuzzNormalizeURL: never panics, and a normalised key is a fixed point.
func FuzzNormalizeURL(f *testing.F) {
	for _, s := range []string{"https://github.com/o/r.git", "git@host:o/r", "ssh://u@h:22/p", "http://[::1]:80/x", "h:/", "https://u:p@h/a?b#c"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := NormalizeURL(s)
		if err != nil {
			return
		}
		again, err := NormalizeURL("https://" + n)
		if err != nil || again != n {
			t.Errorf("NormalizeURL(%q) = %q, but normalising https://%s gives %q, %v", s, n, n, again, err)
		}
		if strings.Contains(n, "@") && strings.Contains(s, "@") && !strings.Contains(strings.SplitN(n, "/", 2)[1], "@") {
			t.Errorf("userinfo survived in %q", n)
		}
	})
}

// FuzzVerify: a signature verifies only the body it was made for.
func FuzzVerify(f *testing.F) {
	f.Add([]byte("secret"), []byte(`{"ref":"refs/heads/main"}`), []byte("x"))
	f.Add([]byte("k"), []byte{}, []byte{0})
	f.Fuzz(func(t *testing.T, secret, body, other []byte) {
		if len(secret) == 0 {
			return
		}
		h := http.Header{}
		h.Set("X-Hub-Signature-256", Sign(secret, body))
		if err := Verify(GitHub, secret, h, body); err != nil {
			t.Fatalf("own signature rejected: %v", err)
		}
		if string(other) != string(body) {
			if err := Verify(GitHub, secret, h, other); err == nil {
				t.Fatalf("signature of %q accepted for %q", body, other)
			}
		}
	})
}

// FuzzParsePush: any payload parses or fails cleanly.
func FuzzParsePush(f *testing.F) {
	f.Add([]byte(`{"ref":"refs/heads/main","repository":{"clone_url":"https://h/o/r.git"},"commits":[{"added":["a"]}]}`))
	f.Add([]byte(`{"repository":{"links":{"html":{"href":"https://bitbucket.org/t/a"}}},"push":{"changes":[{"new":null}]}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, p := range []Provider{GitHub, GitLab, Bitbucket} {
			push, err := ParsePush(p, body)
			if err == nil && len(push.Repos) == 0 {
				t.Fatal("a parsed push names no repository")
			}
		}
	})
}
