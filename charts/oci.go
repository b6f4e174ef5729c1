package charts

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/Masterminds/semver/v3"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/registry/remote"
	"oras.land/oras-go/v2/registry/remote/auth"
)

// chartLayer is the media type of a Helm chart's archive in an OCI
// manifest (what helm push writes).
const chartLayer = "application/vnd.cncf.helm.chart.content.v1.tar+gzip"

// ociRepository opens the registry repository of ref (oci://host/path plus
// the chart's name), with credentials for its host only. oras-go is used
// directly rather than Helm's registry client because that client takes no
// context, so a hanging registry could not be cancelled.
func (f *Fetcher) ociRepository(ref Ref, cred *Credentials) (*remote.Repository, error) {
	if _, err := checkScheme(ref.RepoURL, f.opts); err != nil {
		return nil, err
	}
	name := strings.TrimSuffix(strings.TrimPrefix(ref.RepoURL, "oci://"), "/") + "/" + ref.Name
	repo, err := remote.NewRepository(name)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", redact(ref.RepoURL), err)
	}
	repo.PlainHTTP = f.opts.AllowHTTP
	client := &auth.Client{Client: f.http, Cache: auth.NewCache(), Header: map[string][]string{"User-Agent": {"plumb"}}}
	if cred != nil {
		c := auth.Credential{Username: cred.Username, Password: cred.Password, AccessToken: cred.BearerToken}
		client.Credential = auth.StaticCredential(repo.Reference.Registry, c)
	}
	repo.Client = client
	return repo, nil
}

// resolveOCI picks the highest tag that satisfies ref's version (an exact
// version is taken as it is) and resolves it to its manifest's chart layer.
func (f *Fetcher) resolveOCI(ctx context.Context, ref Ref, cred *Credentials) (Resolved, error) {
	repo, err := f.ociRepository(ref, cred)
	if err != nil {
		return Resolved{}, err
	}
	version := ref.Version
	if _, err := semver.StrictNewVersion(version); err != nil {
		if version, err = highestTag(ctx, repo, ref); err != nil {
			return Resolved{}, err
		}
	}
	tag := strings.ReplaceAll(version, "+", "_") // helm push's tag for build metadata
	desc, err := repo.Resolve(ctx, tag)
	if err != nil {
		return Resolved{}, fmt.Errorf("chart %q version %q %w in %s (%v)", ref.Name, version, ErrNotFound, redact(ref.RepoURL), err)
	}
	raw, err := content.FetchAll(ctx, repo, desc)
	if err != nil {
		return Resolved{}, fmt.Errorf("%s %s@%s: manifest: %w", redact(ref.RepoURL), ref.Name, version, err)
	}
	var m ocispec.Manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		return Resolved{}, fmt.Errorf("%s %s@%s: manifest: %w", redact(ref.RepoURL), ref.Name, version, err)
	}
	for _, l := range m.Layers {
		if l.MediaType == chartLayer {
			return Resolved{Ref: ref, Version: version, Digest: l.Digest.String(), URL: ref.RepoURL + "/" + ref.Name + ":" + tag}, nil
		}
	}
	return Resolved{}, fmt.Errorf("%s %s@%s: the manifest has no Helm chart layer (%s)", redact(ref.RepoURL), ref.Name, version, chartLayer)
}

// highestTag is the highest semver tag that ref's constraint allows.
func highestTag(ctx context.Context, repo *remote.Repository, ref Ref) (string, error) {
	constraint, err := semver.NewConstraint(versionOrAny(ref.Version))
	if err != nil {
		return "", fmt.Errorf("chart %q: version %q: %w", ref.Name, ref.Version, err)
	}
	var best *semver.Version
	err = repo.Tags(ctx, "", func(tags []string) error {
		for _, t := range tags {
			v, err := semver.StrictNewVersion(strings.ReplaceAll(t, "_", "+"))
			if err == nil && constraint.Check(v) && (best == nil || v.GreaterThan(best)) {
				best = v
			}
		}
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("%s %s: tags: %w", redact(ref.RepoURL), ref.Name, err)
	}
	if best == nil {
		return "", fmt.Errorf("chart %q version %q %w in %s", ref.Name, versionOrAny(ref.Version), ErrNotFound, redact(ref.RepoURL))
	}
	return best.Original(), nil
}

// pullOCI fetches the chart layer of r, verified against its digest.
func (f *Fetcher) pullOCI(ctx context.Context, r Resolved, cred *Credentials) ([]byte, error) {
	repo, err := f.ociRepository(r.Ref, cred)
	if err != nil {
		return nil, err
	}
	desc, err := repo.Blobs().Resolve(ctx, r.Digest)
	if err != nil {
		return nil, fmt.Errorf("%s %s@%s: %w", redact(r.Ref.RepoURL), r.Ref.Name, r.Version, err)
	}
	if max := f.opts.Limits.withDefaults().MaxArchiveBytes; desc.Size > max {
		return nil, fmt.Errorf("%s %s@%s: %w: %d bytes is over the %d-byte limit", redact(r.Ref.RepoURL), r.Ref.Name, r.Version, ErrBadArchive, desc.Size, max)
	}
	data, err := content.FetchAll(ctx, repo.Blobs(), desc)
	if err != nil {
		return nil, fmt.Errorf("%s %s@%s: %w", redact(r.Ref.RepoURL), r.Ref.Name, r.Version, err)
	}
	return data, nil
}
