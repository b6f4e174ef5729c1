package render

import (
	"bufio"
	"bytes"
	"fmt"
	"maps"
	"slices"
	"strings"

	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/engine"
	"helm.sh/helm/v3/pkg/release"
)

// knownHelmEvent reports whether Helm 3 knows the hook event e; it drops
// an object whose helm.sh/hook names any other (releaseutil's manifest
// sorter, with only a log line), so plumb never sees it and says so.
func knownHelmEvent(e string) bool {
	switch release.HookEvent(e) {
	case release.HookPreInstall, release.HookPostInstall, release.HookPreDelete, release.HookPostDelete,
		release.HookPreUpgrade, release.HookPostUpgrade, release.HookPreRollback, release.HookPostRollback, release.HookTest:
		return true
	}
	return e == "test-success" // Helm 2's name of test, still accepted
}

// unknownHooks deals with the templates whose helm.sh/hook annotation Helm
// 3 does not know, read from the template text (a templated value is
// Helm's to judge): crd-install objects, Helm 2's CRDs, are rendered once
// more with Helm's engine and kept as objects; any other event is named
// in a warning. Charts without such a template cost no second render.
func unknownHooks(res *Result, c *chart.Chart, vals map[string]any, caps *chartutil.Capabilities, rel chartutil.ReleaseOptions, cache *Cache) error {
	legacy := map[string]bool{} // template paths with crd-install
	var walk func(c *chart.Chart, prefix string)
	walk = func(c *chart.Chart, prefix string) {
		for _, t := range c.Templates {
			for _, e := range hookEventsIn(t.Data) {
				switch {
				case knownHelmEvent(e):
				case e == "crd-install":
					legacy[prefix+t.Name] = true
				default:
					res.Warnings = append(res.Warnings, fmt.Sprintf("%s%s: helm.sh/hook %q: Helm 3 drops objects with a hook it does not know, so plumb does not render this one", prefix, t.Name, e))
				}
			}
		}
		for _, d := range c.Dependencies() {
			walk(d, prefix+"charts/"+d.Name()+"/")
		}
	}
	walk(c, c.Name()+"/")
	if len(legacy) == 0 {
		return nil
	}
	if caps == nil {
		caps = chartutil.DefaultCapabilities
	}
	values, err := chartutil.ToRenderValues(c, vals, rel, caps)
	if err != nil {
		return err
	}
	files, err := engine.Render(c, values)
	if err != nil {
		return err
	}
	for _, name := range slices.Sorted(maps.Keys(legacy)) {
		for _, doc := range splitDocuments([]byte(files[name])) {
			objs, err := decodeDocument(name, doc, cache)
			if err != nil {
				return err
			}
			for _, u := range objs {
				if strings.Contains(u.GetAnnotations()[HelmHookAnnotation], "crd-install") {
					res.Objects = append(res.Objects, Object{Object: u, Origin: Origin{Template: name}})
					res.Warnings = append(res.Warnings, fmt.Sprintf("%s: helm.sh/hook \"crd-install\" (Helm 2's, which Helm 3 drops): %s/%s applied as an ordinary object", name, u.GetKind(), u.GetName()))
				}
			}
		}
	}
	return nil
}

// hookEventsIn lists the literal events of the helm.sh/hook annotations in
// a template.
func hookEventsIn(src []byte) []string {
	if !bytes.Contains(src, []byte(HelmHookAnnotation)) {
		return nil
	}
	var out []string
	sc := bufio.NewScanner(bytes.NewReader(src))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		rest, ok := strings.CutPrefix(strings.Trim(line, `"'`), HelmHookAnnotation)
		if !ok {
			continue
		}
		rest, ok = strings.CutPrefix(strings.TrimLeft(rest, `"'`), ":")
		if !ok || strings.Contains(rest, "{{") {
			continue // another annotation (hook-weight), or a templated value
		}
		for _, e := range strings.Split(strings.Trim(strings.TrimSpace(rest), `"'`), ",") {
			if e = strings.ToLower(strings.TrimSpace(e)); e != "" {
				out = append(out, e)
			}
		}
	}
	return out
}
