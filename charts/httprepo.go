package charts

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"helm.sh/helm/v3/pkg/repo"
	"sigs.k8s.io/yaml"
)

// resolveHTTP finds ref in its repository's index.yaml, fetched with the
// cached index's ETag so that an unchanged index costs a 304.
func (f *Fetcher) resolveHTTP(ctx context.Context, ref Ref, cred *Credentials) (Resolved, error) {
	base, err := checkScheme(ref.RepoURL, f.opts)
	if err != nil {
		return Resolved{}, err
	}
	indexURL := strings.TrimSuffix(base.String(), "/") + "/index.yaml"
	body, err := f.index(ctx, indexURL, base, cred)
	if err != nil {
		return Resolved{}, err
	}
	var idx repo.IndexFile
	if err := yaml.Unmarshal(body, &idx); err != nil {
		return Resolved{}, fmt.Errorf("%s: index.yaml: %w", redact(ref.RepoURL), err)
	}
	idx.SortEntries()
	cv, err := idx.Get(ref.Name, ref.Version)
	if err != nil {
		return Resolved{}, fmt.Errorf("chart %q version %q %w in %s repository (%v)", ref.Name, versionOrAny(ref.Version), ErrNotFound, redact(ref.RepoURL), err)
	}
	if len(cv.URLs) == 0 {
		return Resolved{}, fmt.Errorf("chart %q version %q in %s: the index lists no URL", ref.Name, cv.Version, redact(ref.RepoURL))
	}
	dir := *base // relative URLs resolve against the repository as a directory, as Helm's do
	dir.Path = strings.TrimSuffix(dir.Path, "/") + "/"
	chartURL, err := dir.Parse(cv.URLs[0])
	if err != nil {
		return Resolved{}, fmt.Errorf("chart %q version %q in %s: URL %q: %w", ref.Name, cv.Version, redact(ref.RepoURL), redact(cv.URLs[0]), err)
	}
	if chartURL.Host != base.Host && !f.opts.AllowOtherHosts {
		return Resolved{}, fmt.Errorf("chart %q version %q in %s: its archive is on another host (%s), which is not allowed", ref.Name, cv.Version, redact(ref.RepoURL), chartURL.Host)
	}
	if _, err := checkScheme(chartURL.String(), f.opts); err != nil {
		return Resolved{}, err
	}
	digest := ""
	if cv.Digest != "" {
		digest = "sha256:" + strings.TrimPrefix(cv.Digest, "sha256:")
	}
	return Resolved{Ref: ref, Version: cv.Version, Digest: digest, URL: chartURL.String()}, nil
}

// index returns the body of indexURL, from the cache when the server says
// it has not changed.
func (f *Fetcher) index(ctx context.Context, indexURL string, base *url.URL, cred *Credentials) ([]byte, error) {
	cached, have := f.cache.index(indexURL)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, indexURL, nil)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", redact(indexURL), err)
	}
	if have && cached.ETag != "" {
		req.Header.Set("If-None-Match", cached.ETag)
	}
	resp, err := f.do(req, base, cred)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotModified && have {
		return cached.Body, nil
	}
	body, err := readBody(resp, indexURL, f.opts.MaxIndexBytes)
	if err != nil {
		return nil, err
	}
	if etag := resp.Header.Get("ETag"); etag != "" {
		_ = f.cache.putIndex(indexURL, cachedIndex{ETag: etag, Body: body}) // a cache miss next time is no error
	}
	return body, nil
}

// download fetches an archive from a Helm repository.
func (f *Fetcher) download(ctx context.Context, r Resolved, cred *Credentials) ([]byte, error) {
	base, err := checkScheme(r.Ref.RepoURL, f.opts)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.URL, nil)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", redact(r.URL), err)
	}
	resp, err := f.do(req, base, cred)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	return readBody(resp, r.URL, f.opts.Limits.withDefaults().MaxArchiveBytes)
}

// do sends req, with the credentials only when it goes to the repository's
// own host.
func (f *Fetcher) do(req *http.Request, base *url.URL, cred *Credentials) (*http.Response, error) {
	if cred != nil && req.URL.Host == base.Host {
		switch {
		case cred.BearerToken != "":
			req.Header.Set("Authorization", "Bearer "+cred.BearerToken)
		case cred.Username != "" || cred.Password != "":
			req.SetBasicAuth(cred.Username, cred.Password)
		}
	}
	req.Header.Set("User-Agent", "plumb")
	resp, err := f.http.Do(req)
	if err != nil {
		// url.Error carries the URL; keep only its redacted form.
		if ue, ok := err.(*url.Error); ok {
			err = ue.Err
		}
		return nil, fmt.Errorf("GET %s: %w", redact(req.URL.String()), err)
	}
	return resp, nil
}

// readBody reads a successful response up to max bytes.
func readBody(resp *http.Response, what string, max int64) ([]byte, error) {
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", redact(what), resp.Status)
	}
	if max <= 0 {
		max = 64 << 20
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, max+1))
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", redact(what), err)
	}
	if int64(len(body)) > max {
		return nil, fmt.Errorf("GET %s: over the %d-byte limit", redact(what), max)
	}
	return body, nil
}

func versionOrAny(v string) string {
	if v == "" {
		return "*"
	}
	return v
}
