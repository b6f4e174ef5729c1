package preview

import (
	"bytes"
	"errors"
	"fmt"
	"path"
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
