package render

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"path"
	"strings"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/ignore"
	"helm.sh/helm/v3/pkg/release"
	"helm.sh/helm/v3/pkg/strvals"
	"sigs.k8s.io/yaml"
)

// HelmOptions are `helm template`'s options that plumb supports.
type HelmOptions struct {
	// ReleaseName defaults to the chart directory's name.
	ReleaseName string
	// ValueFiles are relative to the chart directory, or to the repository
	// root with a leading "/". Later files win.
	ValueFiles []string
	// Values are merged after the value files.
	Values map[string]any
	// Set and SetString are --set and --set-string expressions, applied last.
	Set, SetString []string
	// KubeVersion pins .Capabilities.KubeVersion (default: the cluster's,
	// offline the client libraries'); APIVersions are added to the
	// cluster's.
	KubeVersion string
	APIVersions []string
	// SkipCRDs leaves out the chart's crds/ directories.
	SkipCRDs bool
	// Chart, if set, is rendered instead of the source directory (a chart
	// from a repository); value files are still read from the source.
	Chart *ChartArchive
	// Dependencies are archives of the chart's dependencies that it does
	// not vendor, fetched from their repositories; they join charts/.
	Dependencies []ChartArchive
}

// renderHelm renders the chart in dir client-side, as `helm template
// --include-crds` does: no cluster, so `lookup` returns nothing, and no DNS.
func renderHelm(ctx context.Context, cfs *checkoutFS, dir string, opts Options) (*Result, error) {
	ho := opts.Helm
	chrt, err := loadChart(cfs, dir, ho, opts.Limits.MaxTotalBytes)
	if err != nil {
		return nil, err
	}
	// As helm template does: a dependency neither vendored nor fetched is
	// an error, not a chart rendered without it.
	if err := action.CheckDependencies(chrt, chrt.Metadata.Dependencies); err != nil {
		return nil, fmt.Errorf("%s: helm: %w", chartName(dir, ho), err)
	}
	vals, err := helmValues(cfs, dir, ho)
	if err != nil {
		return nil, err
	}
	warnings := lookupWarnings(chrt)
	cfg := &action.Configuration{Log: func(string, ...any) {}}
	inst := action.NewInstall(cfg)
	inst.DryRun = true
	inst.DryRunOption = "client"
	inst.ClientOnly = true
	inst.Replace = true
	inst.IncludeCRDs = !ho.SkipCRDs
	inst.EnableDNS = false
	inst.ReleaseName = ho.ReleaseName
	if inst.ReleaseName == "" && ho.Chart != nil {
		inst.ReleaseName = chrt.Name()
	}
	if inst.ReleaseName == "" {
		inst.ReleaseName = path.Base(cfs.absPath(dir))
	}
	inst.Namespace = opts.Namespace
	if inst.Namespace == "" {
		inst.Namespace = "default"
	}
	v, apis, err := opts.capabilities()
	if err != nil {
		return nil, fmt.Errorf("%s: helm: %w", chartName(dir, ho), err)
	}
	kv, err := chartutil.ParseKubeVersion(v)
	if err != nil {
		return nil, fmt.Errorf("helm: kubeVersion %q: %w", v, err)
	}
	inst.KubeVersion = kv
	inst.APIVersions = chartutil.VersionSet(apis)
	rel, err := inst.RunWithContext(ctx, chrt, vals)
	if err != nil {
		return nil, fmt.Errorf("%s: helm: %w", dir, err)
	}

	if err := checkOutput(rel, opts.Limits); err != nil {
		return nil, fmt.Errorf("%s: helm: %w", dir, err)
	}
	res := &Result{Warnings: warnings}
	var docs []sourcedDoc
	for _, doc := range splitDocuments([]byte(rel.Manifest)) {
		docs = append(docs, sourcedDoc{source: helmSource(doc.data), doc: doc})
	}
	decoded, err := decodeAll(docs, opts.Cache)
	if err != nil {
		return nil, fmt.Errorf("%s: helm output: %w", dir, err)
	}
	for i, objs := range decoded {
		for _, u := range objs {
			res.Objects = append(res.Objects, Object{Object: u, Origin: Origin{Template: docs[i].source}})
		}
	}
	if res.Hooks, err = helmHooks(dir, rel.Hooks, opts.Cache); err != nil {
		return nil, err
	}
	if err := unknownHooks(res, chrt, vals, cfg.Capabilities, chartutil.ReleaseOptions{
		Name: inst.ReleaseName, Namespace: inst.Namespace, Revision: 1, IsInstall: true,
	}, opts.Cache); err != nil {
		return nil, fmt.Errorf("%s: helm: %w", dir, err)
	}
	return res, nil
}

