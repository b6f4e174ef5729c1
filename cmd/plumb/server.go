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
	"github.com/prometheus/client_golang/prometheus/promhttp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/uuid"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"

	"github.com/plumbhq/plumb/api/v1alpha1"
	"github.com/plumbhq/plumb/apps"
	"github.com/plumbhq/plumb/controller"
	"github.com/plumbhq/plumb/git"
)

// server is what runServe wires together.
type server struct {
	log     *slog.Logger
	ctrl    *controller.Controller
	metrics *controller.Metrics
	leading atomic.Bool
	started atomic.Bool
}

// run reconciles while this replica may: at once, or while it holds the
// Lease with --leader-elect.
func (srv *server) run(ctx context.Context, f *serveFlags, kube kubernetes.Interface, dyn dynamic.Interface, ns string) error {
	run := func(ctx context.Context) error {
		srv.leading.Store(true)
		srv.metrics.SetLeader(true)
		defer srv.metrics.SetLeader(false)
		if f.config == "" {
			if err := controller.WatchApps(ctx, dyn, f.watchNamespace, srv.ctrl); err != nil {
				return err
			}
		}
		srv.started.Store(true)
		return srv.ctrl.Run(ctx)
	}
	if !f.leaderElect {
		return run(ctx)
	}
	return srv.lead(ctx, kube, f, ns, run)
}

// serveHTTP serves h on ln until shutdown; the channel reports why serving
// stopped early.
func serveHTTP(ctx context.Context, ln net.Listener, h http.Handler) (<-chan error, func()) {
	httpSrv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
	httpErr := make(chan error, 1)
	go func() { httpErr <- httpSrv.Serve(ln) }()
	return httpErr, func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = httpSrv.Shutdown(sctx)
	}
}

// loadApps reads the Apps of --config (none without it); Apps that name no
// namespace are in ns.
func loadApps(file, ns string) ([]v1alpha1.App, error) {
	if file == "" {
		return nil, nil
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	found, err := apps.Parse(file, data)
	if err != nil {
		return nil, err
	}
	if len(found) == 0 {
		return nil, fmt.Errorf("%s: no App objects (apiVersion %s, kind %s)", file, v1alpha1.APIVersion, v1alpha1.Kind)
	}
	for i := range found {
		if found[i].Namespace == "" {
			found[i].Namespace = ns
		}
		if found[i].Spec.DeletionPolicy == apps.DeletionDelete {
			return nil, fmt.Errorf("%s: App %s/%s: spec.deletionPolicy delete needs App resources (it works through a finalizer); Apps from --config are never deleted", file, found[i].Namespace, found[i].Name)
		}
	}
	return found, nil
}

// caches opens the Git cache and the render work directory under dir
// (default: the user's cache directory, plumb).
func caches(dir string, allowHTTP bool) (*git.Cache, string, error) {
	if dir == "" {
		base, err := os.UserCacheDir()
		if err != nil {
			base = os.TempDir()
		}
		dir = filepath.Join(base, "plumb")
	}
	gitCache, err := git.NewCache(git.CacheOptions{Dir: filepath.Join(dir, "git"), AllowHTTP: allowHTTP})
	if err != nil {
		return nil, "", fmt.Errorf("--cache-dir: %w", err)
	}
	workDir := filepath.Join(dir, "work")
	if err := os.MkdirAll(workDir, 0o700); err != nil {
		return nil, "", fmt.Errorf("--cache-dir: %w", err)
	}
	return gitCache, workDir, nil
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

func (srv *server) routes(reg *prometheus.Registry, secret []byte, maxBody int64, profiling bool, auth *apiAuth) http.Handler {
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
	mux.Handle("GET /api/v1/apps", auth.wrap(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		list := v1alpha1.AppList{
			TypeMeta: metav1.TypeMeta{APIVersion: v1alpha1.APIVersion, Kind: "AppList"},
			Items:    srv.ctrl.Apps(),
		}
		for i := range list.Items {
			list.Items[i] = apiApp(list.Items[i])
		}
		w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(list)
	})))
	return mux
}

// minWebhookSecret is the shortest webhook secret plumb serve accepts.
const minWebhookSecret = 16

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
	// A short or blank secret is guessed or forged: refused, not weakly used.
	if strings.TrimSpace(raw) == "" {
		return nil, fmt.Errorf("the webhook secret is only whitespace")
	}
	if len(raw) < minWebhookSecret {
		return nil, fmt.Errorf("the webhook secret is %d bytes; at least %d are needed (openssl rand -hex 32 makes one)", len(raw), minWebhookSecret)
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
