package main

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/record"

	"github.com/plumbhq/plumb/apps"
	"github.com/plumbhq/plumb/cluster"
	"github.com/plumbhq/plumb/controller"
	"github.com/plumbhq/plumb/health/library"
)

// WebhookSecretEnv names the environment variable that may hold the webhook
// secret (--webhook-secret-file wins).
const WebhookSecretEnv = "PLUMB_WEBHOOK_SECRET"

type serveFlags struct {
	config                string
	healthRules           string
	listen                string
	watchNamespace        string
	webhookSecretFile     string
	maxWebhookBody        int64
	cacheDir              string
	workers               int
	timeout               time.Duration
	driftInterval         time.Duration
	leaderElect           bool
	defaultServiceAccount string
	noCrossNamespace      bool
	leaseName             string
	leaseNamespace        string
	leaseDuration         time.Duration
	renewDeadline         time.Duration
	retryPeriod           time.Duration
	logFormat             string
	qps                   float32
	burst                 int
	profiling             bool
	chartCAFile           string
	chartAllowHTTP        bool
	gitAllowHTTP          bool
	chartCacheBytes       int64
	sandbox               sandboxFlags
}

func newServeCmd(s streams, g *globalFlags) *cobra.Command {
	f := &serveFlags{}
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the controller: keep every App in step with its repository",
		Long: "serve reconciles Apps: the App resources of the cluster (CRD apps.plumb.dev), or with --config the\n" +
			"Apps of a YAML file (no CRD needed; their status is served at GET /api/v1/apps). One port serves\n" +
			"webhooks (POST /hooks/{github,gitlab,gitea,bitbucket,generic}), /metrics, /healthz, /readyz and the API.",
		Example: "  plumb serve --config apps.yaml --webhook-secret-file /etc/plumb/webhook-secret\n" +
			"  plumb serve --leader-elect --lease-namespace plumb-system",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runServe(cmd.Context(), s, g, f)
		},
	}
	fs := cmd.Flags()
	f.sandbox.bind(fs)
	f.sandbox.bindWorkers(fs)
	fs.BoolVar(&f.gitAllowHTTP, "git-allow-http", false, "allow plain http:// repository URLs (https and ssh always are)")
	fs.StringVar(&f.config, "config", "", "a YAML file of App objects to reconcile instead of the cluster's App resources")
	fs.StringVar(&f.listen, "listen", "127.0.0.1:8080", "address for webhooks, metrics, health and the API")
	fs.StringVar(&f.watchNamespace, "watch-namespace", "", "reconcile only the App resources of this namespace (default: all)")
	fs.StringVar(&f.webhookSecretFile, "webhook-secret-file", "", "file holding the webhook secret (default: $"+WebhookSecretEnv+"); without one every webhook gets 401")
	fs.Int64Var(&f.maxWebhookBody, "max-webhook-body", 1<<20, "largest webhook body accepted, in bytes")
	fs.StringVar(&f.cacheDir, "cache-dir", "", "directory for the repository and chart caches (default: the user cache directory)")
	fs.StringVar(&f.chartCAFile, "chart-ca-file", "", "PEM bundle trusted for chart repositories, besides the system's")
	fs.BoolVar(&f.chartAllowHTTP, "chart-allow-http", false, "allow http:// chart repositories, and reach OCI registries over plain HTTP")
	fs.Int64Var(&f.chartCacheBytes, "chart-cache-bytes", 1<<30, "size bound of the chart cache, shared by all Apps")
	fs.IntVar(&f.workers, "workers", controller.DefaultWorkers, "Apps reconciled at once")
	fs.DurationVar(&f.timeout, "reconcile-timeout", controller.DefaultTimeout, "bound on one reconcile of one App")
	fs.StringVar(&f.healthRules, "health-rules", "", "file of health rules for every App (CEL, a YAML list of {apiVersion, kind, current, inProgress, failed}), after each App's spec.healthRules")
	fs.DurationVar(&f.driftInterval, "drift-interval", controller.DefaultDriftInterval, "how often live objects are compared with the last render (self-heal, OutOfSync)")
	fs.StringVar(&f.defaultServiceAccount, "default-service-account", "", "service account, in each App's namespace, that Apps without spec.serviceAccountName act as (then no App acts as plumb)")
	fs.BoolVar(&f.noCrossNamespace, "no-cross-namespace", false, "confine each App to objects in its own namespace (cluster-scoped ones only through its service account)")
	fs.BoolVar(&f.leaderElect, "leader-elect", false, "elect a leader on a Lease so that only one replica reconciles")
	fs.StringVar(&f.leaseName, "lease-name", "plumb-controller", "the leader election Lease")
	fs.StringVar(&f.leaseNamespace, "lease-namespace", "", "namespace of the Lease (default: $POD_NAMESPACE, else the context's namespace)")
	fs.DurationVar(&f.leaseDuration, "lease-duration", 15*time.Second, "how long a leader's lease lasts without renewal")
	fs.DurationVar(&f.renewDeadline, "renew-deadline", 10*time.Second, "how long the leader tries to renew before giving up")
	fs.DurationVar(&f.retryPeriod, "retry-period", 2*time.Second, "how often candidates try to acquire or renew the lease")
	fs.StringVar(&f.logFormat, "log-format", "text", "text or json")
	fs.Float32Var(&f.qps, "kube-api-qps", cluster.DefaultQPS, "client-side limit of requests per second to the Kubernetes API")
	fs.IntVar(&f.burst, "kube-api-burst", cluster.DefaultBurst, "client-side burst of requests to the Kubernetes API")
	fs.BoolVar(&f.profiling, "profiling", false, "serve Go's profiles at /debug/pprof/ on the --listen address")
	return cmd
}

