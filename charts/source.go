package charts

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
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
	// AllowHTTP permits http:// repositories, and reaches OCI registries
	// over plain HTTP (oci:// says nothing of the transport; helm's
	// --plain-http is the same switch).
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

// httpClient trusts the system roots plus opts.CABundle. It follows
// redirects to other hosts (registries send blobs to a CDN; Go drops the
// Authorization header on the way) but never from https to http unless
// http is allowed.
func httpClient(opts Options) (*http.Client, error) {
	tr := http.DefaultTransport.(*http.Transport).Clone() // HTTPS_PROXY and friends apply
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
			if req.URL.Scheme == "http" && via[0].URL.Scheme == "https" && !opts.AllowHTTP {
				return fmt.Errorf("redirect from https to http://%s refused", req.URL.Host)
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

// Host is a URL's host[:port] ("" when it does not parse), for matching
// credentials to the repository they belong to.
func Host(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	return u.Host
}

// credKey identifies credentials without holding them: pins and shared
// downloads are per credentials, so an App without access to a private
// chart cannot render it from what another App fetched.
func credKey(c *Credentials) string {
	if c == nil || *c == (Credentials{}) {
		return ""
	}
	sum := sha256.Sum256([]byte(c.Username + "\x00" + c.Password + "\x00" + c.BearerToken))
	return hex.EncodeToString(sum[:8])
}
