package preview

import (
	"bytes"
	"errors"
	"fmt"
	"path"
	"slices"
	"strings"

	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/plumbhq/plumb/api/v1alpha1"
	"github.com/plumbhq/plumb/apps"
	"github.com/plumbhq/plumb/git"
	"github.com/plumbhq/plumb/render"
)

// foundApp is an App and the file that defines it.
type foundApp struct {
	app  v1alpha1.App
	file string
}

// findApps reads the Apps of a revision: from file (absent at this revision
// means none), or from every YAML file that mentions the App API.
func findApps(repo *git.Local, commit, file string) (map[string]*foundApp, error) {
	var files []string
	if file != "" {
		files = []string{path.Clean(file)}
	} else {
		var err error
		files, err = repo.Files(commit, func(n string) bool { return strings.HasSuffix(n, ".yaml") || strings.HasSuffix(n, ".yml") })
		if err != nil {
			return nil, err
		}
	}
	found := map[string]*foundApp{}
	for _, name := range files {
		data, err := repo.ReadFile(commit, name)
		if err != nil {
			if file != "" && errors.Is(err, object.ErrFileNotFound) {
				return found, nil
			}
			return nil, err
		}
		if file == "" && !bytes.Contains(data, []byte(v1alpha1.APIVersion)) {
			continue
		}
		parsed, err := apps.Parse(name, data)
		if err != nil {
			return nil, err
		}
		for _, a := range parsed {
			if prev, dup := found[a.Name]; dup {
				return nil, fmt.Errorf("App %s defined twice: in %s and in %s", a.Name, prev.file, name)
			}
			found[a.Name] = &foundApp{app: a, file: name}
		}
	}
	return found, nil
}

// fromRepo reports whether the App (at either revision) takes its source
// from repoURL; every App does when repoURL is unknown.
func fromRepo(repoURL string, found ...*foundApp) bool {
	want, err := git.NormalizeURL(repoURL)
	if repoURL == "" || err != nil {
		return true
	}
	for _, a := range found {
		if a == nil {
			continue
		}
		if a.app.Spec.Source.RepoURL == "" {
			return true // a chart alone, defined here
		}
		if got, err := git.NormalizeURL(a.app.Spec.Source.RepoURL); err == nil && got == want {
			return true
		}
	}
	return false
}

// affected reports whether a change can alter the App's render: it was
// added, removed or its manifest changed, or a changed file is among its
// inputs at either revision (each revision's inputs by its own spec).
func affected(b, h *foundApp, baseDir, headDir string, changed []string) bool {
	if b == nil || h == nil {
		return true
	}
	for _, c := range changed {
		if c == b.file || c == h.file {
			return true
		}
	}
	for _, side := range []struct {
		dir string
		app *v1alpha1.App
	}{{baseDir, &b.app}, {headDir, &h.app}} {
		if side.app.Spec.Source.RepoURL == "" {
			continue // a chart alone reads nothing of the repository but its manifest
		}
		inputs, err := render.Inputs(apps.Source(side.dir, side.app), renderOptions(side.app))
		if err != nil || render.Affected(inputs, changed) {
			return true // when in doubt, render: the report shows any error
		}
	}
	return false
}

// byDependencies orders App names so that each App comes after the Apps
// its spec.dependsOn names (head's spec, else base's), as plumb serve syncs
// them; Apps that do not depend on each other stay in name order, and the
// members of a cycle (an InvalidSpec for plumb serve) follow by name.
func byDependencies(names []string, head, base map[string]*foundApp) []string {
	deps := map[string][]string{}
	for _, n := range names {
		a := head[n]
		if a == nil {
			a = base[n]
		}
		for _, d := range a.app.Spec.DependsOn {
			if (d.Namespace == "" || d.Namespace == a.app.Namespace) && d.Name != n {
				deps[n] = append(deps[n], d.Name)
			}
		}
	}
	done := map[string]bool{}
	out := make([]string, 0, len(names))
	for len(out) < len(names) {
		progressed := false
		for _, n := range names {
			if done[n] || !allDone(deps[n], done, names) {
				continue
			}
			done[n], progressed = true, true
			out = append(out, n)
			break // the next round starts again from the first name
		}
		if !progressed { // a cycle: the rest by name
			for _, n := range names {
				if !done[n] {
					done[n] = true
					out = append(out, n)
				}
			}
		}
	}
	return out
}

// allDone reports whether every dependency that is among names is done.
func allDone(deps []string, done map[string]bool, names []string) bool {
	for _, d := range deps {
		if !done[d] && slices.Contains(names, d) {
			return false
		}
	}
	return true
}
