package charts

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Ref names a chart in a repository: RepoURL is https://… (a Helm chart
// repository) or oci://host/path (an OCI registry, the chart at path/Name),
// Version an exact version or a semver range ("" for the newest).
type Ref struct {
	RepoURL string
	Name    string
	Version string
}

func (r Ref) String() string {
	v := r.Version
	if v == "" {
		v = "*"
	}
	return fmt.Sprintf("%s %s@%s", redact(r.RepoURL), r.Name, v)
}

// oci reports whether the chart lives in an OCI registry.
func (r Ref) oci() bool { return strings.HasPrefix(r.RepoURL, "oci://") }

// Resolved is one version of a chart and the digest of its archive
// ("sha256:<hex>"); URL is where the archive is fetched from.
type Resolved struct {
	Ref     Ref
	Version string
	Digest  string
	URL     string
}

// Revision is the form status and report headers show: name@version/digest.
func (r Resolved) Revision() string { return r.Ref.Name + "@" + r.Version + "/" + r.Digest }

// Credentials for a repository, by the Secret conventions plumb uses for
// Git: username and password (basic auth), or a bearer token.
type Credentials struct {
	Username, Password string
	BearerToken        string
}

// Options configure fetching.
type Options struct {
	// CABundle (PEM) is trusted besides the system's roots.
	CABundle []byte
	// AllowHTTP permits http:// repositories and plain-HTTP registries.
	AllowHTTP bool
	// AllowOtherHosts lets an index point chart downloads at other hosts
	// (they get no credentials).
	AllowOtherHosts bool
	// MaxIndexBytes caps an index.yaml (default 64 MiB).
	MaxIndexBytes int64
	// Limits bound the archives.
	Limits Limits
	// Timeout bounds one request (default 1 minute).
	Timeout time.Duration
}

// ErrNotFound marks a chart or version that its repository does not hold.
var ErrNotFound = errors.New("not found")

// httpClient trusts the system roots plus opts.CABundle and never follows
// a redirect to another host (which would carry credentials there).
func httpClient(opts Options) (*http.Client, error) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.Proxy = nil
	if len(opts.CABundle) > 0 {
		pool, err := x509.SystemCertPool()
		if err != nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(opts.CABundle) {
			return nil, errors.New("CA bundle: no PEM certificate in it")
		}
		tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	return &http.Client{
		Transport: tr,
		Timeout:   opts.Timeout,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) >= 5 {
				return errors.New("too many redirects")
			}
			if req.URL.Host != via[0].URL.Host {
				return fmt.Errorf("redirect to another host (%s) refused", req.URL.Host)
			}
			return nil
		},
	}, nil
}

// checkScheme refuses what the options do not allow.
func checkScheme(raw string, opts Options) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("repository URL %q: not a URL", redact(raw))
	}
	switch u.Scheme {
	case "https", "oci":
		return u, nil
	case "http":
		if opts.AllowHTTP {
			return u, nil
		}
		return nil, fmt.Errorf("repository %s: http is not allowed (allow it explicitly, or use https)", redact(raw))
	}
	return nil, fmt.Errorf("repository %s: scheme %q is not https, oci or (when allowed) http", redact(raw), u.Scheme)
}

// redact drops user information and queries from a URL for messages.
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparseable URL)"
	}
	u.User = nil
	u.RawQuery, u.Fragment = "", ""
	return u.String()
}