// checkOutput caps what a chart rendered before anything decodes it: its
// bytes, and what YAML aliases in any one document would expand it to.
func checkOutput(rel *release.Release, lim Limits) error {
	total := int64(len(rel.Manifest))
	for _, h := range rel.Hooks {
		total += int64(len(h.Manifest))
	}
	if total > lim.MaxOutputBytes {
		return fmt.Errorf("the chart rendered %d bytes, over the %d-byte output limit: %w", total, lim.MaxOutputBytes, ErrLimit)
	}
	for _, doc := range splitDocuments([]byte(rel.Manifest)) {
		if err := CheckExpansion(helmSource(doc.data), doc.data, lim.MaxFileBytes); err != nil {
			return err
		}
	}
	for _, h := range rel.Hooks {
		if err := CheckExpansion(h.Path, []byte(h.Manifest), lim.MaxFileBytes); err != nil {
			return err
		}
	}
	return nil
}

// helmHooks decodes the chart's hooks, its tests included: plumb runs
// neither tests nor some other events, and says so (sync.Hook.Unsupported),
// but shows them as helm template does.
func helmHooks(dir string, hooks []*release.Hook, cache *Cache) ([]Object, error) {
	var out []Object
	for _, h := range hooks {
		var events []string
		for _, e := range h.Events {
			events = append(events, string(e))
		}
		for _, doc := range splitDocuments([]byte(h.Manifest)) {
			objs, err := decodeDocument(h.Path, doc, cache)
			if err != nil {
				return nil, fmt.Errorf("%s: helm hook: %w", dir, err)
			}
			for _, u := range objs {
				out = append(out, Object{Object: u, Origin: Origin{Template: h.Path, Hook: strings.Join(events, ",")}})
			}
		}
	}
	return out, nil
}

// helmSource reads the "# Source: <template>" line Helm puts at the top of
// every rendered document.
func helmSource(doc []byte) string {
	for _, l := range bytes.SplitN(doc, []byte("\n"), 3) {
		if s, ok := bytes.CutPrefix(bytes.TrimSpace(l), []byte("# Source: ")); ok {
			return string(s)
		}
	}
	return "(unknown template)"
}

// loadChart loads the chart: ho.Chart's archive, or the directory dir, plus
// the fetched dependencies, with every packaged subchart unpacked as
// untrusted input (expandArchives), then Helm's loader.
func loadChart(cfs *checkoutFS, dir string, ho HelmOptions, total int64) (*chart.Chart, error) {
	var files []*loader.BufferedFile
	var err error
	if ho.Chart != nil {
		files, err = archiveFiles(*ho.Chart, total)
	} else {
		files, err = chartFiles(cfs, dir)
	}
	if err != nil {
		return nil, err
	}
	if files, err = expandArchives(files, ho.Dependencies, total); err != nil {
		return nil, fmt.Errorf("%s: %w", chartName(dir, ho), err)
	}
	c, err := loader.LoadFiles(files)
	if err != nil {
		return nil, fmt.Errorf("%s: invalid chart: %w", chartName(dir, ho), err)
	}
	return c, nil
}

// chartName names the chart in errors: its archive, or its directory.
func chartName(dir string, ho HelmOptions) string {
	if ho.Chart != nil {
		return ho.Chart.Name
	}
	return dir
}

