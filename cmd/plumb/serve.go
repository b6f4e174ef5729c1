package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/uuid"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
	"k8s.io/client-go/tools/record"

	"github.com/plumbhq/plumb/api/v1alpha1"
	"github.com/plumbhq/plumb/apps"
	"github.com/plumbhq/plumb/cluster"
	"github.com/plumbhq/plumb/controller"
	"github.com/plumbhq/plumb/git"
)

// WebhookSecretEnv names the environment variable that may hold the webhook
// secret (--webhook-secret-file wins).
const WebhookSecretEnv = "PLUMB_WEBHOOK_SECRET"

type serveFlags struct {
	config            string
	listen            string
	watchNamespace    string
	webhookSecretFile string
	maxWebhookBody    int64
	cacheDir          string
	workers           int
	timeout           time.Duration
	driftInterval     time.Duration
	leaderElect       bool
	leaseName         string
	leaseNamespace    string
	leaseDuration     time.Duration
	renewDeadline     time.Duration
	retryPeriod       time.Duration
	logFormat         string
	qps               float32
	burst             int
	profiling         bool
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
	fs.StringVar(&f.config, "config", "", "a YAML file of App objects to reconcile instead of the cluster's App resources")
	fs.StringVar(&f.listen, "listen", "127.0.0.1:8080", "address for webhooks, metrics, health and the API")
	fs.StringVar(&f.watchNamespace, "watch-namespace", "", "reconcile only the App resources of this namespace (default: all)")
	fs.StringVar(&f.webhookSecretFile, "webhook-secret-file", "", "file holding the webhook secret (default: $"+WebhookSecretEnv+"); without one every webhook gets 401")
	fs.Int64Var(&f.maxWebhookBody, "max-webhook-body", 1<<20, "largest webhook body accepted, in bytes")
	fs.StringVar(&f.cacheDir, "cache-dir", "", "directory for the repository cache (default: the user cache directory)")
	fs.IntVar(&f.workers, "workers", controller.DefaultWorkers, "Apps reconciled at once")
	fs.DurationVar(&f.timeout, "reconcile-timeout", controller.DefaultTimeout, "bound on one reconcile of one App")
	fs.DurationVar(&f.driftInterval, "drift-interval", controller.DefaultDriftInterval, "how often live objects are compared with the last render (self-heal, OutOfSync)")
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

// server is what runServe wires together.
type server struct {
	log     *slog.Logger
	ctrl    *controller.Controller
	metrics *controller.Metrics
	leading atomic.Bool
	started atomic.Bool
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
	cfg.UserAgent = "plumb"
	cfg.QPS, cfg.Burst = f.qps, f.burst

	var fileApps []v1alpha1.App
	if f.config != "" {
		data, err := os.ReadFile(f.config)
		if err != nil {
			return err
		}
		if fileApps, err = apps.Parse(f.config, data); err != nil {
			return err
		}
		if len(fileApps) == 0 {
			return fmt.Errorf("%s: no App objects (apiVersion %s, kind %s)", f.config, v1alpha1.APIVersion, v1alpha1.Kind)
		}
		for i := range fileApps {
			if fileApps[i].Namespace == "" {
				fileApps[i].Namespace = ns
			}
		}
	}

	client, err := cluster.NewClient(cfg)
	if err != nil {
		return err
	}
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return err
	}
	cacheDir := f.cacheDir
	if cacheDir == "" {
		base, err := os.UserCacheDir()
		if err != nil {
			base = os.TempDir()
		}
		cacheDir = filepath.Join(base, "plumb")
	}
	gitCache, err := git.NewCache(git.CacheOptions{Dir: filepath.Join(cacheDir, "git")})
	if err != nil {
		return fmt.Errorf("--cache-dir: %w", err)
	}
	workDir := filepath.Join(cacheDir, "work")
	if err := os.MkdirAll(workDir, 0o700); err != nil {
		return fmt.Errorf("--cache-dir: %w", err)
	}
	opts := controller.Options{
		Client: client, Git: gitCache, WorkDir: workDir,
		Workers: f.workers, Timeout: f.timeout, DriftInterval: f.driftInterval,
		Secrets: controller.SecretGetter{Kube: kube},
		Metrics: metrics, Log: log,
	}
	if f.config == "" {
		broadcaster := record.NewBroadcaster(record.WithContext(ctx))
		defer broadcaster.Shutdown()
		broadcaster.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: kube.CoreV1().Events("")})
		opts.Events = broadcaster.NewRecorder(scheme.Scheme, corev1.EventSource{Component: "plumb"})
		opts.Status = controller.APIStatusWriter{Dynamic: dyn}
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
	httpSrv := &http.Server{
		Handler:           srv.routes(reg, secret, f.maxWebhookBody, f.profiling),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
	}
	httpErr := make(chan error, 1)
	go func() { httpErr <- httpSrv.Serve(ln) }()
	defer func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = httpSrv.Shutdown(sctx)
	}()
	mode := "App resources"
	if f.config != "" {
		mode = fmt.Sprintf("%d Apps from %s", len(fileApps), f.config)
	}
	log.Info("serving", "addr", "http://"+ln.Addr().String(), "apps", mode, "webhooks", len(secret) > 0, "leaderElection", f.leaderElect)

	run := func(ctx context.Context) error {
		srv.leading.Store(true)
		metrics.SetLeader(true)
		defer metrics.SetLeader(false)
		if f.config == "" {
			if err := controller.WatchApps(ctx, dyn, f.watchNamespace, ctrl); err != nil {
				return err
			}
		}
		srv.started.Store(true)
		return ctrl.Run(ctx)
	}
	runErr := make(chan error, 1)
	go func() {
		if !f.leaderElect {
			runErr <- run(ctx)
			return
		}
		runErr <- srv.lead(ctx, kube, f, ns, run)
	}()
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

