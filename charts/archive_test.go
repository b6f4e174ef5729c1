package charts_test

import (
	"archive/tar"
	"errors"
	"strings"
	"testing"

	"github.com/plumbhq/plumb/charts"

	"github.com/plumbhq/plumb/internal/chartstest"
)

func TestUnpackRefusesHostileArchives(t *testing.T) {
	type E = chartstest.Entry
	chartYAML := E{Name: "web/Chart.yaml", Data: "apiVersion: v2\nname: web\nversion: 1.0.0\n"}
	many := []E{chartYAML}
	for i := 0; i < 100000; i++ {
		many = append(many, E{Name: "web/templates/f" + strings.Repeat("x", i%7) + string(rune('a'+i%26)) + ".yaml"})
	}
	// The archives of 1 GiB are cut after what charts.Unpack can read before it must
	// refuse (the header of the 1 GiB file; 21 of the 205 files of 5 MiB):
	// the same bytes as the whole archive up to there, without compressing
	// a gigabyte per test run.
	fiveMiBFiles := []E{chartYAML}
	for i := 0; i < 21; i++ { // of 205: 1 GiB in files under the per-file cap
		fiveMiBFiles = append(fiveMiBFiles, E{Name: "web/z" + strings.Repeat("z", i), Size: 5 << 20, Write: chartstest.Zeros(5 << 20)})
	}
	tests := []struct {
		name    string
		archive []byte
		want    string
	}{
		{"path traversal", chartstest.Archive(t, chartYAML, E{Name: "web/../../etc/cron.d/x", Data: "boom"}), "leaves the archive"},
		{"an absolute path", chartstest.Archive(t, chartYAML, E{Name: "/etc/passwd", Data: "boom"}), "absolute paths are not allowed"},
		{"a symlink", chartstest.Archive(t, chartYAML, E{Name: "web/templates/link.yaml", Link: "/etc/shadow"}), "links are not allowed"},
		{"a hard link", chartstest.Archive(t, chartYAML, E{Name: "web/values.yaml", Type: tar.TypeLink, Link: "web/Chart.yaml"}), "links are not allowed"},
		{"a device", chartstest.Archive(t, chartYAML, E{Name: "web/dev", Type: tar.TypeChar}), "not a file or a directory"},
		{"1 GiB of zeros in one file", chartstest.Archive(t, chartYAML, E{Name: "web/big", Size: 1 << 30, Write: chartstest.Zeros(1 << 20)}), "over the 5242880-byte file limit"},
		{"1 GiB of zeros in 5 MiB files", chartstest.Archive(t, fiveMiBFiles...), "unpacks to more than 104857600 bytes"},
		{"100,000 files", chartstest.Archive(t, many...), "more than 10000 entries"},
		{"a second top-level directory", chartstest.Archive(t, chartYAML, E{Name: "other/Chart.yaml", Data: "x"}), "outside the chart's directory web/"},
		{"not gzipped", []byte("PK\x03\x04 a zip"), "not gzipped"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := charts.Unpack("web-1.0.0.tgz", tt.archive, charts.Limits{MaxArchiveBytes: 64 << 20})
			if !errors.Is(err, charts.ErrBadArchive) || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "web-1.0.0.tgz") {
				t.Errorf("err = %v, want %v naming the archive and saying %q", err, charts.ErrBadArchive, tt.want)
			}
		})
	}
	good := chartstest.Archive(t, E{Name: "web/", Type: tar.TypeDir}, chartYAML, E{Name: "web/templates/a.yaml", Data: "a: 1\n"})
	files, err := charts.Unpack("web-1.0.0.tgz", good, charts.Limits{})
	if err != nil || len(files) != 2 || files[1].Name != "templates/a.yaml" {
		t.Errorf("a good archive: %+v, %v", files, err)
	}
}
