package v1alpha1

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"

	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"

	"github.com/plumbhq/plumb/diff"
	"github.com/plumbhq/plumb/render"
)

// ParseApps reads the App objects of a YAML stream, skipping any other
// kind; file names the stream in errors. Unknown fields are errors, so a
// typo does not silently change what an App does.
func ParseApps(file string, data []byte) ([]App, error) {
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	var apps []App
	for i := 0; ; i++ {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return apps, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", file, err)
		}
		var head struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
		}
		if err := yaml.Unmarshal(doc, &head); err != nil || head.APIVersion != APIVersion || head.Kind != Kind {
			continue
		}
		var app App
		if err := yaml.UnmarshalStrict(doc, &app); err != nil {
			return nil, fmt.Errorf("%s: document %d: App: %w", file, i, err)
		}
		if err := app.Validate(); err != nil {
			return nil, fmt.Errorf("%s: App/%s: %w", file, app.Name, err)
		}
		apps = append(apps, app)
	}
}

// Validate checks what parsing cannot.
func (a *App) Validate() error {
	if a.Name == "" {
		return errors.New("metadata.name is required")
	}
	if p := path.Clean(a.Spec.Source.Path); path.IsAbs(p) || p == ".." || strings.HasPrefix(p, "../") {
		return fmt.Errorf("spec.source.path %q: must be relative and inside the repository", a.Spec.Source.Path)
	}
	for _, ig := range a.IgnoreRules() {
		if err := ig.Validate(); err != nil {
			return fmt.Errorf("spec.ignoreDifferences: %w", err)
		}
	}
	if _, err := a.helmValues(); err != nil {
		return err
	}
	return nil
}

// IgnoreRules converts the App's ignoreDifferences for diff and sync.
func (a *App) IgnoreRules() []diff.IgnoreDifference {
	out := make([]diff.IgnoreDifference, len(a.Spec.IgnoreDifferences))
	for i, ig := range a.Spec.IgnoreDifferences {
		out[i] = diff.IgnoreDifference(ig)
	}
	return out
}

func (a *App) helmValues() (map[string]any, error) {
	v := a.Spec.Render.Helm.Values
	if v == nil || len(v.Raw) == 0 {
		return nil, nil
	}
	var m map[string]any
	if err := json.Unmarshal(v.Raw, &m); err != nil {
		return nil, fmt.Errorf("spec.render.helm.values: must be an object: %w", err)
	}
	return m, nil
}

// SourcePath is the App's path inside the repository, cleaned, "." for the root.
func (a *App) SourcePath() string {
	p := strings.TrimPrefix(path.Clean("/"+a.Spec.Source.Path), "/")
	if p == "" {
		return "."
	}
	return p
}

// RenderOptions converts the App's options for render.
func (a *App) RenderOptions() render.Options {
	r := a.Spec.Render
	values, _ := a.helmValues() // checked by Validate
	release := r.Helm.ReleaseName
	if release == "" {
		release = a.Name
	}
	return render.Options{
		Renderer:  render.Renderer(r.Renderer),
		Namespace: a.Spec.Destination.Namespace,
		Plain:     render.PlainOptions{Recursive: r.Plain.Recursive, Include: r.Plain.Include, Exclude: r.Plain.Exclude},
		Helm: render.HelmOptions{
			ReleaseName: release, ValueFiles: r.Helm.ValueFiles, Values: values,
			Set: r.Helm.Set, SetString: r.Helm.SetString, KubeVersion: r.Helm.KubeVersion,
			APIVersions: r.Helm.APIVersions, SkipCRDs: r.Helm.SkipCRDs,
		},
		Kustomize: render.KustomizeOptions{AllowRemote: r.Kustomize.AllowRemote, AllowHelm: r.Kustomize.AllowHelm},
	}
}
