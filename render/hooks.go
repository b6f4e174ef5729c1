package render

import (
	"bufio"
	"bytes"
	"fmt"
	"sort"
	"strings"

	"helm.sh/helm/v3/pkg/chart"
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

// unknownHookWarnings names the templates whose helm.sh/hook annotation
// Helm 3 does not know (Helm 2's crd-install above all), read from the
// template text: a templated value is Helm's to judge.
func unknownHookWarnings(c *chart.Chart) []string {
	var out []string
	var walk func(c *chart.Chart, prefix string)
	walk = func(c *chart.Chart, prefix string) {
		for _, t := range c.Templates {
			for _, e := range hookEventsIn(t.Data) {
				if knownHelmEvent(e) {
					continue
				}
				msg := fmt.Sprintf("%s%s: helm.sh/hook %q: Helm 3 drops objects with a hook it does not know, so plumb does not render this one", prefix, t.Name, e)
				if e == "crd-install" {
					msg += " (crd-install is Helm 2's: move the CRD to the chart's crds/ directory)"
				}
				out = append(out, msg)
			}
		}
		for _, d := range c.Dependencies() {
			walk(d, prefix+"charts/"+d.Name()+"/")
		}
	}
	walk(c, c.Name()+"/")
	sort.Strings(out)
	return out
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
