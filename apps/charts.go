package apps

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"strings"

	"helm.sh/helm/v3/pkg/chart"
	"sigs.k8s.io/yaml"

	"github.com/plumbhq/plumb/charts"
	"github.com/plumbhq/plumb/render"
)

// Charts is what a Helm render may fetch. A nil *Charts fetches nothing:
// a chart that needs a dependency it does not vendor then fails to render,
// naming it.
type Charts struct {
	Fetcher *charts.Fetcher
	// Credentials returns the credentials for a repository URL (nil: none).
	Credentials func(repoURL string) *charts.Credentials
	// Offline refuses to fetch: every chart must be in the cache already.
	Offline bool
}

// PrepareCharts fetches what the Helm render of src needs and puts it in
// opts: the chart itself when the App names one in a repository (chart),
// and every dependency the chart lists but does not vendor (at the
// versions its Chart.lock pins, when it has one, verified to be in step
// with Chart.yaml). It returns what it resolved, for revisions and report
// headers. Sources that are no Helm chart are left alone.
func PrepareCharts(ctx context.Context, src render.Source, opts *render.Options, chart *charts.Ref, c *Charts) ([]charts.Resolved, error) {
	var resolved []charts.Resolved
	var meta chartMeta
	var err error
	if chart != nil {
		r, data, err := c.get(ctx, *chart)
		if err != nil {
			return nil, err
		}
		resolved = append(resolved, r)
		opts.Helm.Chart = &render.ChartArchive{Name: chart.Name + "-" + r.Version + ".tgz", Data: data}
		if meta, err = archiveMeta(opts.Helm.Chart); err != nil {
			return nil, err
		}
	} else if meta, err = dirMeta(src, opts.Renderer); err != nil || meta.chart == nil {
		return nil, err
	}
	deps, err := meta.unvendored()
	if err != nil {
		return nil, err
	}
	for _, d := range deps {
		r, data, err := c.get(ctx, charts.Ref{RepoURL: d.Repository, Name: d.Name, Version: d.Version})
		if err != nil {
			return nil, fmt.Errorf("%s: dependency %s: %w", meta.file("Chart.yaml"), d.Name, err)
		}
		resolved = append(resolved, r)
		opts.Helm.Dependencies = append(opts.Helm.Dependencies, render.ChartArchive{Name: d.Name + "-" + r.Version + ".tgz", Data: data})
	}
	return resolved, nil
}

// get fetches ref, or says why it cannot.
func (c *Charts) get(ctx context.Context, ref charts.Ref) (charts.Resolved, []byte, error) {
	if c == nil || c.Fetcher == nil {
		return charts.Resolved{}, nil, fmt.Errorf("chart %s: fetching charts is not enabled here", ref)
	}
	var cred *charts.Credentials
	if c.Credentials != nil {
		cred = c.Credentials(ref.RepoURL)
	}
	if c.Offline {
		return c.Fetcher.Cached(ref)
	}
	return c.Fetcher.Get(ctx, ref, cred)
}

// chartMeta is what dependency resolution reads of a chart.
type chartMeta struct {
	name     string // for errors: the chart's directory or archive
	archive  bool
	chart    *chart.Metadata
	lock     *chart.Lock
	vendored map[string]bool // names under charts/: directories and <name>-<version>.tgz
}

// dirMeta reads the chart in src's directory (nil chart when it is none),
// confined to the checkout.
func dirMeta(src render.Source, renderer render.Renderer) (chartMeta, error) {
	if renderer != render.Auto && renderer != render.Helm {
		return chartMeta{}, nil
	}
	root, err := os.OpenRoot(src.Root)
	if err != nil {
		return chartMeta{}, err
	}
	defer root.Close()
	dir := path.Clean(src.Path)
	m := chartMeta{name: dir, vendored: map[string]bool{}}
	data, err := root.ReadFile(path.Join(dir, "Chart.yaml"))
	if errors.Is(err, fs.ErrNotExist) {
		return chartMeta{}, nil
	}
	if err != nil {
		return chartMeta{}, err
	}
	lock, _ := root.ReadFile(path.Join(dir, "Chart.lock"))
	entries, _ := fs.ReadDir(root.FS(), path.Join(dir, "charts"))
	for _, e := range entries {
		m.vendored[e.Name()] = true
	}
	return m, m.parse(data, lock)
}

