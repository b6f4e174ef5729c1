package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path"
	"slices"
	"sort"
	"strings"

	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/plumbhq/plumb/api/v1alpha1"
	"github.com/plumbhq/plumb/diff"
	"github.com/plumbhq/plumb/git"
	"github.com/plumbhq/plumb/render"
	"github.com/plumbhq/plumb/sync"
)

type previewFlags struct {
	repo               string
	base, head         string
	appsFile           string
	repoURL            string
	output             string
	outputFile         string
	live               bool
	dropLabels         []string
	dropAnnotations    []string
	maxMarkdown        int
	maxExportBytes     int64
	inventoryNamespace string
}

func newPreviewCmd(s streams, g *globalFlags) *cobra.Command {
	f := &previewFlags{}
	cmd := &cobra.Command{
		Use:   "preview --base REF --head REF",
		Short: "Show what a change between two revisions does to every App it affects, without a cluster",
		Long: "preview finds the Apps defined in the repository (App manifests, or --apps FILE), works out which of\n" +
			"them the change between --base and --head can affect (their path, Kustomize bases and components,\n" +
			"Helm value files), renders only those at both revisions and diffs them object by object.\n" +
			"Exit codes: 0 no change, 1 changes, 2 errors (a render error included).",
		Example: "  plumb preview --base origin/main --head HEAD -o markdown --output-file full.md > comment.md",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runPreview(cmd.Context(), s, g, f)
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&f.repo, "repo", ".", "the repository (any directory inside it)")
	fs.StringVar(&f.base, "base", "", "the revision changes are measured from (required)")
	fs.StringVar(&f.head, "head", "HEAD", "the revision to preview")
	fs.StringVar(&f.appsFile, "apps", "", "a file in the repository holding App objects (default: every App manifest in the repository)")
	fs.StringVar(&f.repoURL, "repo-url", "", "preview only Apps whose spec.source.repoURL is this repository (default: the clone's origin remote; every App when there is none)")
	fs.StringVarP(&f.output, "output", "o", "markdown", "markdown, text or json")
	fs.StringVar(&f.outputFile, "output-file", "", "also write the full, untruncated report here")
	fs.BoolVar(&f.live, "live", false, "also diff head against the live cluster (needs a kubeconfig)")
	fs.StringArrayVar(&f.dropLabels, "drop-label", []string{"helm.sh/chart"}, "label left out of the comparison (repeatable)")
	fs.StringArrayVar(&f.dropAnnotations, "drop-annotation-prefix", []string{"checksum/"}, "annotation prefix left out of the comparison (repeatable)")
	fs.IntVar(&f.maxMarkdown, "max-markdown", diff.MaxMarkdown, "size limit of the Markdown written to standard output")
	fs.Int64Var(&f.maxExportBytes, "max-repo-bytes", 512<<20, "cap on the bytes of one revision written out for rendering")
	fs.StringVar(&f.inventoryNamespace, "inventory-namespace", "default", "with --live: namespace of the Apps' inventories")
	_ = cmd.MarkFlagRequired("base")
	return cmd
}

// appPreview is one affected App.
type appPreview struct {
	Name      string       `json:"name"`
	Path      string       `json:"path"`
	BaseError string       `json:"baseError,omitempty"`
	HeadError string       `json:"headError,omitempty"`
	Report    diff.Report  `json:"report"`
	Live      *diff.Report `json:"live,omitempty"`
	LiveError string       `json:"liveError,omitempty"`
}

func (a appPreview) failed() bool { return a.BaseError != "" || a.HeadError != "" || a.LiveError != "" }

// previewReport is the whole preview; its JSON is the -o json output.
type previewReport struct {
	Base       string       `json:"base"`
	Head       string       `json:"head"`
	Apps       []appPreview `json:"apps"`
	Unaffected int          `json:"unaffected"`
	// OtherRepos counts Apps whose source is another repository.
	OtherRepos int `json:"otherRepos"`
	// Renders counts renders performed, to show only affected Apps render.
	Renders int `json:"renders"`
}

