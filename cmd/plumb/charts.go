package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/pflag"

	"github.com/plumbhq/plumb/apps"
	"github.com/plumbhq/plumb/charts"
	"github.com/plumbhq/plumb/render"
)

// Environment variables with credentials for --chart-repo (flags would show
// them in the process list).
const (
	chartUserEnv     = "PLUMB_CHART_USERNAME"
	chartPasswordEnv = "PLUMB_CHART_PASSWORD"
	chartTokenEnv    = "PLUMB_CHART_TOKEN"
)

// chartFlags name a chart in a repository (as helm template --repo does)
// and say how charts are fetched, for the chart and for dependencies a
// chart does not vendor.
type chartFlags struct {
	repo      string
	chart     string
	version   string
	caFile    string
	allowHTTP bool
	cacheDir  string
	offline   bool
	hosts     []string // plumb preview: --chart-allow-host
}

func (f *chartFlags) bind(fs *pflag.FlagSet) {
	fs.StringVar(&f.repo, "chart-repo", "", "render the chart --chart from this Helm repository (https://…) or OCI registry (oci://host/path); PATH then holds the value files")
	fs.StringVar(&f.chart, "chart", "", "the chart's name in --chart-repo, or oci://host/path/NAME")
	fs.StringVar(&f.version, "version", "", "the chart's version: exact, or a semver range (default: the newest)")
	f.bindFetch(fs)
}

// bindFetch binds only how charts are fetched (plumb preview reads which
// charts from the Apps).
func (f *chartFlags) bindFetch(fs *pflag.FlagSet) {
	fs.StringVar(&f.caFile, "chart-ca-file", "", "PEM bundle trusted for chart repositories, besides the system's")
	fs.BoolVar(&f.allowHTTP, "chart-allow-http", false, "allow http:// chart repositories, and reach OCI registries over plain HTTP")
	fs.StringVar(&f.cacheDir, "chart-cache-dir", "", "where fetched charts are kept (default: the user's cache directory, plumb/charts)")
	fs.BoolVar(&f.offline, "offline", false, "fetch no chart: use only what the chart cache holds")
}

// ref is the chart the flags name, nil for none.
func (f *chartFlags) ref() (*charts.Ref, error) {
	switch {
	case f.chart == "" && f.repo == "":
		return nil, nil
	case f.chart == "":
		return nil, fmt.Errorf("--chart-repo needs --chart")
	case strings.HasPrefix(f.chart, "oci://"):
		repo, name := f.chart[:strings.LastIndex(f.chart, "/")], f.chart[strings.LastIndex(f.chart, "/")+1:]
		return &charts.Ref{RepoURL: repo, Name: name, Version: f.version}, nil
	case f.repo == "":
		return nil, fmt.Errorf("--chart %s needs --chart-repo (or name it oci://host/path/%s)", f.chart, f.chart)
	}
	return &charts.Ref{RepoURL: f.repo, Name: f.chart, Version: f.version}, nil
}

// prepare fetches the chart the flags name and the dependencies the chart
// does not vendor into opts (apps.PrepareCharts).
func (f *chartFlags) prepare(ctx context.Context, src render.Source, opts *render.Options) ([]charts.Resolved, error) {
	ref, err := f.ref()
	if err != nil {
		return nil, err
	}
	return apps.PrepareCharts(ctx, src, opts, ref, f.charts(ref))
}

// charts is the fetcher the flags describe (its cache opened on first
// use), with the environment's credentials for --chart-repo's host only.
func (f *chartFlags) charts(ref *charts.Ref) *apps.Charts {
	cred := &charts.Credentials{Username: os.Getenv(chartUserEnv), Password: os.Getenv(chartPasswordEnv), BearerToken: os.Getenv(chartTokenEnv)}
	dir := f.cacheDir
	return &apps.Charts{
		Offline: f.offline,
		Open: func() (*charts.Fetcher, error) {
			if dir == "" {
				base, err := os.UserCacheDir()
				if err != nil {
					base = os.TempDir()
				}
				dir = filepath.Join(base, "plumb", "charts")
			}
			return newChartFetcher(dir, 0, f.caFile, f.allowHTTP)
		},
		Credentials: func(repoURL string) *charts.Credentials {
			if ref == nil || *cred == (charts.Credentials{}) || charts.Host(repoURL) != charts.Host(ref.RepoURL) {
				return nil
			}
			return cred
		},
	}
}

// newChartFetcher opens the chart cache in dir (maxBytes, 0 for the
// default) and a fetcher trusting caFile besides the system's roots.
func newChartFetcher(dir string, maxBytes int64, caFile string, allowHTTP bool) (*charts.Fetcher, error) {
	cache, err := charts.NewCache(dir, maxBytes)
	if err != nil {
		return nil, fmt.Errorf("chart cache: %w", err)
	}
	opts := charts.Options{AllowHTTP: allowHTTP}
	if caFile != "" {
		if opts.CABundle, err = os.ReadFile(caFile); err != nil {
			return nil, fmt.Errorf("--chart-ca-file: %w", err)
		}
	}
	return charts.NewFetcher(cache, opts)
}
