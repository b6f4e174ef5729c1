package charts

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/Masterminds/semver/v3"
	"golang.org/x/sync/singleflight"
)

// Fetcher resolves and fetches charts through a Cache. It is safe for
// concurrent use: concurrent requests for one archive share one download.
type Fetcher struct {
	opts    Options
	cache   *Cache
	http    *http.Client
	flights singleflight.Group
}

// NewFetcher returns a Fetcher storing archives in cache.
func NewFetcher(cache *Cache, opts Options) (*Fetcher, error) {
	if opts.Timeout <= 0 {
		opts.Timeout = time.Minute
	}
	hc, err := httpClient(opts)
	if err != nil {
		return nil, err
	}
	return &Fetcher{opts: opts, cache: cache, http: hc}, nil
}

// exact reports whether v names one version rather than a range.
func exact(v string) bool {
	_, err := semver.StrictNewVersion(v)
	return err == nil
}

// Resolve picks the version of ref to use and the digest of its archive. An
// exact version resolved before is answered from the cache with no request;
// a range asks the repository again (for an HTTP repository, a conditional
// GET of its index).
func (f *Fetcher) Resolve(ctx context.Context, ref Ref, cred *Credentials) (Resolved, error) {
	if exact(ref.Version) {
		if r, ok := f.cache.pin(ref, credKey(cred)); ok {
			return r, nil
		}
	}
	var r Resolved
	var err error
	if ref.oci() {
		r, err = f.resolveOCI(ctx, ref, cred)
	} else {
		r, err = f.resolveHTTP(ctx, ref, cred)
	}
	if err != nil {
		return Resolved{}, err
	}
	if r.Digest != "" && exact(ref.Version) {
		_ = f.cache.putPin(r, credKey(cred)) // a miss next time costs one more resolve, no error
	}
	return r, nil
}

// Fetch returns r's archive, from the cache when it holds r's digest, else
// downloaded and checked against it. An index that lists no digest gets the
// digest of what was downloaded (returned in the Resolved).
func (f *Fetcher) Fetch(ctx context.Context, r Resolved, cred *Credentials) (Resolved, []byte, error) {
	if r.Digest != "" {
		if data, ok := f.cache.Archive(r.Digest); ok {
			return r, data, nil
		}
	}
	v, err, _ := f.flights.Do(r.URL+"\x00"+r.Digest+"\x00"+credKey(cred), func() (any, error) {
		var data []byte
		var err error
		if r.Ref.oci() {
			data, err = f.pullOCI(ctx, r, cred)
		} else {
			data, err = f.download(ctx, r, cred)
		}
		return data, err
	})
	if err != nil {
		return r, nil, err
	}
	data := v.([]byte)
	got := DigestOf(data)
	if r.Digest != "" && got != r.Digest {
		return r, nil, fmt.Errorf("%s %s@%s: %w: the archive's digest is %s, the repository says %s", redact(r.Ref.RepoURL), r.Ref.Name, r.Version, ErrBadArchive, got, r.Digest)
	}
	r.Digest = got
	if err := f.cache.PutArchive(got, data); err != nil {
		return r, nil, fmt.Errorf("chart cache: %w", err)
	}
	return r, data, nil
}

// Get resolves ref and fetches its archive.
func (f *Fetcher) Get(ctx context.Context, ref Ref, cred *Credentials) (Resolved, []byte, error) {
	r, err := f.Resolve(ctx, ref, cred)
	if err != nil {
		return Resolved{}, nil, err
	}
	return f.Fetch(ctx, r, cred)
}

// Cached answers Get from the cache alone, for a caller that must not reach
// the network: an exact version fetched before (with the same credentials),
// or an error naming the chart it needs.
func (f *Fetcher) Cached(ref Ref, cred *Credentials) (Resolved, []byte, error) {
	if !exact(ref.Version) {
		return Resolved{}, nil, fmt.Errorf("chart %s: a version range needs its repository, and fetching is off", ref)
	}
	r, ok := f.cache.pin(ref, credKey(cred))
	if ok {
		if data, ok := f.cache.Archive(r.Digest); ok {
			return r, data, nil
		}
	}
	return Resolved{}, nil, fmt.Errorf("chart %s is not in the cache, and fetching is off", ref)
}