// archiveMeta reads a chart archive's Chart.yaml, Chart.lock and charts/.
func archiveMeta(a *render.ChartArchive) (chartMeta, error) {
	files, err := charts.Unpack(a.Name, a.Data, charts.Limits{})
	if err != nil {
		return chartMeta{}, err
	}
	m := chartMeta{name: a.Name, archive: true, vendored: map[string]bool{}}
	var meta, lock []byte
	for _, f := range files {
		switch {
		case f.Name == "Chart.yaml":
			meta = f.Data
		case f.Name == "Chart.lock":
			lock = f.Data
		case strings.HasPrefix(f.Name, "charts/"):
			m.vendored[strings.SplitN(strings.TrimPrefix(f.Name, "charts/"), "/", 2)[0]] = true
		}
	}
	if meta == nil {
		return chartMeta{}, fmt.Errorf("%s: no Chart.yaml", a.Name)
	}
	return m, m.parse(meta, lock)
}

// file names one of the chart's files in errors.
func (m chartMeta) file(name string) string {
	if m.archive {
		return m.name + ": " + name
	}
	return path.Join(m.name, name)
}

func (m *chartMeta) parse(meta, lock []byte) error {
	m.chart = &chart.Metadata{}
	if err := yaml.Unmarshal(meta, m.chart); err != nil {
		return fmt.Errorf("%s: %w", m.file("Chart.yaml"), err)
	}
	if lock != nil {
		m.lock = &chart.Lock{}
		if err := yaml.Unmarshal(lock, m.lock); err != nil {
			return fmt.Errorf("%s: %w", m.file("Chart.lock"), err)
		}
	}
	return nil
}

// unvendored lists the dependencies to fetch, at the lock's versions.
func (m chartMeta) unvendored() ([]*chart.Dependency, error) {
	if len(m.chart.Dependencies) == 0 {
		return nil, nil
	}
	pinned := map[string]string{}
	if m.lock != nil {
		sum, err := hashReq(m.chart.Dependencies, m.lock.Dependencies)
		if err != nil {
			return nil, err
		}
		if sum != m.lock.Digest {
			return nil, fmt.Errorf("%s: the lock file (Chart.lock) is out of sync with the dependencies file (Chart.yaml): its digest is %s, Chart.yaml's dependencies hash to %s; run helm dependency update", m.file("Chart.lock"), m.lock.Digest, sum)
		}
		for _, d := range m.lock.Dependencies {
			pinned[d.Name] = d.Version
		}
	}
	var out []*chart.Dependency
	for _, d := range m.chart.Dependencies {
		if m.isVendored(d.Name) || d.Repository == "" {
			continue // vendored, or left to render's check to name
		}
		switch {
		case strings.HasPrefix(d.Repository, "https://"), strings.HasPrefix(d.Repository, "http://"), strings.HasPrefix(d.Repository, "oci://"):
		case strings.HasPrefix(d.Repository, "file://"):
			return nil, fmt.Errorf("%s: dependency %s: a file:// repository must be vendored under charts/ (helm dependency build)", m.file("Chart.yaml"), d.Name)
		default:
			return nil, fmt.Errorf("%s: dependency %s: repository %q is a name from helm repo add; plumb needs the repository's URL", m.file("Chart.yaml"), d.Name, d.Repository)
		}
		dep := *d
		if v, ok := pinned[d.Name]; ok {
			dep.Version = v
		}
		out = append(out, &dep)
	}
	return out, nil
}

func (m chartMeta) isVendored(name string) bool {
	if m.vendored[name] {
		return true
	}
	for v := range m.vendored {
		if strings.HasPrefix(v, name+"-") && strings.HasSuffix(v, ".tgz") {
			return true
		}
	}
	return false
}

// hashReq is the digest Helm writes into Chart.lock for the dependencies of
// Chart.yaml and the lock (helm's internal resolver.HashReq, which cannot be
// imported): sha256 of the JSON of both lists.
func hashReq(req, lock []*chart.Dependency) (string, error) {
	data, err := json.Marshal([2][]*chart.Dependency{req, lock})
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(data)
	return "sha256:" + hex.EncodeToString(sum[:]), nil
}

// Resolve resolves ref (the version to use and its digest) without fetching
// the archive; offline it answers from the cache.
func (c *Charts) Resolve(ctx context.Context, ref charts.Ref) (charts.Resolved, error) {
	if c == nil || c.Fetcher == nil {
		return charts.Resolved{}, fmt.Errorf("chart %s: fetching charts is not enabled here", ref)
	}
	if c.Offline {
		r, _, err := c.Fetcher.Cached(ref)
		return r, err
	}
	var cred *charts.Credentials
	if c.Credentials != nil {
		cred = c.Credentials(ref.RepoURL)
	}
	return c.Fetcher.Resolve(ctx, ref, cred)
}
