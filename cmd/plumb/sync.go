package main

import (
	"context"

	"fmt"
	"io"
	"sort"
	"strings"
	gosync "sync"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/plumbhq/plumb/apps"
	"github.com/plumbhq/plumb/diff"
	"github.com/plumbhq/plumb/escape"
	"github.com/plumbhq/plumb/health"
	"github.com/plumbhq/plumb/sync"
)

type syncFlags struct {
	app         appFlags
	prune       bool
	dryRun      bool
	wait        bool
	timeout     time.Duration
	force       bool
	allowEmpty  bool
	propagation string
	adopt       bool
	maxPrune    string
	approve     bool
}

func newSyncCmd(s streams, g *globalFlags) *cobra.Command {
	f := &syncFlags{}
	cmd := &cobra.Command{
		Use:   "sync PATH",
		Short: "Apply what PATH renders with server-side apply, optionally prune and wait for health",
		Example: "  plumb sync ./apps/shop --prune --wait\n" +
			"  plumb sync ./apps/shop --dry-run",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runSync(cmd.Context(), s, g, f, args[0])
		},
	}
	f.app.bind(cmd.Flags())
	cmd.Flags().BoolVar(&f.prune, "prune", false, "delete objects the App applied before and no longer renders")
	cmd.Flags().BoolVar(&f.dryRun, "dry-run", false, "server-side dry-run: show what would change, write nothing")
	cmd.Flags().BoolVar(&f.wait, "wait", false, "wait until every object is healthy (fails fast on a failed rollout)")
	cmd.Flags().DurationVar(&f.timeout, "timeout", 5*time.Minute, "how long --wait waits, and each sync wave for the one before it")
	cmd.Flags().BoolVar(&f.force, "force", false, "delete and recreate objects whose change hits an immutable field")
	cmd.Flags().BoolVar(&f.allowEmpty, "allow-empty", false, "allow an empty render to prune everything the App had")
	cmd.Flags().StringVar(&f.propagation, "cascade", "foreground", "prune propagation: foreground, background or orphan")
	cmd.Flags().BoolVar(&f.adopt, "adopt", false, "take over objects that exist without a plumb label (created by hand or by another tool)")
	cmd.Flags().StringVar(&f.maxPrune, "max-prune", "", "deletion budget: hold every prune when more than this many objects (or this percentage, e.g. 25%) would go")
	cmd.Flags().BoolVar(&f.approve, "approve-prune", false, "let prunes past the deletion budget go")
	return cmd
}

func runSync(ctx context.Context, s streams, g *globalFlags, f *syncFlags, path string) error {
	propagation, err := parsePropagation(f.propagation)
	if err != nil {
		return err
	}
	maxPrune, err := parseMaxPrune(f.maxPrune)
	if err != nil {
		return err
	}
	rater, err := f.app.rater()
	if err != nil {
		return err
	}
	e, err := setup(ctx, g, &f.app, path, f.allowEmpty)
	if err != nil {
		return err
	}
	e.warn(s)
	log := g.logger(s.errOut)
	log.Info("rendered", "app", e.app, "objects", len(e.desired), "path", path)
	tty := isTerminal(s.out)
	var mu gosync.Mutex
	done := 0
	progress := func(ch sync.Change) {
		mu.Lock()
		defer mu.Unlock()
		done++
		// Change texts are masked by sync; nothing else reaches the log.
		log.Debug("object", "ref", ch.Ref.String(), "action", string(ch.Action), "stage", ch.Stage, "reason", ch.Reason, "error", ch.Error)
		if tty {
			fmt.Fprintf(s.out, "\r\x1b[K%s: %d/%d %s %s", ch.Stage, done, len(e.desired), ch.Action, ch.Ref)
		}
	}
	masker := diff.NewMasker()
	// One metadata list per kind and namespace replaces a GET per object,
	// and objects whose fingerprint matches cost nothing.
	changes, syncErr := e.applier.Sync(ctx, e.desired, sync.Options{
		Prune:            f.prune,
		AllowEmpty:       f.allowEmpty,
		PruneDefinitions: f.app.pruneDefinitions,
		Force:            f.force,
		DryRun:           f.dryRun,
		Propagation:      propagation,
		Adopt:            f.adopt,
		MaxPrune:         maxPrune,
		ApprovePrune:     f.approve,
		Ignore:           e.ignore,
		Masker:           masker,
		Progress:         progress,
		WaitWave:         apps.WaveWaiter(e.applier.Client(), f.timeout, rater),
		Hooks:            e.hooks,
	})
	if tty {
		fmt.Fprint(s.out, "\r\x1b[K")
	}
	if err := writeChanges(s.out, changes); err != nil {
		return err
	}
	if syncErr != nil {
		return masker.ScrubError(syncErr)
	}
	if held := changes.Held(); len(held) > 0 {
		fmt.Fprintf(s.errOut, "warning: %s; run again with --approve-prune to let them go\n", held[0].Reason)
	}
	if !f.wait || f.dryRun {
		return nil
	}
	return waitHealthy(ctx, s, f, e, rater, masker, tty)
}

