package controller

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"slices"
	"strings"
	gosync "sync"
	"time"

	"golang.org/x/sync/singleflight"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/workqueue"

	"github.com/plumbhq/plumb/api/v1alpha1"
	"github.com/plumbhq/plumb/apps"
	"github.com/plumbhq/plumb/charts"
	"github.com/plumbhq/plumb/cluster"
	"github.com/plumbhq/plumb/git"
	"github.com/plumbhq/plumb/health"
	"github.com/plumbhq/plumb/render"
	"github.com/plumbhq/plumb/render/sandbox"
	"github.com/plumbhq/plumb/resource"
	"github.com/plumbhq/plumb/sync"
)

// Defaults of Options.
const (
	DefaultWorkers       = 4
	DefaultTimeout       = 5 * time.Minute
	DefaultDriftInterval = 5 * time.Second
	DefaultInterval      = 3 * time.Minute
	defaultRetryBackoff  = 2 * time.Second
	maxRetryBackoff      = 5 * time.Minute
	// healthRecheck is how soon an App whose objects are still rolling out
	// is looked at again.
	healthRecheck = time.Second
	// changeBatch is how long a change to a managed object waits before the
	// owning App's pass, gathering the changes that follow it.
	changeBatch = 200 * time.Millisecond
	// checkpointDelay is how long an inventory that renews only
	// fingerprints waits to be written, gathering later changes into one
	// write.
	checkpointDelay = time.Second
	// renderCacheBytes bounds the render cache: the JSON of about 10,000
	// typical manifests.
	renderCacheBytes = 16 << 20
)

// StatusWriter persists an App's status (the App resource's status
// subresource in CRD mode; nothing in config-file mode, where the status is
// served from memory).
type StatusWriter interface {
	WriteStatus(ctx context.Context, app *v1alpha1.App) error
}

// EventRecorder is the part of client-go's record.EventRecorder the
// controller uses.
type EventRecorder interface {
	Eventf(object runtime.Object, eventtype, reason, messageFmt string, args ...any)
}

// SecretReader reads the credentials Secret an App names.
type SecretReader interface {
	// Secret returns the data of the Secret namespace/name.
	Secret(ctx context.Context, namespace, name string) (map[string][]byte, error)
}

// Options configure a Controller.
type Options struct {
	// Client is the engine's cluster client.
	Client *cluster.Client
	// HealthRules are the controller's own health rules, after each App's
	// spec.healthRules and before plumb's.
	HealthRules health.Library
	// HealthLibrary rates custom resources after the rules (Argo CD's
	// health scripts, health/library); nil leaves them to kstatus.
	HealthLibrary health.Library
	// Git is the repository cache shared by every App.
	Git *git.Cache
	// WorkDir holds the short-lived exports a render reads (default: the
	// system's temporary directory).
	WorkDir string
	// Workers is how many Apps reconcile at once (default 4).
	Workers int
	// Timeout bounds one reconcile of one App (default 5m), so no App can
	// hold a worker for ever.
	Timeout time.Duration
	// DriftInterval is how often live objects are compared with the last
	// render between polls (default 5s): self-heal and OutOfSync reporting.
	DriftInterval time.Duration
	// MaxRepoBytes caps one exported revision (default 512 MiB).
	MaxRepoBytes int64
	Secrets      SecretReader  // nil: Apps may not name a secretRef
	Status       StatusWriter  // nil: status lives in memory only
	Events       EventRecorder // nil: no Kubernetes Events
	Metrics      *Metrics      // nil: no metrics
	Log          *slog.Logger  // nil: no logs
	// Sandbox renders each App in a worker process, within its limits and
	// the App's lower ones; nil renders in-process (tests, trusted repos).
	Sandbox *sandbox.Sandbox
	// Charts fetches charts from repositories (nil: Apps that name a chart,
	// or a dependency they do not vendor, fail to render, saying so).
	Charts *apps.Charts
	// DefaultServiceAccount is the service account, in the App's
	// namespace, that an App without spec.serviceAccountName acts as; with
	// it set no App acts as plumb. Empty: such Apps act as plumb.
	DefaultServiceAccount string
	// NoCrossNamespace confines each App to its own namespace.
	NoCrossNamespace bool
	// Finalizers adds and removes the App finalizer of deletionPolicy
	// delete (nil: Apps are never finalized, as in config-file mode).
	Finalizers Finalizers
}

