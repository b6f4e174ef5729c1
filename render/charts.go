package render

import (
	"fmt"
	"path"
	"regexp"
	"strings"

	"helm.sh/helm/v3/pkg/chart/loader"

	"github.com/plumbhq/plumb/charts"
)

// ChartArchive is a packaged chart handed to render: fetched from a
// repository by package charts, or vendored in the checkout. It is
// untrusted and unpacked with charts.Unpack.
type ChartArchive struct {
	// Name names it in errors, e.g. "postgresql-12.1.0.tgz".
	Name string
	Data []byte
	// Files, if set, are Data already unpacked by charts.Unpack (a caller
	// that read the chart's metadata): render does not unpack it again.
	Files []charts.File
}

// vendored matches a packaged subchart: charts/<file>.tgz of the chart or
// of a subchart (charts/<name>/charts/<file>.tgz), where Helm looks.
var vendored = regexp.MustCompile(`^(charts/[^/]+/)*charts/[^/]+\.tgz$`)

// maxChartNesting bounds subcharts packaged inside subcharts.
const maxChartNesting = 5

// expandArchives replaces every packaged subchart among files by its
// unpacked files under charts/<archive name>/, checked as untrusted input
// (Helm's own loader would unpack them with process-wide caps and turn
// symlinks into empty files), and the dependency archives fetched for the
// chart likewise. total caps the bytes of the whole chart.
func expandArchives(files []*loader.BufferedFile, deps []ChartArchive, total int64) ([]*loader.BufferedFile, error) {
	for _, d := range deps {
		files = append(files, &loader.BufferedFile{Name: "charts/" + d.Name, Data: d.Data})
	}
	for depth := 0; ; depth++ {
		var out []*loader.BufferedFile
		expanded := false
		var size int64
		for _, f := range files {
			if !vendored.MatchString(f.Name) {
				out = append(out, f)
				size += int64(len(f.Data))
				continue
			}
			if depth == maxChartNesting {
				return nil, fmt.Errorf("%s: charts packaged inside charts more than %d deep", f.Name, maxChartNesting)
			}
			// Each archive may unpack only to what is left of the budget, so
			// that many small bombs cannot add up before the check.
			left := total - size
			if left <= 0 {
				return nil, fmt.Errorf("the chart and its subcharts unpack to more than %d bytes: %w", total, ErrLimit)
			}
			unpacked, err := charts.Unpack(f.Name, f.Data, charts.Limits{MaxBytes: min(left, 100<<20)})
			if err != nil {
				return nil, err
			}
			dir := strings.TrimSuffix(f.Name, ".tgz") + "/"
			for _, u := range unpacked {
				out = append(out, &loader.BufferedFile{Name: dir + u.Name, Data: u.Data})
				size += int64(len(u.Data))
			}
			expanded = true
		}
		if size > total {
			return nil, fmt.Errorf("the chart and its subcharts unpack to more than %d bytes: %w", total, ErrLimit)
		}
		files = out
		if !expanded {
			return files, nil
		}
	}
}

// archiveFiles unpacks a chart archive into the files Helm's loader takes.
func archiveFiles(a ChartArchive, total int64) ([]*loader.BufferedFile, error) {
	unpacked := a.Files
	if unpacked == nil {
		var err error
		if unpacked, err = charts.Unpack(a.Name, a.Data, charts.Limits{MaxBytes: total}); err != nil {
			return nil, err
		}
	}
	var size int64
	for _, u := range unpacked {
		size += int64(len(u.Data))
	}
	if size > total { // unpacked under Unpack's own cap, which may be larger
		return nil, fmt.Errorf("%s: unpacks to more than %d bytes: %w", a.Name, total, ErrLimit)
	}
	out := make([]*loader.BufferedFile, len(unpacked))
	for i, u := range unpacked {
		out[i] = &loader.BufferedFile{Name: path.Clean(u.Name), Data: u.Data}
	}
	return out, nil
}
