package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/plumbhq/plumb/escape"
	"github.com/plumbhq/plumb/render"
)

// renderFlags are the render options shared by render, diff, sync and status.
type renderFlags struct {
	renderer    string
	root        string
	valueFiles  []string
	set         []string
	setString   []string
	releaseName string
	kubeVersion string
	apiVersions []string
	recursive   bool
	include     []string
	exclude     []string
	allowRemote bool
	allowHelm   bool
	charts      chartFlags
	sandbox     sandboxFlags
}

func (f *renderFlags) bind(fs *pflag.FlagSet) {
	fs.StringVar(&f.renderer, "renderer", "", "plain, kustomize or helm (default: detected)")
	fs.StringVar(&f.root, "repo-root", "", "the repository root that nothing may be read outside of (default: the enclosing git work tree, else PATH)")
	fs.StringArrayVarP(&f.valueFiles, "values", "f", nil, "Helm values file, relative to the chart or, with a leading /, to the repository root (repeatable)")
	fs.StringArrayVar(&f.set, "set", nil, "Helm value override key=value (repeatable)")
	fs.StringArrayVar(&f.setString, "set-string", nil, "Helm string value override key=value (repeatable)")
	fs.StringVar(&f.releaseName, "release-name", "", "Helm release name (default: the chart directory's name)")
	fs.StringVar(&f.kubeVersion, "kube-version", "", "Kubernetes version for Helm's .Capabilities")
	fs.StringArrayVar(&f.apiVersions, "api-versions", nil, "extra API versions for Helm's .Capabilities (repeatable)")
	fs.BoolVarP(&f.recursive, "recursive", "R", false, "plain directories: include subdirectories")
	fs.StringArrayVar(&f.include, "include", nil, "plain directories: glob of files to read (default *.yaml, *.yml, *.json)")
	fs.StringArrayVar(&f.exclude, "exclude", nil, "plain directories: glob of files to skip")
	fs.BoolVar(&f.allowRemote, "kustomize-allow-remote", false, "Kustomize: allow remote bases and URL resources")
	fs.BoolVar(&f.allowHelm, "kustomize-allow-helm", false, "Kustomize: allow the helmCharts generator")
	f.charts.bind(fs)
	f.sandbox.bind(fs)
}

// source resolves PATH into a checkout root and a path inside it: the root
// is --repo-root, else the enclosing git work tree, else PATH itself.
func (f *renderFlags) source(p string) (render.Source, error) {
	abs, err := filepath.Abs(p)
	if err != nil {
		return render.Source{}, err
	}
	root := f.root
	if root == "" {
		root = enclosingRepo(abs)
	}
	root, err = filepath.Abs(root)
	if err != nil {
		return render.Source{}, err
	}
	rel, err := filepath.Rel(root, abs)
	if err != nil {
		return render.Source{}, err
	}
	return render.Source{Root: root, Path: filepath.ToSlash(rel)}, nil
}

func enclosingRepo(dir string) string {
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, ".git")); err == nil {
			return d
		}
		if filepath.Dir(d) == d {
			return dir
		}
	}
}

func (f *renderFlags) options(namespace string) render.Options {
	return render.Options{
		Renderer:  render.Renderer(f.renderer),
		Namespace: namespace,
		Plain:     render.PlainOptions{Recursive: f.recursive, Include: f.include, Exclude: f.exclude},
		Helm: render.HelmOptions{
			ReleaseName: f.releaseName,
			ValueFiles:  f.valueFiles,
			Set:         f.set,
			SetString:   f.setString,
			KubeVersion: f.kubeVersion,
			APIVersions: f.apiVersions,
		},
		Kustomize: render.KustomizeOptions{AllowRemote: f.allowRemote, AllowHelm: f.allowHelm},
	}
}

type renderCmdFlags struct {
	render renderFlags
	output string
	hooks  bool
}

func newRenderCmd(s streams, g *globalFlags) *cobra.Command {
	f := &renderCmdFlags{}
	cmd := &cobra.Command{
		Use:   "render PATH",
		Short: "Print the objects a directory renders to (plain YAML, Kustomize or Helm)",
		Example: "  plumb render ./apps/shop\n" +
			"  plumb render ./charts/web -f values-prod.yaml --set image.tag=1.2.3 -n web\n" +
			"  plumb render ./overlays/prod -o json",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runRender(cmd.Context(), s, g, f, args[0])
		},
	}
	f.render.bind(cmd.Flags())
	cmd.Flags().StringVarP(&f.output, "output", "o", "yaml", "yaml or json")
	cmd.Flags().BoolVar(&f.hooks, "hooks", true, "include Helm hooks (after the other objects)")
	return cmd
}

func runRender(ctx context.Context, s streams, g *globalFlags, f *renderCmdFlags, p string) error {
	if f.output != "yaml" && f.output != "json" {
		return fmt.Errorf("--output: unknown format %q (want yaml or json)", f.output)
	}
	src, err := f.render.source(p)
	if err != nil {
		return err
	}
	// Render without a cluster: the namespace comes from the flag only, so
	// the output does not depend on whichever kubeconfig happens to be set.
	opts := f.render.options(g.kube.namespace)
	resolved, err := f.render.charts.prepare(ctx, src, &opts)
	if err != nil {
		return err
	}
	for _, r := range resolved {
		fmt.Fprintf(s.errOut, "chart %s\n", r.Revision())
	}
	sb, err := f.render.sandbox.sandbox(0)
	if err != nil {
		return err
	}
	res, err := sb.Render(ctx, src, opts)
	if err != nil && !errors.Is(err, render.ErrEmptyRender) {
		return err
	}
	for _, w := range res.Warnings {
		fmt.Fprintf(s.errOut, "warning: %s\n", escape.Text(w))
	}
	objs := res.Objects
	if f.hooks {
		objs = append(objs, res.Hooks...)
	}
	if err := writeObjects(s.out, objs, f.output); err != nil {
		return err
	}
	return err // ErrEmptyRender is still an error, after printing nothing
}

// writeObjects prints objects as a YAML stream (each document headed by
// where it came from) or as a JSON List.
func writeObjects(w io.Writer, objs []render.Object, format string) error {
	if format == "json" {
		items := make([]map[string]any, len(objs))
		for i, o := range objs {
			items[i] = o.Object.Object
		}
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(map[string]any{"apiVersion": "v1", "kind": "List", "items": items})
	}
	return render.EncodeYAML(w, objs)
}