// lead runs fn while this replica holds the Lease. Losing the lease ends
// the process (the Deployment restarts it as a candidate): a controller that
// might have missed a reconcile must not resume without a fresh start.
func (srv *server) lead(ctx context.Context, kube kubernetes.Interface, f *serveFlags, ns string, fn func(context.Context) error) error {
	leaseNS := f.leaseNamespace
	if leaseNS == "" {
		leaseNS = os.Getenv("POD_NAMESPACE")
	}
	if leaseNS == "" {
		leaseNS = ns
	}
	host, _ := os.Hostname()
	id := host + "_" + string(uuid.NewUUID())
	lock := &resourcelock.LeaseLock{
		LeaseMeta:  metav1.ObjectMeta{Name: f.leaseName, Namespace: leaseNS},
		Client:     kube.CoordinationV1(),
		LockConfig: resourcelock.ResourceLockConfig{Identity: id},
	}
	led := make(chan error, 1)
	var leading, lost atomic.Bool
	le, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
		Lock:            lock,
		Name:            f.leaseName,
		LeaseDuration:   f.leaseDuration,
		RenewDeadline:   f.renewDeadline,
		RetryPeriod:     f.retryPeriod,
		ReleaseOnCancel: true,
		Callbacks: leaderelection.LeaderCallbacks{
			OnStartedLeading: func(ctx context.Context) {
				leading.Store(true)
				srv.log.Info("leading", "lease", leaseNS+"/"+f.leaseName, "identity", id)
				led <- fn(ctx)
			},
			OnStoppedLeading: func() {
				srv.leading.Store(false)
				lost.Store(ctx.Err() == nil)
			},
			OnNewLeader: func(identity string) {
				if identity != id {
					srv.log.Info("following", "leader", identity)
				}
			},
		},
	})
	if err != nil {
		return fmt.Errorf("leader election: %w", err)
	}
	le.Run(ctx) // returns when ctx ends or the lease is lost, cancelling fn's context
	if leading.Load() {
		if err := <-led; err != nil {
			return err
		}
	}
	if lost.Load() {
		return fmt.Errorf("lost the leader lease %s/%s", leaseNS, f.leaseName)
	}
	return nil
}

func (srv *server) routes(reg *prometheus.Registry, secret []byte, maxBody int64, profiling bool) http.Handler {
	mux := http.NewServeMux()
	if profiling {
		mux.HandleFunc("GET /debug/pprof/", pprof.Index)
		mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	}
	mux.Handle("/hooks/", git.WebhookHandler(srv.ctrl, git.HookOptions{
		Secret: secret, MaxBody: maxBody, Result: srv.metrics.WebhookResult,
	}))
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	// Only the leader is ready: a Service then sends webhooks to the replica
	// that acts on them.
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !srv.leading.Load() || !srv.started.Load() {
			http.Error(w, "not leading", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /api/v1/apps", func(w http.ResponseWriter, _ *http.Request) {
		list := v1alpha1.AppList{
			TypeMeta: metav1.TypeMeta{APIVersion: v1alpha1.APIVersion, Kind: "AppList"},
			Items:    srv.ctrl.Apps(),
		}
		for i := range list.Items {
			list.Items[i].TypeMeta = metav1.TypeMeta{APIVersion: v1alpha1.APIVersion, Kind: v1alpha1.Kind}
		}
		w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(list)
	})
	return mux
}

// webhookSecret reads the secret from file, else the environment. A
// trailing newline (as `echo` writes) is not part of it.
func webhookSecret(file string) ([]byte, error) {
	var raw string
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("--webhook-secret-file: %w", err)
		}
		raw = string(b)
	} else {
		raw = os.Getenv(WebhookSecretEnv)
	}
	raw = strings.TrimRight(raw, "\r\n")
	if raw == "" {
		return nil, nil
	}
	return []byte(raw), nil
}

// serveLogger logs at info level by default (a daemon's log says what it
// did), debug from -v 2.
func serveLogger(s streams, g *globalFlags, format string) (*slog.Logger, error) {
	level := slog.LevelInfo
	if g.verbosity >= 2 {
		level = slog.LevelDebug
	}
	opts := &slog.HandlerOptions{Level: level}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(s.errOut, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(s.errOut, opts)), nil
	}
	return nil, errors.New(`--log-format: want "text" or "json"`)
}