func runPreview(ctx context.Context, s streams, g *globalFlags, f *previewFlags) error {
	if f.output != "markdown" && f.output != "text" && f.output != "json" {
		return fmt.Errorf("--output: unknown format %q (want markdown, text or json)", f.output)
	}
	repo, err := git.OpenLocal(f.repo)
	if err != nil {
		return err
	}
	base, err := repo.Resolve(f.base)
	if err != nil {
		return err
	}
	head, err := repo.Resolve(f.head)
	if err != nil {
		return err
	}
	changed, err := repo.ChangedFiles(ctx, base, head)
	if err != nil {
		return err
	}
	headApps, err := findApps(repo, head, f.appsFile)
	if err != nil {
		return err
	}
	baseApps, err := findApps(repo, base, f.appsFile)
	if err != nil {
		return fmt.Errorf("at --base: %w", err)
	}
	repoURL := f.repoURL
	if repoURL == "" {
		repoURL = repo.RemoteURL("origin")
	}
	rep := &previewReport{Base: base, Head: head}
	opts := diff.Options{
		Normalize: diff.NormalizeOptions{DropLabels: f.dropLabels, DropAnnotationPrefixes: f.dropAnnotations},
		Masker:    diff.NewMasker(),
		From:      "base",
		To:        "head",
	}
	var client *sync.Client
	if f.live {
		cfg, _, err := g.kube.restConfig()
		if err != nil {
			return err
		}
		if client, err = sync.NewClient(cfg); err != nil {
			return err
		}
	}
	trees := map[string]string{}
	checkout := func(commit string) (string, error) {
		if dir, ok := trees[commit]; ok {
			return dir, nil
		}
		dir, err := os.MkdirTemp("", "plumb-preview-")
		if err != nil {
			return "", err
		}
		trees[commit] = dir
		return dir, repo.Export(ctx, commit, dir, f.maxExportBytes)
	}
	defer func() {
		for _, dir := range trees {
			os.RemoveAll(dir)
		}
	}()
	names := map[string]bool{}
	for n := range headApps {
		names[n] = true
	}
	for n := range baseApps {
		names[n] = true
	}
	if len(changed) > 0 && len(names) > 0 {
		for _, c := range []string{base, head} {
			if _, err := checkout(c); err != nil {
				return err
			}
		}
	}
	for _, name := range slices.Sorted(maps.Keys(names)) {
		b, h := baseApps[name], headApps[name]
		if !fromRepo(repoURL, b, h) {
			rep.OtherRepos++
			continue
		}
		if len(changed) == 0 || !appAffected(b, h, trees[base], trees[head], changed) {
			rep.Unaffected++
			continue
		}
		cur := h
		if cur == nil {
			cur = b
		}
		ap := appPreview{Name: name, Path: cur.app.SourcePath()}
		var baseObjs, headObjs []*unstructured.Unstructured
		if b != nil {
			baseObjs, err = renderApp(ctx, trees[base], b.app)
			rep.Renders++
			if err != nil && !errors.Is(err, errNoPath) {
				ap.BaseError = opts.Masker.Scrub(err.Error())
			}
		}
		if h != nil {
			headObjs, err = renderApp(ctx, trees[head], h.app)
			rep.Renders++
			if err != nil {
				ap.HeadError = opts.Masker.Scrub(err.Error())
			}
		}
		if !ap.failed() {
			ap.Report = diff.Objects(baseObjs, headObjs, opts)
		}
		if client != nil && h != nil && ap.HeadError == "" {
			desired := sync.Label(headObjs, name)
			inv, err := sync.ReadInventory(ctx, client, f.inventoryNamespace, name)
			var prune []*unstructured.Unstructured
			if err == nil {
				prune, err = sync.PruneCandidates(ctx, client, inv, desired, false)
			}
			if err != nil {
				ap.LiveError = opts.Masker.Scrub(err.Error())
			} else {
				live := diff.Compute(ctx, client, desired, prune, diff.Options{Ignore: h.app.IgnoreRules(), Masker: opts.Masker, Normalize: opts.Normalize})
				ap.Live = &live
			}
		}
		rep.Apps = append(rep.Apps, ap)
	}

	if f.outputFile != "" {
		var full bytes.Buffer
		if err := writePreview(&full, rep, f.output, 1<<62); err != nil {
			return err
		}
		if err := os.WriteFile(f.outputFile, full.Bytes(), 0o644); err != nil {
			return fmt.Errorf("--output-file: %w", err)
		}
	}
	if err := writePreview(s.out, rep, f.output, f.maxMarkdown); err != nil {
		return err
	}
	changes := false
	for _, a := range rep.Apps {
		if a.failed() {
			return &exitCodeError{code: exitError, err: fmt.Errorf("app %s: render failed (see the report)", a.Name)}
		}
		if a.Report.Changed() || (a.Live != nil && a.Live.Changed()) {
			changes = true
		}
	}
	if changes {
		return &exitCodeError{code: exitChanges}
	}
	return nil
}

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
	apps := map[string]*foundApp{}
	for _, name := range files {
		data, err := repo.ReadFile(commit, name)
		if err != nil {
			if file != "" && errors.Is(err, object.ErrFileNotFound) {
				return apps, nil
			}
			return nil, err
		}
		if file == "" && !bytes.Contains(data, []byte(v1alpha1.APIVersion)) {
			continue
		}
		found, err := v1alpha1.ParseApps(name, data)
		if err != nil {
			return nil, err
		}
		for _, a := range found {
			if prev, dup := apps[a.Name]; dup {
				return nil, fmt.Errorf("App %s defined twice: in %s and in %s", a.Name, prev.file, name)
			}
			apps[a.Name] = &foundApp{app: a, file: name}
		}
	}
	return apps, nil
}

