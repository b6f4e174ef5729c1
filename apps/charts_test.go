package apps

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/plumbhq/plumb/internal/chartstest"
	"github.com/plumbhq/plumb/render"
)

func TestPrepareChartsRefuses(t *testing.T) {
	repo := chartstest.NewHelmRepo(t)
	repo.Publish(t, chartstest.Package(t, "web", "1.0.0", nil))
	fetcher := chartstest.NewFetcher(t, repo.Server)
	dep := func(version, repository string) string {
		return "apiVersion: v2\nname: shop\nversion: 0.1.0\ndependencies:\n- {name: web, version: \"" + version + "\", repository: \"" + repository + "\"}\n"
	}
	goodLock := "dependencies:\n- {name: web, version: 1.0.0, repository: \"" + repo.Server.URL + "\"}\ndigest: sha256:0000\n"
	tests := []struct {
		name  string
		files map[string]string
		c     *Charts
		want  string
	}{
		{"a version the repository lacks", map[string]string{"Chart.yaml": dep("9.9.9", repo.Server.URL)}, &Charts{Fetcher: fetcher},
			`dependency web: chart "web" version "9.9.9" not found`},
		{"a Chart.lock out of step with Chart.yaml", map[string]string{"Chart.yaml": dep("^1.0.0", repo.Server.URL), "Chart.lock": goodLock}, &Charts{Fetcher: fetcher},
			"the lock file (Chart.lock) is out of sync with the dependencies file (Chart.yaml)"},
		{"a file:// dependency", map[string]string{"Chart.yaml": dep("1.0.0", "file://../web")}, &Charts{Fetcher: fetcher},
			"a file:// repository must be vendored"},
		{"a repository alias", map[string]string{"Chart.yaml": dep("1.0.0", "@bitnami")}, &Charts{Fetcher: fetcher},
			"plumb needs the repository's URL"},
		{"fetching off", map[string]string{"Chart.yaml": dep("1.0.0", repo.Server.URL)}, nil,
			"fetching charts is not enabled here"},
		{"offline and not cached", map[string]string{"Chart.yaml": dep("1.0.0", repo.Server.URL)}, &Charts{Fetcher: fetcher, Offline: true},
			"is not in the cache, and fetching is off"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			for n, d := range tt.files {
				if err := os.MkdirAll(filepath.Join(root, "shop"), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(root, "shop", n), []byte(d), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			var opts render.Options
			_, err := PrepareCharts(context.Background(), render.Source{Root: root, Path: "shop"}, &opts, nil, tt.c)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want it to say %q", err, tt.want)
			}
			if len(opts.Helm.Dependencies) != 0 {
				t.Errorf("dependencies handed to render after an error: %d", len(opts.Helm.Dependencies))
			}
		})
	}
}