// waitHealthy waits for every object of the sync to become healthy
// (--wait), failing fast on a failed rollout.
func waitHealthy(ctx context.Context, s streams, f *syncFlags, e *engine, rater *health.Rater, masker *diff.Masker, tty bool) error {
	fmt.Fprintf(s.out, "waiting up to %s for %d objects to become healthy\n", f.timeout, len(e.desired))
	var last string
	report, err := health.Wait(ctx, e.applier.Client(), e.desired, health.WaitOptions{Timeout: f.timeout, Interval: 250 * time.Millisecond, Rater: rater}, func(r health.Report) {
		line := waitLine(r)
		if tty {
			fmt.Fprintf(s.out, "\r\x1b[K%s", line)
		} else if line != last {
			fmt.Fprintln(s.out, line)
		}
		last = line
	})
	if tty {
		fmt.Fprintln(s.out)
	}
	if err != nil {
		return masker.ScrubError(err)
	}
	fmt.Fprintf(s.out, "app %s: %s\n", e.app, report.Status)
	return nil
}

// parseMaxPrune reads --max-prune: a count or a percentage ("" for none).
func parseMaxPrune(s string) (*intstr.IntOrString, error) {
	if s == "" {
		return nil, nil
	}
	v := intstr.Parse(s)
	if err := apps.CheckMaxPrune(v); err != nil {
		return nil, fmt.Errorf("--max-prune %w", err)
	}
	return &v, nil
}

func parsePropagation(s string) (metav1.DeletionPropagation, error) {
	switch s {
	case "foreground":
		return metav1.DeletePropagationForeground, nil
	case "background":
		return metav1.DeletePropagationBackground, nil
	case "orphan":
		return metav1.DeletePropagationOrphan, nil
	}
	return "", fmt.Errorf("--cascade: %q is not foreground, background or orphan", s)
}

// waitLine summarises a health round: counts and the objects still waiting.
func waitLine(r health.Report) string {
	counts := map[health.Status]int{}
	var waiting []string
	for _, o := range r.Objects {
		counts[o.Status]++
		if o.Status != health.Healthy && o.Status != health.Suspended {
			waiting = append(waiting, o.Ref.String())
		}
	}
	line := fmt.Sprintf("%d healthy, %d progressing, %d degraded", counts[health.Healthy], counts[health.Progressing], counts[health.Degraded])
	if len(waiting) > 0 {
		sort.Strings(waiting)
		if len(waiting) > 3 {
			waiting = append(waiting[:3], fmt.Sprintf("and %d more", len(waiting)-3))
		}
		line += "; waiting for " + strings.Join(waiting, ", ")
	}
	return line
}

// writeChanges prints the change table and a summary line.
func writeChanges(w io.Writer, changes sync.ChangeSet) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "OBJECT\tACTION\tSTAGE\tDETAIL")
	for _, ch := range changes {
		detail := ch.Reason
		if ch.Error != "" {
			detail = ch.Error
		}
		obj := ch.Ref.String()
		if ch.Hook != "" {
			obj += " (hook: " + ch.Hook + ")"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", escape.Text(obj), ch.Action, ch.Stage, escape.Text(detail))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	c := changes.Counts()
	hooks := ""
	if c[sync.Ran] > 0 {
		hooks = fmt.Sprintf(", %d hooks ran", c[sync.Ran])
	}
	_, err := fmt.Fprintf(w, "%d created, %d configured, %d recreated, %d unchanged, %d pruned, %d skipped, %d failed%s\n",
		c[sync.Created], c[sync.Configured], c[sync.Recreated], c[sync.Unchanged], c[sync.Pruned], c[sync.Skipped], c[sync.Failed], hooks)
	return err
}
