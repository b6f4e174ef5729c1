package apps

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"

	"helm.sh/helm/v3/pkg/chart"
	"sigs.k8s.io/yaml"

	"github.com/plumbhq/plumb/api/v1alpha1"
	"github.com/plumbhq/plumb/charts"
	"github.com/plumbhq/plumb/render"
)

// Charts is what a Helm render may fetch. A nil *Charts fetches nothing:
// a chart that needs a dependency it does not vendor then fails to render,
// naming it.
type Charts struct {
	// Fetcher fetches; Open, when Fetcher is nil, makes it on first use
	// (a CLI run that renders no remote chart opens no cache).
	Fetcher *charts.Fetcher
	Open    func() (*charts.Fetcher, error)
	// Credentials returns the credentials for a repository URL (nil: none).
	Credentials func(repoURL string) *charts.Credentials
	// Offline refuses to fetch: every chart must be in the cache already.
	Offline bool
	// Hosts, if not nil, are the only repository hosts charts may come
	// from (plumb preview: a pull request must not choose what CI fetches).
	Hosts map[string]bool
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
	f, cred, err := c.fetcher(ref)
	if err != nil {
		return charts.Resolved{}, nil, err
	}
	if c.Offline {
		return f.Cached(ref, cred)
	}
	return f.Get(ctx, ref, cred)
}

// fetcher is the Fetcher for ref and its credentials, once ref passes the
// host check.
func (c *Charts) fetcher(ref charts.Ref) (*charts.Fetcher, *charts.Credentials, error) {
	if c == nil || (c.Fetcher == nil && c.Open == nil) {
		return nil, nil, fmt.Errorf("chart %s: fetching charts is not enabled here", ref)
	}
	if c.Hosts != nil && !c.Hosts[charts.Host(ref.RepoURL)] {
		return nil, nil, fmt.Errorf("chart %s: its repository's host is not one the base revision uses (allow it with --chart-allow-host)", ref)
	}
	if c.Fetcher == nil {
		f, err := c.Open()
		if err != nil {
			return nil, nil, err
		}
		c.Fetcher = f
	}
	var cred *charts.Credentials
	if c.Credentials != nil {
		cred = c.Credentials(ref.RepoURL)
	}
	return c.Fetcher, cred, nil
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
	if renderer == render.Auto {
		for _, k := range []string{"kustomization.yaml", "kustomization.yml", "Kustomization"} {
			if _, err := root.Stat(path.Join(dir, k)); err == nil {
				return chartMeta{}, nil // a Kustomize directory, as render detects it
			}
		}
	}
	m := chartMeta{name: dir, vendored: map[string]bool{}}
	data, err := readCapped(root, path.Join(dir, "Chart.yaml"))
	if errors.Is(err, fs.ErrNotExist) {
		return chartMeta{}, nil
	}
	if err != nil {
		return chartMeta{}, err
	}
	lock, err := readCapped(root, path.Join(dir, "Chart.lock"))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return chartMeta{}, err
	}
	entries, _ := fs.ReadDir(root.FS(), path.Join(dir, "charts"))
	for _, e := range entries {
		m.vendored[e.Name()] = true
	}
	return m, m.parse(data, lock)
}

// maxMetaBytes caps Chart.yaml and Chart.lock, untrusted input read before
// render (whose own caps are larger but come later).
const maxMetaBytes = 1 << 20

// readCapped reads a file of root up to maxMetaBytes.
func readCapped(root *os.Root, name string) ([]byte, error) {
	f, err := root.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxMetaBytes+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if len(data) > maxMetaBytes {
		return nil, fmt.Errorf("%s: over the %d-byte limit", name, maxMetaBytes)
	}
	return data, nil
}

// archiveMeta reads a chart archive's Chart.yaml, Chart.lock and charts/.
func archiveMeta(a *render.ChartArchive) (chartMeta, error) {
	files, err := charts.Unpack(a.Name, a.Data, charts.Limits{})
	if err != nil {
		return chartMeta{}, err
	}
	a.Files = files // render takes them as they are, unpacked once
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
	max := render.Limits{}.WithDefaults().MaxFileBytes
	for name, data := range map[string][]byte{"Chart.yaml": meta, "Chart.lock": lock} {
		if err := render.CheckExpansion(m.file(name), data, max); err != nil {
			return err // a repository's chart, read before any worker runs
		}
	}
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

// unvendored lists the dependencies to fetch, at the lock's versions. The
// lock is checked against Chart.yaml only when something is to be fetched,
// as helm template renders a fully vendored chart whatever its lock says.
func (m chartMeta) unvendored() ([]*chart.Dependency, error) {
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
		out = append(out, &dep)
	}
	if len(out) == 0 || m.lock == nil {
		return out, nil
	}
	sum, err := hashReq(m.chart.Dependencies, m.lock.Dependencies)
	if err != nil {
		return nil, err
	}
	if sum != m.lock.Digest {
		return nil, fmt.Errorf("%s: the lock file (Chart.lock) is out of sync with the dependencies file (Chart.yaml): its digest is %s, Chart.yaml's dependencies hash to %s; run helm dependency update", m.file("Chart.lock"), m.lock.Digest, sum)
	}
	for _, dep := range out {
		for _, l := range m.lock.Dependencies {
			if l.Name == dep.Name {
				dep.Version = l.Version
			}
		}
	}
	return out, nil
}

// isVendored reports whether charts/ holds the dependency: a directory of
// its name, or an archive <name>-<version>.tgz.
func (m chartMeta) isVendored(name string) bool {
	if m.vendored[name] {
		return true
	}
	for v := range m.vendored {
		rest, ok := strings.CutPrefix(v, name+"-")
		if ok && strings.HasSuffix(rest, ".tgz") && rest != "" && rest[0] >= '0' && rest[0] <= '9' {
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
	f, cred, err := c.fetcher(ref)
	if err != nil {
		return charts.Resolved{}, err
	}
	if c.Offline {
		r, _, err := f.Cached(ref, cred)
		return r, err
	}
	return f.Resolve(ctx, ref, cred)
}

// ChartHosts are the repository hosts a render of the App at src may fetch
// from: its chart's, and those of the dependencies its Chart.yaml lists.
func ChartHosts(src render.Source, a *v1alpha1.App) []string {
	var out []string
	if ref := ChartRef(a); ref != nil {
		return append(out, charts.Host(ref.RepoURL))
	}
	meta, err := dirMeta(src, RenderOptions(a).Renderer)
	if err != nil || meta.chart == nil {
		return nil
	}
	for _, d := range meta.chart.Dependencies {
		if h := charts.Host(d.Repository); h != "" {
			out = append(out, h)
		}
	}
	return out
}