// chartFiles reads the chart's files through the checkout filesystem and
// honours .helmignore like Helm's directory loader. Helm's own LoadDir is
// not used because it follows symlinks anywhere on disk.
func chartFiles(cfs *checkoutFS, dir string) ([]*loader.BufferedFile, error) {
	rules := ignore.Empty()
	if data, err := cfs.readFile(path.Join(dir, ignore.HelmIgnore)); err == nil {
		r, err := ignore.Parse(bytes.NewReader(data))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path.Join(dir, ignore.HelmIgnore), err)
		}
		rules = r
	}
	rules.AddDefaults()
	var files []*loader.BufferedFile
	err := fs.WalkDir(cfs.root.FS(), dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return cfs.wrapErr(p, err)
		}
		n := strings.TrimPrefix(strings.TrimPrefix(p, dir), "/")
		if n == "" {
			return nil
		}
		info, err := cfs.stat(p) // follows in-repository symlinks, refuses the rest
		if err != nil {
			return err
		}
		if d.IsDir() {
			if rules.Ignore(n, info) {
				return fs.SkipDir
			}
			return nil
		}
		if rules.Ignore(n, info) {
			return nil
		}
		if info.IsDir() {
			return fmt.Errorf("%s: a symlink to a directory in a chart is not supported", p)
		}
		if !info.Mode().IsRegular() {
			return fmt.Errorf("%s: not a regular file", p)
		}
		data, err := cfs.readFile(p)
		if err != nil {
			return err
		}
		files = append(files, &loader.BufferedFile{Name: n, Data: bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))})
		return nil
	})
	if err != nil {
		return nil, err
	}
	return files, nil
}

// helmValues merges value files, inline values, --set and --set-string in
// Helm's order. Value files are read through the checkout filesystem (Helm's
// own value loader reads any path on disk).
func helmValues(cfs *checkoutFS, dir string, ho HelmOptions) (map[string]any, error) {
	vals := map[string]any{}
	for _, f := range ho.ValueFiles {
		p, err := valueFilePath(dir, f)
		if err != nil {
			return nil, err
		}
		data, err := cfs.readFile(p)
		if err != nil {
			return nil, fmt.Errorf("values file %s: %w", f, err)
		}
		cur := map[string]any{}
		if err := yaml.Unmarshal(data, &cur); err != nil {
			return nil, fmt.Errorf("values file %s: %s", p, strings.TrimPrefix(err.Error(), "error converting YAML to JSON: "))
		}
		vals = mergeValues(vals, cur)
	}
	if ho.Values != nil {
		vals = mergeValues(vals, ho.Values)
	}
	for _, s := range ho.Set {
		if err := strvals.ParseInto(s, vals); err != nil {
			return nil, fmt.Errorf("--set %q: %w", s, err)
		}
	}
	for _, s := range ho.SetString {
		if err := strvals.ParseIntoString(s, vals); err != nil {
			return nil, fmt.Errorf("--set-string %q: %w", s, err)
		}
	}
	return vals, nil
}

// valueFilePath resolves a values file: relative to the chart directory, or
// to the repository root with a leading "/".
func valueFilePath(chartDir, f string) (string, error) {
	p := path.Join(chartDir, f)
	if strings.HasPrefix(f, "/") {
		p = strings.TrimPrefix(path.Clean(f), "/")
	}
	if p == ".." || strings.HasPrefix(p, "../") {
		return "", fmt.Errorf("values file %s: %w", f, ErrOutsideRepository)
	}
	return p, nil
}

// mergeValues merges b into a copy of a, recursing into maps, as Helm does.
func mergeValues(a, b map[string]any) map[string]any {
	out := make(map[string]any, len(a))
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		if bm, ok := v.(map[string]any); ok {
			if am, ok := out[k].(map[string]any); ok {
				out[k] = mergeValues(am, bm)
				continue
			}
		}
		out[k] = v
	}
	return out
}
