package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/pflag"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/plumbhq/plumb/apps"
	"github.com/plumbhq/plumb/charts"
	"github.com/plumbhq/plumb/cluster"
	"github.com/plumbhq/plumb/diff"
	"github.com/plumbhq/plumb/escape"
	"github.com/plumbhq/plumb/health"
	"github.com/plumbhq/plumb/health/library"
	"github.com/plumbhq/plumb/sync"
)

// appFlags are shared by diff, sync and status: which App, where its
// inventory lives, which fields to leave alone.
type appFlags struct {
	render             renderFlags
	app                string
	inventoryNamespace string
	ignore             []string
	ignoreManagers     []string
	pruneDefinitions   bool
	healthRules        string
}

func (f *appFlags) bind(fs *pflag.FlagSet) {
	f.render.bind(fs)
	fs.StringVar(&f.app, "app", "", "the App's name: labels its objects and keys its inventory (default: the directory's name)")
	fs.StringVar(&f.inventoryNamespace, "inventory-namespace", "default", "namespace of the App's inventory ConfigMap")
	fs.StringArrayVar(&f.ignore, "ignore", nil, "leave a field alone: [Kind[.group][/namespace]/name:]/json/pointer (repeatable)")
	fs.StringArrayVar(&f.ignoreManagers, "ignore-manager", nil, "leave alone every field this field manager owns, e.g. an autoscaler's (repeatable)")
	fs.BoolVar(&f.pruneDefinitions, "prune-definitions", false, "allow pruning CustomResourceDefinitions and Namespaces")
	fs.StringVar(&f.healthRules, "health-rules", "", "file of health rules (CEL, a YAML list of {apiVersion, kind, current, inProgress, failed}) that rate objects before plumb's own")
}

// rater rates health with the --health-rules file's rules first.
func (f *appFlags) rater() (*health.Rater, error) {
	rules, err := apps.ReadHealthRules(f.healthRules, "--health-rules")
	if err != nil {
		return nil, fmt.Errorf("--health-rules: %w", err)
	}
	lib, err := library.New()
	if err != nil {
		return nil, err
	}
	return health.NewRater(rules).WithLibrary(lib), nil
}

func (f *appFlags) appName(path string) (string, error) {
	if f.app != "" {
		return f.app, nil
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", err
	}
	return filepath.Base(abs), nil
}

// ignoreRules parses --ignore values.
func (f *appFlags) ignoreRules() ([]diff.IgnoreDifference, error) {
	var out []diff.IgnoreDifference
	for _, v := range f.ignore {
		sel, ptr, found := strings.Cut(v, ":")
		if !found {
			sel, ptr = "", v
		}
		ig := diff.IgnoreDifference{JSONPointers: []string{ptr}}
		if sel != "" {
			kind, rest, _ := strings.Cut(sel, "/")
			ig.Kind, ig.Group, _ = strings.Cut(kind, ".")
			parts := strings.Split(rest, "/")
			switch len(parts) {
			case 1:
				ig.Name = parts[0]
			case 2:
				ig.Namespace, ig.Name = parts[0], parts[1]
			}
		}
		if err := ig.Validate(); err != nil {
			return nil, fmt.Errorf("--ignore %q: %w", v, err)
		}
		out = append(out, ig)
	}
	if len(f.ignoreManagers) > 0 {
		out = append(out, diff.IgnoreDifference{ManagedFieldsManagers: f.ignoreManagers})
	}
	return out, nil
}

// engine is what diff and sync have in common once flags are read: the
// render, and the App's applier holding its inventory.
type engine struct {
	applier *sync.Applier
	app     string
	desired []*unstructured.Unstructured // labelled for app
	hooks   []*unstructured.Unstructured // the render's hooks, as rendered
	ignore  []diff.IgnoreDifference
	// charts are the charts fetched for the render, for report headers.
	charts []charts.Resolved
	// warnings say what the render did not do (printed to standard error).
	warnings []string
}

// warn prints the render's warnings.
func (e *engine) warn(s streams) {
	for _, w := range e.warnings {
		fmt.Fprintf(s.errOut, "warning: %s\n", escape.Text(w))
	}
}

// setup connects to the cluster and renders PATH with the cluster's REST
// mapper deciding namespace scope. A render error (an empty render included)
// is returned as is: nothing downstream runs on a partial or empty render.
func setup(ctx context.Context, g *globalFlags, f *appFlags, path string, allowEmpty bool) (*engine, error) {
	app, err := f.appName(path)
	if err != nil {
		return nil, err
	}
	ignore, err := f.ignoreRules()
	if err != nil {
		return nil, err
	}
	cfg, ns, err := g.kube.restConfig()
	if err != nil {
		return nil, err
	}
	c, err := cluster.NewClient(cfg)
	if err != nil {
		return nil, err
	}
	a, err := sync.NewApplier(c, sync.ApplierOptions{App: app, InventoryNamespace: f.inventoryNamespace})
	if err != nil {
		return nil, err
	}
	src, err := f.render.source(path)
	if err != nil {
		return nil, err
	}
	opts := f.render.options(ns)
	opts.Mapper = c.Mapper()
	opts.Capabilities = apps.Capabilities(c)
	resolved, err := f.render.charts.prepare(ctx, src, &opts)
	if err != nil {
		return nil, err
	}
	sb, err := f.render.sandbox.sandbox(0)
	if err != nil {
		return nil, err
	}
	rendered, err := apps.Render(ctx, sb, src, opts, allowEmpty)
	if err != nil {
		return nil, err
	}
	desired, warnings := rendered.Objects, rendered.Warnings
	// Labelled in place, as sync applies them, with their intents hashed once.
	if _, err := a.Prepare(desired, ignore); err != nil {
		return nil, err
	}
	return &engine{applier: a, app: app, desired: desired, hooks: rendered.HookObjects(), ignore: ignore, charts: resolved, warnings: warnings}, nil
}

// isTerminal reports whether w is a terminal (for colour and live progress).
func isTerminal(w any) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
