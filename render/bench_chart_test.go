package render_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/plumbhq/plumb/apps"
	"github.com/plumbhq/plumb/charts"
	"github.com/plumbhq/plumb/internal/chartstest"
	"github.com/plumbhq/plumb/render"
)

// BenchmarkRenderRemoteChart: rendering a pinned chart from a repository
// once it is cached (no request: the pin and the archive are in the cache)
// against rendering the same chart from a directory. make bench reports the
// pair (goal: within 1.1x).
func BenchmarkRenderRemoteChart(b *testing.B) {
	corpus := render.Corpus(b)
	dir := filepath.Join(corpus, "charts/kube-state-metrics")
	repo := chartstest.NewHelmRepo(b)
	repo.Publish(b, chartstest.PackageDir(b, dir))
	c := &apps.Charts{Fetcher: chartstest.NewFetcher(b, repo.Server)}
	ref := &charts.Ref{RepoURL: repo.Server.URL, Name: "kube-state-metrics", Version: "8.4.0"}
	values := render.Source{Root: b.TempDir(), Path: "."}
	opts := render.Options{Namespace: "bench", Helm: render.HelmOptions{ReleaseName: "bench"}}
	ctx := context.Background()
	if _, err := apps.PrepareCharts(ctx, values, &opts, ref, c); err != nil { // fills the cache
		b.Fatal(err)
	}
	b.Run("cached", func(b *testing.B) {
		b.ReportAllocs()
		before := repo.Requests.Load()
		for b.Loop() {
			o := render.Options{Namespace: "bench", Helm: render.HelmOptions{ReleaseName: "bench"}}
			if _, err := apps.PrepareCharts(ctx, values, &o, ref, c); err != nil {
				b.Fatal(err)
			}
			if _, err := render.Render(ctx, values, o); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(repo.Requests.Load()-before), "requests")
	})
	b.Run("directory", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			o := render.Options{Namespace: "bench", Helm: render.HelmOptions{ReleaseName: "bench"}}
			if _, err := render.Render(ctx, render.Source{Root: corpus, Path: "charts/kube-state-metrics"}, o); err != nil {
				b.Fatal(err)
			}
		}
	})
}
