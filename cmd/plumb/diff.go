package main

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/plumbhq/plumb/diff"
	"github.com/plumbhq/plumb/sync"
)

type diffFlags struct {
	app     appFlags
	output  string
	noColor bool
	status  bool
}

func newDiffCmd(s streams, g *globalFlags) *cobra.Command {
	f := &diffFlags{}
	cmd := &cobra.Command{
		Use:   "diff PATH",
		Short: "Show what a sync would change in the cluster (exit 0: none, 1: changes, 2: error)",
		Example: "  plumb diff ./apps/shop --context prod\n" +
			"  plumb diff ./apps/shop -o markdown > comment.md",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runDiff(cmd.Context(), s, g, f, args[0])
		},
	}
	f.app.bind(cmd.Flags())
	cmd.Flags().StringVarP(&f.output, "output", "o", "text", "text, json or markdown")
	cmd.Flags().BoolVar(&f.noColor, "no-color", false, "never colour the text output")
	cmd.Flags().BoolVar(&f.status, "compare-status", false, "compare .status too")
	return cmd
}

func runDiff(ctx context.Context, s streams, g *globalFlags, f *diffFlags, path string) error {
	if f.output != "text" && f.output != "json" && f.output != "markdown" {
		return fmt.Errorf("--output: unknown format %q (want text, json or markdown)", f.output)
	}
	e, err := setup(ctx, g, &f.app, path, false)
	if err != nil {
		return err
	}
	e.warn(s)
	report, err := e.applier.Diff(ctx, e.desired, sync.DiffOptions{
		Prune:            true,
		Hooks:            e.hooks,
		PruneDefinitions: f.app.pruneDefinitions,
		Diff: diff.Options{
			Ignore:    e.ignore,
			Normalize: diff.NormalizeOptions{CompareStatus: f.status},
			Masker:    diff.NewMasker(),
		},
	})
	if err != nil {
		return err
	}
	title := "plumb diff: " + e.app
	for _, c := range e.charts {
		title += " (chart " + c.Revision() + ")"
	}
	switch f.output {
	case "json":
		err = diff.WriteJSON(s.out, report)
	case "markdown":
		err = diff.WriteMarkdown(s.out, title, report, 0)
	default:
		for _, c := range e.charts {
			fmt.Fprintf(s.out, "chart %s\n", c.Revision())
		}
		err = diff.WriteText(s.out, report, diff.TextOptions{Color: !f.noColor && isTerminal(s.out)})
	}
	if err != nil {
		return err
	}
	if errs := report.Errors(); len(errs) > 0 {
		return fmt.Errorf("%d objects could not be diffed: %s", len(errs), errs[0].Error)
	}
	if report.Changed() {
		return &exitCodeError{code: exitChanges}
	}
	return nil
}
