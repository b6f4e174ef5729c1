package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"syscall"

	"github.com/plumbhq/plumb/escape"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// streams are the standard streams a command reads and writes. Commands never
// touch os.Stdin/os.Stdout/os.Stderr directly so tests can capture them.
type streams struct {
	in     io.Reader
	out    io.Writer
	errOut io.Writer
}

// Exit codes follow kubectl diff: 0 nothing to report, 1 a difference was
// found (not an error), 2 an error.
const (
	exitOK      = 0
	exitChanges = 1
	exitError   = 2
)

// exitCodeError lets a command choose its exit code without printing an error
// message, as `plumb diff` does when it found changes.
type exitCodeError struct {
	code int
	err  error // optional; printed when set
}

func (e *exitCodeError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit code %d", e.code)
	}
	return e.err.Error()
}

func (e *exitCodeError) Unwrap() error { return e.err }

// run builds the command tree, executes it with a signal-aware context and
// turns the outcome into an exit code. It prints an error at most once.
func run(args []string, s streams) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	cmd := newRootCmd(s)
	cmd.SetArgs(args)
	err := cmd.ExecuteContext(ctx)
	if err == nil {
		return exitOK
	}
	var ec *exitCodeError
	if errors.As(err, &ec) {
		if ec.err != nil {
			fmt.Fprintf(s.errOut, "error: %s\n", escape.Lines(ec.err.Error()))
		}
		return ec.code
	}
	fmt.Fprintf(s.errOut, "error: %s\n", escape.Lines(err.Error()))
	return exitError
}

// globalFlags are the flags every command accepts, in kubectl's spelling.
type globalFlags struct {
	kube      kubeFlags
	verbosity int
}

// kubeFlags select a cluster the way kubectl does.
type kubeFlags struct {
	kubeconfig string
	context    string
	namespace  string
	// as is the user to impersonate (kubectl's --as): what an App's
	// service account may do, tried from the CLI.
	as string
	// command is the command running, for the User-Agent.
	command string
}

func (k *kubeFlags) bind(fs *pflag.FlagSet) {
	fs.StringVar(&k.kubeconfig, "kubeconfig", "", "path to the kubeconfig file (default: $KUBECONFIG or ~/.kube/config)")
	fs.StringVar(&k.context, "context", "", "the name of the kubeconfig context to use")
	fs.StringVarP(&k.namespace, "namespace", "n", "", "the namespace for objects that do not name one (default: the context's namespace)")
	fs.StringVar(&k.as, "as", "", "user to impersonate, as kubectl's --as (system:serviceaccount:<namespace>:<name> acts as an App's service account would; under plumb serve, the controller's own identity, while each App still acts as its own account)")
}

// clientConfig resolves the flags against the kubeconfig loading rules
// (explicit path, $KUBECONFIG, ~/.kube/config, in-cluster).
func (k *kubeFlags) clientConfig() clientcmd.ClientConfig {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = k.kubeconfig
	overrides := &clientcmd.ConfigOverrides{CurrentContext: k.context}
	overrides.Context.Namespace = k.namespace
	overrides.AuthInfo.Impersonate = k.as
	return clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, overrides)
}

// restConfig returns the client configuration and the namespace in effect.
func (k *kubeFlags) restConfig() (*rest.Config, string, error) {
	cc := k.clientConfig()
	cfg, err := cc.ClientConfig()
	if err != nil {
		return nil, "", fmt.Errorf("kubeconfig: %w", err)
	}
	ns, _, err := cc.Namespace()
	if err != nil {
		return nil, "", fmt.Errorf("kubeconfig: namespace: %w", err)
	}
	cfg.UserAgent = userAgent(k.command)
	return cfg, ns, nil
}

// userAgent says who is asking, so a cluster's audit log can tell plumb
// from anything else: "plumb/v0.3.0 (linux/amd64) sync".
func userAgent(command string) string {
	ua := fmt.Sprintf("plumb/%s (%s/%s)", readVersionInfo().Version, runtime.GOOS, runtime.GOARCH)
	if command != "" {
		ua += " " + command
	}
	return ua
}

// logger returns a structured logger on the error stream whose level follows
// -v: 0 warnings and errors, 1 info, 2 and above debug.
func (g *globalFlags) logger(w io.Writer) *slog.Logger {
	level := slog.LevelWarn - slog.Level(4*min(g.verbosity, 2))
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level}))
}

func newRootCmd(s streams) *cobra.Command {
	g := &globalFlags{}
	cmd := &cobra.Command{
		Use:   "plumb",
		Short: "Keep Kubernetes clusters in step with Git",
		Long: "plumb renders plain YAML, Kustomize overlays and Helm charts from Git, shows a three-way diff\n" +
			"against the live cluster, applies it with server-side apply, prunes what Git no longer\n" +
			"holds and reports rollout health.",
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRun: func(cmd *cobra.Command, _ []string) {
			g.kube.command = cmd.Name()
		},
	}
	cmd.SetIn(s.in)
	cmd.SetOut(s.out)
	cmd.SetErr(s.errOut)
	g.kube.bind(cmd.PersistentFlags())
	cmd.PersistentFlags().IntVarP(&g.verbosity, "v", "v", 0, "log verbosity: 0 warnings, 1 info, 2 debug")

	cmd.AddCommand(newVersionCmd(s), newRenderCmd(s, g), newDiffCmd(s, g), newSyncCmd(s, g), newStatusCmd(s, g), newPreviewCmd(s, g), newServeCmd(s, g))
	return cmd
}