// Controller keeps many Apps in step with their repositories. Each App is a
// key on a delaying work queue: the queue never hands one key to two
// workers, so an App's reconciles are serial while different Apps proceed
// in parallel, and it keeps one pending wake-up per key (the earliest), so
// polls, drift checks, retries and webhooks coalesce. Retries back off per
// App (retryAfter) rather than through the queue's global rate limiter,
// because each App names its own backoff and retry limit.
type Controller struct {
	opts  Options
	queue workqueue.TypedDelayingInterface[types.NamespacedName]
	log   *slog.Logger

	// live is the watch cache of managed objects (set by Run).
	live *liveCache

	// resolves coalesces concurrent ls-remotes of one repository and ref
	// (all the Apps a push concerns poll at once).
	resolves singleflight.Group
	// renders keeps converted manifests between renders of every App: a
	// commit that changes one file of a plain directory converts that file.
	renders *render.Cache

	mu   gosync.Mutex
	apps map[types.NamespacedName]*appState
	// clients impersonate the Apps' service accounts, one per account.
	clients map[string]*cluster.Client
}

// appState is what the controller keeps per App. spec is replaced by
// Upsert; everything else belongs to the worker reconciling the App.
type appState struct {
	app      v1alpha1.App // spec and metadata as last seen; status as last computed
	specErr  error        // Validate's verdict on the spec
	pollNow  bool         // a webhook or a spec change asks for a poll
	respec   bool         // the spec changed since the last pass began
	nextPoll time.Time
	// nextDrift is when live objects are next compared with the render.
	nextDrift time.Time

	rev git.Revision
	// chart is the App's chart as last resolved (spec.source.chart).
	chart charts.Resolved
	// warnings are the last render's (a chart's lookup calls, say).
	warnings []string
	// hooks are the last render's hooks, for the sync that runs them.
	hooks []*unstructured.Unstructured
	// usedCaps: the last render asked for the cluster's capabilities (a
	// Helm chart), which are then part of its key.
	usedCaps  bool
	inputs    []string // repository paths the last render read
	renderKey string   // content hash of inputs at rev, plus the options
	// desired identifies the last render's objects, labelled (see kept);
	// nil until a render succeeded.
	desired *kept
	// syncedKey is the renderKey the live objects were last found or made
	// equal to; "" until then.
	syncedKey string
	// applier holds the App's inventory, the intents of its render and a
	// held inventory write between passes; nil until the first pass.
	applier *sync.Applier
	// watched are the resources of the last render (the watches it needs).
	watched map[schema.GroupVersionResource]bool
	// rater rates the App's objects: its own rules, the controller's, then
	// plumb's (made when the spec changes).
	rater *health.Rater
	// liveChanged: a watched object of the App changed since the last pass
	// began (or the App is new), so an unchanged pass rates its health
	// again; a pass over a Healthy App with no change reads nothing.
	liveChanged bool
	// namespaced is the createNamespace request last made good (namespace
	// and metadata), so that a sync pass asks again only when it changes or
	// a sync failed.
	namespaced string
	// held are the prunes the last sync held for approval; passes that
	// only compare report them until a sync runs again.
	held sync.ChangeSet
	// health holds each object's last rating (healthOf).
	health   map[resource.Ref]healthEntry
	failures int
	// lastEvent is the reason and message of the last Event, so that a
	// repeated outcome does not repeat the Event.
	lastEvent string
}

