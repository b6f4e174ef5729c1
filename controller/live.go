package controller

import (
	"context"
	"slices"
	gosync "sync"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/metadata/metadatainformer"
	"k8s.io/client-go/tools/cache"

	"github.com/plumbhq/plumb/sync"
)

// liveCache is the controller's view of the objects Apps manage: one
// metadata-only informer per resource that some App renders, shared by all
// Apps, selecting only objects labelled plumb.dev/app. Memory grows with the
// managed objects, not with the cluster. It implements sync.LiveState: a
// sync or a fingerprint check needs no request for objects it holds, and a
// change to one of them wakes the App that owns it (self-heal within
// seconds, instead of at the next poll).
//
// Objects without the label (not applied by plumb yet) are not in it: for
// them Lookup answers "unknown" and the engine asks the API server.
type liveCache struct {
	ctx    context.Context
	client metadata.Interface
	mapper meta.RESTMapper
	// changed is told the App label of an object that changed or went.
	changed func(app string)

	mu        gosync.Mutex
	informers map[schema.GroupVersionResource]*informer
	// resources caches the REST mapping of each kind: a pass looks up every
	// object, and the discovery mapper takes locks on each call.
	resources map[schema.GroupVersionKind]schema.GroupVersionResource
}

func newLiveCache(ctx context.Context, client metadata.Interface, mapper meta.RESTMapper, changed func(app string)) *liveCache {
	return &liveCache{ctx: ctx, client: client, mapper: mapper, changed: changed,
		informers: map[schema.GroupVersionResource]*informer{},
		resources: map[schema.GroupVersionKind]schema.GroupVersionResource{}}
}

// informer is one resource's watch and what stops it.
type informer struct {
	cache.SharedIndexInformer
	stop context.CancelFunc
}

// watch makes sure the resources of objs are watched; it returns once their
// informers have synced (or ctx ends), so that a Lookup right after can
// answer, and the set of resources it watches for objs.
func (l *liveCache) watch(ctx context.Context, objs []*unstructured.Unstructured) map[schema.GroupVersionResource]bool {
	var wait []cache.InformerSynced
	seen := map[schema.GroupVersionResource]bool{}
	for _, o := range objs {
		gvr, ok := l.resource(o)
		if !ok || seen[gvr] {
			continue
		}
		seen[gvr] = true
		wait = append(wait, l.informer(gvr).HasSynced)
	}
	if len(wait) > 0 {
		ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		cache.WaitForCacheSync(ctx.Done(), wait...)
	}
	return seen
}

// retain stops the informers of resources not in keep: no App renders
// them any more, so their objects need not be held. A pass that starts
// watching one again gets a new informer.
func (l *liveCache) retain(keep map[schema.GroupVersionResource]bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for gvr, inf := range l.informers {
		if !keep[gvr] {
			inf.stop()
			delete(l.informers, gvr)
		}
	}
}

func (l *liveCache) resource(o *unstructured.Unstructured) (schema.GroupVersionResource, bool) {
	gvk := o.GroupVersionKind()
	l.mu.Lock()
	gvr, ok := l.resources[gvk]
	l.mu.Unlock()
	if ok {
		return gvr, true
	}
	m, err := l.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if err != nil {
		return schema.GroupVersionResource{}, false // not served (yet): not cached
	}
	l.mu.Lock()
	l.resources[gvk] = m.Resource
	l.mu.Unlock()
	return m.Resource, true
}

func (l *liveCache) informer(gvr schema.GroupVersionResource) *informer {
	l.mu.Lock()
	defer l.mu.Unlock()
	if inf, ok := l.informers[gvr]; ok {
		return inf
	}
	inf := metadatainformer.NewFilteredMetadataInformer(l.client, gvr, metav1.NamespaceAll, 0, cache.Indexers{},
		func(o *metav1.ListOptions) { o.LabelSelector = sync.AppLabel }).Informer()
	// Keep what the checks read: identity, labels and the managedFields
	// entries of the object itself. Annotations (last-applied
	// configurations, mostly) and the entries of status writers (a
	// Deployment's controller rewrites its status on every rollout) are
	// most of the rest, and nothing here reads them: fingerprints hash
	// plumb's entry; ignore rules by field manager and the takeover of
	// client-side apply read the other entries, including those of the
	// scale subresource (an autoscaler owns replicas through it).
	_ = inf.SetTransform(func(obj any) (any, error) {
		if m, ok := obj.(*metav1.PartialObjectMetadata); ok {
			m.Annotations, m.OwnerReferences = nil, nil
			m.ManagedFields = slices.DeleteFunc(m.ManagedFields, func(e metav1.ManagedFieldsEntry) bool { return e.Subresource == "status" })
		}
		return obj, nil
	})
	notify := func(obj any) {
		if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
			obj = d.Obj
		}
		if m, ok := obj.(metav1.Object); ok {
			if app := m.GetLabels()[sync.AppLabel]; app != "" {
				l.changed(app)
			}
		}
	}
	_, _ = inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		UpdateFunc: func(old, cur any) {
			o, ok1 := old.(metav1.Object)
			c, ok2 := cur.(metav1.Object)
			if ok1 && ok2 && o.GetResourceVersion() == c.GetResourceVersion() {
				return // a resync
			}
			notify(cur)
		},
		DeleteFunc: notify,
	})
	ctx, stop := context.WithCancel(l.ctx)
	go inf.Run(ctx.Done())
	l.informers[gvr] = &informer{SharedIndexInformer: inf, stop: stop}
	return l.informers[gvr]
}

// Lookup implements sync.LiveState.
func (l *liveCache) Lookup(o *unstructured.Unstructured) (metav1.Object, bool) {
	gvr, ok := l.resource(o)
	if !ok {
		return nil, false
	}
	l.mu.Lock()
	inf, ok := l.informers[gvr]
	l.mu.Unlock()
	if !ok || !inf.HasSynced() {
		return nil, false
	}
	key := o.GetName()
	if ns := o.GetNamespace(); ns != "" {
		key = ns + "/" + key
	}
	obj, exists, err := inf.GetIndexer().GetByKey(key)
	if err != nil || !exists {
		return nil, false // not labelled yet, or gone: ask the API server
	}
	m, ok := obj.(metav1.Object)
	if !ok {
		return nil, false
	}
	return m, true
}