func runServe(ctx context.Context, s streams, g *globalFlags, f *serveFlags) error {
	log, err := serveLogger(s, g, f.logFormat)
	if err != nil {
		return err
	}
	secret, err := webhookSecret(f.webhookSecretFile)
	if err != nil {
		return err
	}
	cfg, ns, err := g.kube.restConfig()
	if err != nil {
		return err
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	metrics := controller.NewMetrics(reg)
	cfg = rest.CopyConfig(cfg)
	cfg.Wrap(metrics.WrapTransport)
	cfg.Wrap(cluster.WrapAppUserAgent) // "… serve app=<namespace>/<name>" for an App's requests
	cfg.QPS, cfg.Burst = f.qps, f.burst

	fileApps, err := loadApps(f.config, ns)
	if err != nil {
		return err
	}
	opts, kube, dyn, err := controllerOptions(cfg, f)
	if err != nil {
		return err
	}
	opts.Metrics, opts.Log = metrics, log
	opts.Sandbox.Prestart() // a warm worker waits for the first render
	defer opts.Sandbox.Close()
	if f.config == "" {
		broadcaster := record.NewBroadcaster(record.WithContext(ctx))
		defer broadcaster.Shutdown()
		broadcaster.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: kube.CoreV1().Events("")})
		opts.Events = broadcaster.NewRecorder(scheme.Scheme, corev1.EventSource{Component: "plumb"})
		opts.Status = controller.APIStatusWriter{Dynamic: dyn}
		opts.Finalizers = controller.APIFinalizers{Dynamic: dyn}
	}
	ctrl, err := controller.New(opts)
	if err != nil {
		return err
	}
	for _, app := range fileApps {
		ctrl.Upsert(app)
	}
	srv := &server{log: log, ctrl: ctrl, metrics: metrics}

	ln, err := net.Listen("tcp", f.listen)
	if err != nil {
		return fmt.Errorf("--listen: %w", err)
	}
	httpErr, shutdown := serveHTTP(ctx, ln, srv.routes(reg, secret, f.maxWebhookBody, f.profiling, newAPIAuth(ln, kube)))
	defer shutdown()
	mode := "App resources"
	if f.config != "" {
		mode = fmt.Sprintf("%d Apps from %s", len(fileApps), f.config)
	}
	log.Info("serving", "addr", "http://"+ln.Addr().String(), "apps", mode, "webhooks", len(secret) > 0, "leaderElection", f.leaderElect)

	runErr := make(chan error, 1)
	go func() { runErr <- srv.run(ctx, f, kube, dyn, ns) }()
	select {
	case err := <-httpErr:
		return fmt.Errorf("http: %w", err)
	case err := <-runErr:
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
}

// controllerOptions connects to the cluster and opens the caches: the
// controller's options, and the clients runServe needs besides.
func controllerOptions(cfg *rest.Config, f *serveFlags) (controller.Options, kubernetes.Interface, dynamic.Interface, error) {
	client, err := cluster.NewClient(cfg)
	if err != nil {
		return controller.Options{}, nil, nil, err
	}
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return controller.Options{}, nil, nil, err
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return controller.Options{}, nil, nil, err
	}
	gitCache, workDir, err := caches(f.cacheDir, f.gitAllowHTTP)
	if err != nil {
		return controller.Options{}, nil, nil, err
	}
	chartsFetcher, err := serveCharts(filepath.Dir(workDir), f)
	if err != nil {
		return controller.Options{}, nil, nil, err
	}
	rules, err := apps.ReadHealthRules(f.healthRules, "controller")
	if err != nil {
		return controller.Options{}, nil, nil, fmt.Errorf("--health-rules: %w", err)
	}
	lib, err := library.New()
	if err != nil {
		return controller.Options{}, nil, nil, err
	}
	sb, err := f.sandbox.sandbox(1)
	if err != nil {
		return controller.Options{}, nil, nil, err
	}
	return controller.Options{
		Sandbox: sb,
		Client:  client, Git: gitCache, WorkDir: workDir, HealthRules: rules, HealthLibrary: lib,
		Workers: f.workers, Timeout: f.timeout, DriftInterval: f.driftInterval,
		Secrets:               controller.SecretGetter{Kube: kube},
		Charts:                chartsFetcher,
		DefaultServiceAccount: f.defaultServiceAccount, NoCrossNamespace: f.noCrossNamespace,
	}, kube, dyn, nil
}

// serveCharts is the controller's chart fetcher, its cache under dir.
func serveCharts(dir string, f *serveFlags) (*apps.Charts, error) {
	fetcher, err := newChartFetcher(filepath.Join(dir, "charts"), f.chartCacheBytes, f.chartCAFile, f.chartAllowHTTP)
	if err != nil {
		return nil, err
	}
	return &apps.Charts{Fetcher: fetcher}, nil
}
