package render

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/plumbhq/plumb/charts"
	"github.com/plumbhq/plumb/internal/chartstest"
	"github.com/plumbhq/plumb/resource"
)

const umbrella = "apiVersion: v2\nname: shop\nversion: 0.1.0\ndependencies:\n" +
	"- {name: web, version: 1.0.0, repository: https://charts.example.com}\n" +
	"- {name: db, version: ^2.0.0, repository: oci://registry.example.com/charts}\n"

func refsOf(res *Result) []string {
	var out []string
	for _, o := range res.Objects {
		out = append(out, resource.RefOf(o.Object).String())
	}
	return out
}

func TestHelmDependencies(t *testing.T) {
	web, db := chartstest.Package(t, "web", "1.0.0", nil), chartstest.Package(t, "db", "2.1.0", nil)
	root := writeRepo(t, map[string]string{"shop/Chart.yaml": umbrella, "shop/templates/cm.yaml": configMap("shop")})
	src := Source{Root: root, Path: "shop"}
	ctx := context.Background()

	_, err := Render(ctx, src, Options{})
	if err == nil || !strings.Contains(err.Error(), "found in Chart.yaml, but missing in charts/ directory: web, db") {
		t.Errorf("unvendored dependencies: err = %v, want helm template's error naming both", err)
	}
	res, err := Render(ctx, src, Options{Helm: HelmOptions{Dependencies: []ChartArchive{{Name: "web-1.0.0.tgz", Data: web}, {Name: "db-2.1.0.tgz", Data: db}}}})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"ConfigMap/db", "ConfigMap/shop", "ConfigMap/web"}
	if d := cmp.Diff(want, refsOf(res), cmpopts.SortSlices(func(a, b string) bool { return a < b })); d != "" {
		t.Errorf("objects with the fetched dependencies (-want +got):\n%s", d)
	}
	// The same archives vendored under charts/ render the same.
	vend := writeRepo(t, map[string]string{"shop/Chart.yaml": umbrella, "shop/templates/cm.yaml": configMap("shop"),
		"shop/charts/web-1.0.0.tgz": string(web), "shop/charts/db-2.1.0.tgz": string(db)})
	res, err = Render(ctx, Source{Root: vend, Path: "shop"}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(want, refsOf(res), cmpopts.SortSlices(func(a, b string) bool { return a < b })); d != "" {
		t.Errorf("objects with vendored dependencies (-want +got):\n%s", d)
	}
	// A chart from a repository, with values from the checkout.
	vals := writeRepo(t, map[string]string{"env/values.yaml": "x: 1\n"})
	res, err = Render(ctx, Source{Root: vals, Path: "env"}, Options{Helm: HelmOptions{Chart: &ChartArchive{Name: "web-1.0.0.tgz", Data: web}, ValueFiles: []string{"values.yaml"}}})
	if err != nil || len(res.Objects) != 1 || res.Objects[0].Object.GetName() != "web" {
		t.Errorf("a chart archive as the source: %v, %v", res, err)
	}
}

// Many vendored archives share the render's byte budget: each unpacks only
// to what the ones before it left.
func TestVendoredArchivesShareTheBudget(t *testing.T) {
	files := map[string]string{"shop/Chart.yaml": "apiVersion: v2\nname: shop\nversion: 0.1.0\n"}
	for i := range 4 {
		name := fmt.Sprintf("big%d", i)
		files["shop/charts/"+name+"-1.0.0.tgz"] = string(chartstest.Archive(t,
			chartstest.Entry{Name: name + "/Chart.yaml", Data: "apiVersion: v2\nname: " + name + "\nversion: 1.0.0\n"},
			chartstest.Entry{Name: name + "/files/zeros", Size: 3 << 20, Write: chartstest.Zeros(3 << 20)}))
	}
	root := writeRepo(t, files)
	_, err := Render(context.Background(), Source{Root: root, Path: "shop"}, Options{Limits: Limits{MaxTotalBytes: 8 << 20}})
	if err == nil || !(errors.Is(err, ErrLimit) || errors.Is(err, charts.ErrBadArchive)) {
		t.Errorf("four archives of 3 MiB under an 8 MiB budget: err = %v, want a limit error", err)
	}
}

func TestVendoredArchiveIsUntrusted(t *testing.T) {
	link := chartstest.Archive(t, chartstest.Entry{Name: "web/Chart.yaml", Data: "apiVersion: v2\nname: web\nversion: 1.0.0\n"},
		chartstest.Entry{Name: "web/templates/x.yaml", Link: "/etc/passwd"})
	root := writeRepo(t, map[string]string{"shop/Chart.yaml": "apiVersion: v2\nname: shop\nversion: 0.1.0\n", "shop/charts/web-1.0.0.tgz": string(link)})
	_, err := Render(context.Background(), Source{Root: root, Path: "shop"}, Options{})
	if !errors.Is(err, charts.ErrBadArchive) || !strings.Contains(err.Error(), "charts/web-1.0.0.tgz") || !strings.Contains(err.Error(), "links are not allowed") {
		t.Errorf("err = %v, want the vendored archive refused for its symlink", err)
	}
}
