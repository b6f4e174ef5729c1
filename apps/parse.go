package apps

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"

	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"

	"github.com/plumbhq/plumb/api/v1alpha1"
	"github.com/plumbhq/plumb/charts"
	"github.com/plumbhq/plumb/diff"
	"github.com/plumbhq/plumb/render"
)

// Parse reads the App objects of a YAML stream, skipping any other
// kind; file names the stream in errors. Unknown fields are errors, so a
// typo does not silently change what an App does.
func Parse(file string, data []byte) ([]v1alpha1.App, error) {
	// App manifests come from repositories (preview reads a pull request's):
	// aliases must not expand them past the render's file limit.
	if err := render.CheckExpansion(file, data, render.Limits{}.WithDefaults().MaxFileBytes); err != nil {
		return nil, err
	}
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	var apps []v1alpha1.App
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
		if err := yaml.Unmarshal(doc, &head); err != nil || head.APIVersion != v1alpha1.APIVersion || head.Kind != v1alpha1.Kind {
			continue
		}
		var app v1alpha1.App
		if err := yaml.UnmarshalStrict(doc, &app); err != nil {
			return nil, fmt.Errorf("%s: document %d: App: %w", file, i, err)
		}
		if err := Validate(&app); err != nil {
			return nil, fmt.Errorf("%s: App/%s: %w", file, app.Name, err)
		}
		apps = append(apps, app)
	}
}

// Validate checks what parsing cannot.
func Validate(a *v1alpha1.App) error {
	if a.Name == "" {
		return errors.New("metadata.name is required")
	}
	if c := a.Spec.Source.Chart; c != nil {
		if c.RepoURL == "" || c.Name == "" {
			return errors.New("spec.source.chart: repoURL and name are required")
		}
		if !strings.HasPrefix(c.RepoURL, "https://") && !strings.HasPrefix(c.RepoURL, "http://") && !strings.HasPrefix(c.RepoURL, "oci://") {
			return fmt.Errorf("spec.source.chart.repoURL %q: must be https://, oci:// or (when allowed) http://", c.RepoURL)
		}
	} else if a.Spec.Source.RepoURL == "" {
		return errors.New("spec.source.repoURL is required (or spec.source.chart)")
	}
	if p := path.Clean(a.Spec.Source.Path); path.IsAbs(p) || p == ".." || strings.HasPrefix(p, "../") {
		return fmt.Errorf("spec.source.path %q: must be relative and inside the repository", a.Spec.Source.Path)
	}
	for i, d := range a.Spec.DependsOn {
		if d.Name == "" {
			return fmt.Errorf("spec.dependsOn[%d]: name is required", i)
		}
		if d.Name == a.Name && (d.Namespace == "" || d.Namespace == a.Namespace) {
			return fmt.Errorf("spec.dependsOn[%d]: an App cannot depend on itself", i)
		}
	}
	if _, err := HealthRules(a); err != nil {
		return err
	}
	for _, ig := range IgnoreRules(a) {
		if err := ig.Validate(); err != nil {
			return fmt.Errorf("spec.ignoreDifferences: %w", err)
		}
	}
	if _, err := helmValues(a); err != nil {
		return err
	}
	return validateTenancy(a)
}

// validateTenancy checks the fields of identity, ownership and deletion.
func validateTenancy(a *v1alpha1.App) error {
	if sa := a.Spec.ServiceAccountName; sa != "" {
		if errs := validation.IsDNS1123Subdomain(sa); len(errs) > 0 {
			return fmt.Errorf("spec.serviceAccountName %q: %s", sa, strings.Join(errs, "; "))
		}
	}
	switch a.Spec.DeletionPolicy {
	case "", DeletionOrphan, DeletionDelete:
	default:
		return fmt.Errorf("spec.deletionPolicy %q: must be orphan or delete", a.Spec.DeletionPolicy)
	}
	if m := a.Spec.SyncPolicy.MaxPrune; m != nil {
		if err := CheckMaxPrune(*m); err != nil {
			return fmt.Errorf("spec.syncPolicy.maxPrune %w", err)
		}
	}
	return nil
}

// CheckMaxPrune checks a deletion budget: a count or a percentage, not
// negative (the App's syncPolicy.maxPrune, the CLI's --max-prune).
func CheckMaxPrune(m intstr.IntOrString) error {
	if v, err := intstr.GetScaledValueFromIntOrPercent(&m, 100, true); err != nil || v < 0 {
		return fmt.Errorf("%q: must be a count or a percentage such as 25%%", m.String())
	}
	return nil
}

// Deletion policies (spec.deletionPolicy).
const (
	DeletionOrphan = "orphan"
	DeletionDelete = "delete"
)

// MaxPrune is the App's deletion budget for syncs the controller starts:
// spec.syncPolicy.maxPrune, else 25% when auto is on.
func MaxPrune(a *v1alpha1.App) *intstr.IntOrString {
	if m := a.Spec.SyncPolicy.MaxPrune; m != nil {
		return m
	}
	if auto := a.Spec.SyncPolicy.Auto; auto == nil || *auto {
		m := intstr.FromString("25%") // the budget of an App that syncs by itself and names none
		return &m
	}
	return nil
}

// IgnoreRules converts the App's ignoreDifferences for diff and sync.
func IgnoreRules(a *v1alpha1.App) []diff.IgnoreDifference {
	out := make([]diff.IgnoreDifference, len(a.Spec.IgnoreDifferences))
	for i, ig := range a.Spec.IgnoreDifferences {
		out[i] = diff.IgnoreDifference(ig)
	}
	return out
}

func helmValues(a *v1alpha1.App) (map[string]any, error) {
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
func SourcePath(a *v1alpha1.App) string {
	p := strings.TrimPrefix(path.Clean("/"+a.Spec.Source.Path), "/")
	if p == "" {
		return "."
	}
	return p
}

// RenderOptions converts the App's options for render. Objects that name no
// namespace go to the destination, by default the App's own namespace.
func RenderOptions(a *v1alpha1.App) render.Options {
	r := a.Spec.Render
	values, _ := helmValues(a) // checked by Validate
	release := r.Helm.ReleaseName
	if release == "" {
		release = a.Name
	}
	namespace := a.Spec.Destination.Namespace
	if namespace == "" {
		namespace = a.Namespace
	}
	renderer := render.Renderer(r.Renderer)
	if renderer == render.Auto && a.Spec.Source.Chart != nil {
		renderer = render.Helm // the directory holds value files, not a chart
	}
	return render.Options{
		Renderer:  renderer,
		Namespace: namespace,
		Plain:     render.PlainOptions{Recursive: r.Plain.Recursive, Include: r.Plain.Include, Exclude: r.Plain.Exclude},
		Helm: render.HelmOptions{
			ReleaseName: release, ValueFiles: r.Helm.ValueFiles, Values: values,
			Set: r.Helm.Set, SetString: r.Helm.SetString, KubeVersion: r.Helm.KubeVersion,
			APIVersions: r.Helm.APIVersions, SkipCRDs: r.Helm.SkipCRDs,
		},
		Kustomize: render.KustomizeOptions{AllowRemote: r.Kustomize.AllowRemote, AllowHelm: r.Kustomize.AllowHelm},
	}
}

// ChartRef is the chart the App names in a repository, nil when it renders
// its Git directory.
func ChartRef(a *v1alpha1.App) *charts.Ref {
	c := a.Spec.Source.Chart
	if c == nil {
		return nil
	}
	return &charts.Ref{RepoURL: c.RepoURL, Name: c.Name, Version: c.Version}
}
