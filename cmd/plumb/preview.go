package main

import (
	"bytes"
	"context"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/plumbhq/plumb/cluster"
	"github.com/plumbhq/plumb/diff"
	"github.com/plumbhq/plumb/git"
	"github.com/plumbhq/plumb/preview"
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
	charts             chartFlags
	sandbox            sandboxFlags
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
	f.charts.bindFetch(fs)
	f.sandbox.bind(fs)
	f.sandbox.bindWorkers(fs)
	fs.StringArrayVar(&f.charts.hosts, "chart-allow-host", nil, "a chart repository host the head revision may fetch from besides those the base revision uses (repeatable)")
	_ = cmd.MarkFlagRequired("base")
	return cmd
}

func runPreview(ctx context.Context, s streams, g *globalFlags, f *previewFlags) error {
	if f.output != "markdown" && f.output != "text" && f.output != "json" {
		return fmt.Errorf("--output: unknown format %q (want markdown, text or json)", f.output)
	}
	repo, err := git.OpenLocal(f.repo)
	if err != nil {
		return err
	}
	opts := preview.Options{
		Base: f.base, Head: f.head, AppsFile: f.appsFile, RepoURL: f.repoURL,
		Normalize:          diff.NormalizeOptions{DropLabels: f.dropLabels, DropAnnotationPrefixes: f.dropAnnotations},
		MaxExportBytes:     f.maxExportBytes,
		InventoryNamespace: f.inventoryNamespace,
	}
	if opts.RepoURL == "" {
		opts.RepoURL = repo.RemoteURL("origin")
	}
	sb, err := f.sandbox.sandbox(1) // a preview renders each affected App twice
	if err != nil {
		return err
	}
	defer sb.Close()
	opts.Renderer = sb
	opts.Charts = f.charts.charts(nil)
	opts.ChartHosts = f.charts.hosts
	if f.live {
		cfg, _, err := g.kube.restConfig()
		if err != nil {
			return err
		}
		if opts.Live, err = cluster.NewClient(cfg); err != nil {
			return err
		}
	}
	rep, err := preview.Run(ctx, repo, opts)
	if err != nil {
		return err
	}
	if f.outputFile != "" {
		var full bytes.Buffer
		if err := preview.Write(&full, rep, f.output, 1<<62); err != nil {
			return err
		}
		if err := os.WriteFile(f.outputFile, full.Bytes(), 0o644); err != nil {
			return fmt.Errorf("--output-file: %w", err)
		}
	}
	if err := preview.Write(s.out, rep, f.output, f.maxMarkdown); err != nil {
		return err
	}
	for _, a := range rep.Apps {
		if a.Failed() {
			return &exitCodeError{code: exitError, err: fmt.Errorf("app %s: render failed (see the report)", a.Name)}
		}
	}
	if rep.Changed() {
		return &exitCodeError{code: exitChanges}
	}
	return nil
}
