package main

import (
	"context"
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/plumbhq/plumb/cluster"
	"github.com/plumbhq/plumb/escape"
	"github.com/plumbhq/plumb/health"
	"github.com/plumbhq/plumb/resource"
	"github.com/plumbhq/plumb/sync"
)

type statusFlags struct {
	app appFlags
}

func newStatusCmd(s streams, g *globalFlags) *cobra.Command {
	f := &statusFlags{}
	cmd := &cobra.Command{
		Use:     "status PATH",
		Short:   "Show the health of every object the App applied, from its inventory",
		Example: "  plumb status ./apps/shop\n  plumb status ./apps/shop --app shop-prod",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runStatus(cmd.Context(), s, g, f, args[0])
		},
	}
	f.app.bind(cmd.Flags())
	return cmd
}

func runStatus(ctx context.Context, s streams, g *globalFlags, f *statusFlags, path string) error {
	app, err := f.app.appName(path)
	if err != nil {
		return err
	}
	rater, err := f.app.rater()
	if err != nil {
		return err
	}
	cfg, _, err := g.kube.restConfig()
	if err != nil {
		return err
	}
	c, err := cluster.NewClient(cfg)
	if err != nil {
		return err
	}
	objs, err := sync.InventoryObjects(ctx, c, f.app.inventoryNamespace, app)
	if err != nil {
		return err
	}
	if len(objs) == 0 {
		return fmt.Errorf("app %s has no inventory in namespace %s: it was never synced (or use --app / --inventory-namespace)", app, f.app.inventoryNamespace)
	}
	var results []health.Result
	for _, o := range objs {
		live, err := c.Get(ctx, o)
		if err != nil {
			return err
		}
		r := rater.Of(live)
		r.Ref = resource.RefOf(o)
		results = append(results, r)
	}
	report := health.Aggregate(results)
	tw := tabwriter.NewWriter(s.out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "OBJECT\tHEALTH\tREASON\tDECIDED BY")
	for _, r := range report.Objects {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", escape.Text(r.Ref.String()), r.Status, escape.Text(r.Reason), r.Source)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err = fmt.Fprintf(s.out, "app %s: %s (%d objects)\n", app, report.Status, len(results))
	return err
}