// fromRepo reports whether the App (at either revision) takes its source
// from repoURL; every App does when repoURL is unknown.
func fromRepo(repoURL string, apps ...*foundApp) bool {
	want, err := git.NormalizeURL(repoURL)
	if repoURL == "" || err != nil {
		return true
	}
	for _, a := range apps {
		if a == nil {
			continue
		}
		if got, err := git.NormalizeURL(a.app.Spec.Source.RepoURL); err == nil && got == want {
			return true
		}
	}
	return false
}

// appAffected reports whether a change can alter the App's render: it was
// added, removed or its manifest changed, or a changed file is among its
// inputs at either revision (each revision's inputs by its own spec).
func appAffected(b, h *foundApp, baseDir, headDir string, changed []string) bool {
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
		app v1alpha1.App
	}{{baseDir, b.app}, {headDir, h.app}} {
		inputs, err := render.Inputs(render.Source{Root: side.dir, Path: side.app.SourcePath()}, previewOptions(side.app))
		if err != nil || render.Affected(inputs, changed) {
			return true // when in doubt, render: the report shows any error
		}
	}
	return false
}

var errNoPath = errors.New("the App's path does not exist at this revision")

// previewOptions are the App's render options with the sandbox closed: a
// pull request can edit its own App manifest, so it may not turn on remote
// Kustomize bases or the Kustomize Helm generator (which runs helm outside
// the confined filesystem) in CI.
func previewOptions(app v1alpha1.App) render.Options {
	opts := app.RenderOptions()
	opts.Kustomize = render.KustomizeOptions{}
	return opts
}

func renderApp(ctx context.Context, root string, app v1alpha1.App) ([]*unstructured.Unstructured, error) {
	if st, err := os.Stat(root + "/" + app.SourcePath()); err != nil || !st.IsDir() {
		return nil, errNoPath
	}
	res, err := render.Render(ctx, render.Source{Root: root, Path: app.SourcePath()}, previewOptions(app))
	if err != nil {
		return nil, err
	}
	objs := make([]*unstructured.Unstructured, len(res.Objects))
	for i, o := range res.Objects {
		objs[i] = o.Object
	}
	return objs, nil
}

func writePreview(w io.Writer, rep *previewReport, format string, max int) error {
	switch format {
	case "json":
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	case "text":
		for _, a := range rep.Apps {
			fmt.Fprintf(w, "=== app %s (%s)\n", a.Name, a.Path)
			for _, e := range []string{a.BaseError, a.HeadError, a.LiveError} {
				if e != "" {
					fmt.Fprintf(w, "error: %s\n", e)
				}
			}
			if err := diff.WriteText(w, a.Report, diff.TextOptions{}); err != nil {
				return err
			}
		}
		_, err := fmt.Fprintf(w, "%d affected apps, %d not affected\n", len(rep.Apps), rep.Unaffected)
		return err
	}
	_, err := io.WriteString(w, previewMarkdown(rep, max))
	return err
}

// previewMarkdown is the pull-request comment: a table of affected Apps,
// then their object diffs, then one line for the Apps the change leaves alone.
func previewMarkdown(rep *previewReport, max int) string {
	var head strings.Builder
	fmt.Fprintf(&head, "### plumb preview: `%s` → `%s`\n\n", short(rep.Base), short(rep.Head))
	if rep.OtherRepos > 0 {
		fmt.Fprintf(&head, "%d Apps of other repositories were left out.\n\n", rep.OtherRepos)
	}
	if len(rep.Apps) == 0 {
		head.WriteString("No App is affected by this change.\n\n")
	} else {
		head.WriteString("| app | path | added | changed | removed | render errors |\n|---|---|---:|---:|---:|---|\n")
		for _, a := range rep.Apps {
			c := a.Report.Counts()
			var errs []string
			for side, e := range map[string]string{"base": a.BaseError, "head": a.HeadError, "live": a.LiveError} {
				if e != "" {
					errs = append(errs, side+": "+oneLine(e))
				}
			}
			sort.Strings(errs)
			fmt.Fprintf(&head, "| %s | `%s` | %d | %d | %d | %s |\n", a.Name, a.Path, c[diff.Create], c[diff.Update], c[diff.Prune], strings.Join(errs, "<br>"))
		}
		head.WriteString("\n")
	}
	var sections []diff.Section
	for _, a := range rep.Apps {
		sections = append(sections, diff.Sections(fmt.Sprintf("#### %s\n\n", a.Name), a.Report)...)
		if a.Live != nil {
			sections = append(sections, diff.Sections(fmt.Sprintf("#### %s against the live cluster\n\n", a.Name), *a.Live)...)
		}
	}
	tail := fmt.Sprintf("%d other apps are not affected by this change.\n", rep.Unaffected)
	return diff.FitMarkdown(head.String(), sections, tail, max)
}

func oneLine(s string) string {
	s = strings.ReplaceAll(s, "\n", " ")
	s = strings.ReplaceAll(s, "|", "\\|")
	if len(s) > 300 {
		s = s[:300] + "..."
	}
	return s
}

func short(h string) string {
	if len(h) > 10 {
		return h[:10]
	}
	return h
}
