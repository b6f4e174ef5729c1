package git

import (
	"errors"
	"strings"
	"testing"
)

func TestCheckURL(t *testing.T) {
	cases := []struct {
		url       string
		allowHTTP bool
		want      string // "" for accepted
	}{
		{"https://github.com/org/repo.git", false, ""},
		{"ssh://git@github.com/org/repo.git", false, ""},
		{"git@github.com:org/repo.git", false, ""},
		{"http://git.internal/org/repo.git", true, ""},
		{"http://git.internal/org/repo.git", false, "plain http is off"},
		{"file:///var/cache/plumb/git/other", false, `scheme "file" is not allowed`},
		{"file://localhost/var/cache/plumb/git/other", true, `scheme "file" is not allowed`},
		{"ext::sh -c touch% /tmp/pwned", false, "not a valid URL"},
		{"git://github.com/org/repo", false, `scheme "git" is not allowed`},
		{"http://tok-user:tok-pass@git.internal/r.git?token=tok-query", false, "plain http is off"},
	}
	for _, tc := range cases {
		t.Run(tc.url, func(t *testing.T) {
			err := CheckURL(tc.url, tc.allowHTTP)
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("refused: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("error %v, want one saying %q", err, tc.want)
			}
			if err != nil && strings.Contains(err.Error(), "tok-") {
				t.Errorf("the error shows a credential: %v", err)
			}
		})
	}
}

func TestScrubErrHidesURLCredentials(t *testing.T) {
	url := "https://tok-user:tok-pass@git.example.com/r.git?token=tok-query"
	err := scrubErr(errors.New(`Get "https://tok-user:xxxxx@git.example.com/r.git/info/refs?token=tok-query&service=git-upload-pack": dial tcp: refused`), url, &Credentials{Password: "tok-secret"})
	for _, s := range []string{"tok-user", "tok-pass", "tok-query", "tok-secret"} {
		if strings.Contains(err.Error(), s) {
			t.Errorf("%q left in %v", s, err)
		}
	}
}
