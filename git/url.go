package git

import (
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"strings"
	"unicode"
	"unicode/utf8"
)

// NormalizeURL reduces the spellings of one repository to one key, so a
// webhook payload's clone URL, HTML URL or SSH address finds the App that
// names the repository differently: scheme-less scp syntax
// (git@host:org/repo) becomes ssh://host/org/repo; the host is lowercased;
// userinfo, query, fragment, a trailing ".git" and slashes are dropped; the
// default port goes. It returns host/path, without a scheme, since a push to
// one protocol is a push to all.
func NormalizeURL(raw string) (string, error) {
	s := strings.TrimSpace(raw)
	if s == "" {
		return "", fmt.Errorf("empty repository URL")
	}
	if !strings.Contains(s, "://") {
		// scp-like: [user@]host:path (a colon before any slash).
		colon, slash := strings.Index(s, ":"), strings.Index(s, "/")
		if colon > 0 && (slash < 0 || colon < slash) {
			s = "ssh://" + s[:colon] + "/" + strings.TrimPrefix(s[colon+1:], "/")
		} else {
			return "", fmt.Errorf("repository URL %q: no scheme and not host:path", Redact(raw))
		}
	}
	u, err := url.Parse(s)
	if err != nil {
		// Not the parser's message: it quotes parts of the URL, and a
		// password with a "#" or ":" is exactly what fails to parse.
		return "", fmt.Errorf("repository URL %q: not a valid URL", Redact(raw))
	}
	if u.Host == "" {
		return "", fmt.Errorf("repository URL %q: no host", Redact(raw))
	}
	host := strings.ToLower(u.Hostname())
	if host == "" {
		return "", fmt.Errorf("repository URL %q: no host", Redact(raw))
	}
	if strings.Contains(host, ":") {
		if _, err := netip.ParseAddr(host); err != nil {
			return "", fmt.Errorf("repository URL %q: invalid host", Redact(raw))
		}
		host = "[" + host + "]" // IPv6
	}
	if port := u.Port(); port != "" && !(port == "443" && u.Scheme == "https") && !(port == "80" && u.Scheme == "http") && !(port == "22" && u.Scheme == "ssh") {
		host += ":" + port
	}
	p := strings.Trim(u.Path, "/")
	p = strings.TrimSuffix(p, ".git")
	p = strings.Trim(p, "/")
	if p == "" {
		return "", fmt.Errorf("repository URL %q: no repository path", Redact(raw))
	}
	if !validHost(host) || strings.IndexFunc(p, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) || r == utf8.RuneError }) >= 0 {
		return "", fmt.Errorf("repository URL %q: invalid characters", Redact(raw))
	}
	return host + "/" + p, nil
}

// CheckURL refuses a repository URL whose transport plumb does not use:
// https and ssh (scp-like user@host:path too) always, http only with
// allowHTTP. file:// and other local transports would read the disk of
// the controller (another App's cached clone, without its credentials).
func CheckURL(raw string, allowHTTP bool) error {
	s := strings.TrimSpace(raw)
	scheme, _, ok := strings.Cut(s, "://")
	if !ok {
		if _, err := NormalizeURL(s); err != nil {
			return err
		}
		return nil // scp-like: ssh
	}
	switch strings.ToLower(scheme) {
	case "https", "ssh":
		return nil
	case "http":
		if allowHTTP {
			return nil
		}
		return fmt.Errorf("repository URL %q: plain http is off (allow it with --git-allow-http)", Redact(raw))
	}
	return fmt.Errorf("repository URL %q: scheme %q is not allowed (https or ssh)", Redact(raw), scheme)
}

// urlSecrets are the parts of a URL that may be credentials: the user
// name, the password, the query and each query value.
func urlSecrets(raw string) []string {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil {
		return nil
	}
	var out []string
	if u.User != nil {
		out = append(out, u.User.Username())
		if p, ok := u.User.Password(); ok {
			out = append(out, p)
		}
	}
	if u.RawQuery != "" {
		out = append(out, u.RawQuery)
		for _, vs := range u.Query() {
			out = append(out, vs...)
		}
	}
	return out
}

// validHost accepts DNS names, IPv4 and bracketed IPv6, with a port.
func validHost(h string) bool {
	for _, r := range h {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || strings.ContainsRune(".-:[]_", r)) {
			return false
		}
	}
	return true
}

// Redact removes credentials from a URL for messages: userinfo and query
// strings (tokens travel in both). Text that is not a URL is returned
// unchanged.
func Redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return redactUnparsable(raw)
	}
	if u.Host == "" {
		if at := strings.Index(raw, "@"); at > 0 && !strings.Contains(raw[:at], "/") && !strings.Contains(raw, "://") {
			return "redacted" + raw[at:] // scp-like user@host:path
		}
		return raw
	}
	if u.User != nil {
		u.User = url.User("redacted")
	}
	if u.RawQuery != "" {
		u.RawQuery = "redacted"
	}
	u.Fragment = ""
	return u.String()
}

// redactUnparsable hides what could be userinfo in text url.Parse refused:
// everything between "://" and the last "@" before the path.
func redactUnparsable(raw string) string {
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok {
		if at := strings.Index(raw, "@"); at > 0 && !strings.Contains(raw[:at], "/") {
			return "redacted" + raw[at:] // scp-like user@host:path
		}
		return raw
	}
	authority, path, _ := strings.Cut(rest, "/")
	if at := strings.LastIndex(authority, "@"); at >= 0 {
		authority = "redacted" + authority[at:]
	}
	if q := strings.IndexAny(path, "?#"); q >= 0 {
		path = path[:q]
	}
	if path != "" {
		return scheme + "://" + authority + "/" + path
	}
	return scheme + "://" + authority
}

// scrubErr removes the credentials from an error's text (go-git and
// net/http quote URLs they were given): the Secret's password, and what
// the URL itself carries (user name, password, query).
func scrubErr(err error, url string, cred *Credentials) error {
	secrets := urlSecrets(url)
	if cred != nil {
		secrets = append(secrets, cred.Password)
	}
	msg := err.Error()
	scrubbed := msg
	for _, s := range secrets {
		if len(s) >= 3 { // shorter ones would mangle the text, not hide much
			scrubbed = strings.ReplaceAll(scrubbed, s, "redacted")
		}
	}
	if scrubbed == msg {
		return err
	}
	return errors.New(scrubbed)
}