// New returns a controller; Run starts it.
func New(opts Options) (*Controller, error) {
	if opts.Client == nil || opts.Git == nil {
		return nil, errors.New("controller: a cluster client and a git cache are required")
	}
	if opts.Workers <= 0 {
		opts.Workers = DefaultWorkers
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.DriftInterval <= 0 {
		opts.DriftInterval = DefaultDriftInterval
	}
	if opts.MaxRepoBytes <= 0 {
		opts.MaxRepoBytes = 512 << 20
	}
	if opts.WorkDir == "" {
		opts.WorkDir = os.TempDir()
	}
	log := opts.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Controller{
		opts: opts,
		log:  log,
		queue: workqueue.NewTypedDelayingQueueWithConfig(
			workqueue.TypedDelayingQueueConfig[types.NamespacedName]{Name: "apps"}),
		apps:    map[types.NamespacedName]*appState{},
		clients: map[string]*cluster.Client{},
		renders: render.NewCache(renderCacheBytes),
	}, nil
}

// Upsert adds an App or replaces its spec. A new App, or a changed
// generation, is reconciled at once. A new App's status seeds its state (the
// App resource's, after a restart) so that conditions keep their transition
// times and an unchanged outcome writes nothing.
func (c *Controller) Upsert(app v1alpha1.App) {
	c.upsert(app, apps.Validate(&app))
}

// UpsertInvalid adds an App whose resource could not even be read as an
// App; its status reports err until the spec changes.
func (c *Controller) UpsertInvalid(app v1alpha1.App, err error) {
	c.upsert(app, err)
}

func (c *Controller) upsert(app v1alpha1.App, specErr error) {
	key := types.NamespacedName{Namespace: app.Namespace, Name: app.Name}
	c.mu.Lock()
	defer c.mu.Unlock()
	st, ok := c.apps[key]
	if ok && st.app.Generation == app.Generation && app.Generation != 0 && sameMetadata(&st.app, &app) {
		return // a status update or a resync: nothing to act on
	}
	if !ok {
		st = &appState{liveChanged: true}
		c.apps[key] = st
	} else {
		app.Status = st.app.Status
	}
	st.app = *app.DeepCopy()
	st.specErr = specErr
	if rules, err := apps.HealthRules(&st.app); err == nil { // an error is specErr already
		st.rater = health.NewRater(rules, c.opts.HealthRules).WithLibrary(c.opts.HealthLibrary)
	}
	st.pollNow, st.respec = true, true
	c.queue.Add(key)
}

// sameMetadata reports whether the metadata a pass acts on is unchanged:
// an approval, a deletion and the finalizers do not change the generation.
func sameMetadata(a, b *v1alpha1.App) bool {
	return a.Annotations[ApprovePruneAnnotation] == b.Annotations[ApprovePruneAnnotation] &&
		(a.DeletionTimestamp == nil) == (b.DeletionTimestamp == nil) && slices.Equal(a.Finalizers, b.Finalizers)
}

// Remove forgets an App. Its objects stay in the cluster, as after
// `kubectl delete` of an Argo CD Application without a finalizer.
func (c *Controller) Remove(key types.NamespacedName) {
	c.mu.Lock()
	delete(c.apps, key)
	c.mu.Unlock()
	c.opts.Metrics.forget(key.String())
	c.releaseWatches()
}

// releaseWatches stops the watches of resources that no App renders any
// more (an App was removed, or its render dropped a kind).
func (c *Controller) releaseWatches() {
	if c.live == nil {
		return // not running yet
	}
	keep := map[schema.GroupVersionResource]bool{}
	c.mu.Lock()
	for _, st := range c.apps {
		for gvr := range st.watched {
			keep[gvr] = true
		}
	}
	c.mu.Unlock()
	c.live.retain(keep)
}

// PollNow asks every App of repo (a normalised URL) to poll at once. It is
// what the webhook handler calls; it never blocks, and pushes that arrive
// while a poll is queued or running coalesce into one more poll.
func (c *Controller) PollNow(repo string, push git.Push) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	known := false
	for key, st := range c.apps {
		u, err := git.NormalizeURL(st.app.Spec.Source.RepoURL)
		if err != nil || u != repo {
			continue
		}
		known = true
		st.pollNow = true
		c.queue.Add(key)
	}
	return known
}

// changed wakes the Apps named app: one of their objects changed or went.
// The pass that follows checks fingerprints, so a change that is not drift
// (a status update) costs no request. Wake-ups are held for changeBatch, so
// that a rollout's stream of status updates makes a few passes a second, not
// one per event (a pass reads the whole App).
func (c *Controller) changed(app string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for key, st := range c.apps {
		if key.Name == app {
			st.liveChanged = true
			c.queue.AddAfter(key, changeBatch)
		}
	}
}

// Apps returns a copy of every App with its current status, sorted by
// namespace and name.
func (c *Controller) Apps() []v1alpha1.App {
	c.mu.Lock()
	out := make([]v1alpha1.App, 0, len(c.apps))
	for _, st := range c.apps {
		out = append(out, *st.app.DeepCopy())
	}
	c.mu.Unlock()
	slices.SortFunc(out, func(a, b v1alpha1.App) int {
		return strings.Compare(a.Namespace+"/"+a.Name, b.Namespace+"/"+b.Name)
	})
	return out
}

// Run reconciles until ctx ends, then waits for the workers to finish.
func (c *Controller) Run(ctx context.Context) error {
	c.live = newLiveCache(ctx, c.opts.Client.Metadata(), c.opts.Client.Mapper(), c.changed)
	var wg gosync.WaitGroup
	for range c.opts.Workers {
		wg.Go(func() {
			for c.next(ctx) {
			}
		})
	}
	<-ctx.Done()
	c.queue.ShutDownWithDrain()
	wg.Wait()
	return nil
}

// next processes one key; false when the queue is shut down.
func (c *Controller) next(ctx context.Context) bool {
	key, shutdown := c.queue.Get()
	if shutdown {
		return false
	}
	defer c.queue.Done(key)
	if ctx.Err() != nil {
		return true
	}
	if after, ok := c.reconcile(ctx, key); ok {
		c.queue.AddAfter(key, after)
	}
	return true
}
