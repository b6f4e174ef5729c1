package cluster

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/util/flowcontrol"
	"k8s.io/utils/ptr"
)

// FieldManager is the name plumb applies as.
const FieldManager = "plumb"

// Client reaches one cluster: a dynamic client, a metadata-only client and a
// REST mapper backed by cached discovery (reset after CRDs are created). It
// provides what diff (Get, DryRunApply), sync and health (Get) consume.
type Client struct {
	cfg    *rest.Config
	dyn    dynamic.Interface
	meta   metadata.Interface
	disc   discovery.CachedDiscoveryInterface
	mapper *restmapper.DeferredDiscoveryRESTMapper
	// found is shared with the clients Impersonate makes, as discovery is.
	found *discovered
}

// discovered holds Capabilities' answer, kept until discovery is reset.
type discovered struct {
	mu   sync.Mutex
	caps *capabilities
}

type capabilities struct {
	kubeVersion string
	apiVersions []string
}

// Client-side rate limits when the config sets none: high, because the API
// server's priority and fairness is what protects it, and client-go's and
// kubectl's defaults throttle a sync far below what the server takes
// (docs/decisions.md, "Client-side rate limit").
const (
	DefaultQPS   = 1000
	DefaultBurst = 2000
)

// NewClient builds a client from a REST config.
func NewClient(cfg *rest.Config) (*Client, error) {
	cfg = rest.CopyConfig(cfg)
	if cfg.QPS == 0 {
		cfg.QPS = DefaultQPS
	}
	if cfg.Burst == 0 {
		cfg.Burst = DefaultBurst
	}
	if cfg.RateLimiter == nil { // one budget for this client and every one Impersonate makes
		cfg.RateLimiter = flowcontrol.NewTokenBucketRateLimiter(cfg.QPS, cfg.Burst)
	}
	c, hc, err := clientFor(cfg)
	if err != nil {
		return nil, err
	}
	dc, err := discovery.NewDiscoveryClientForConfigAndClient(cfg, hc)
	if err != nil {
		return nil, err
	}
	c.disc = memory.NewMemCacheClient(dc)
	c.mapper, c.found = restmapper.NewDeferredDiscoveryRESTMapper(c.disc), &discovered{}
	return c, nil
}

// clientFor makes the clients of cfg on one HTTP client (returned for
// discovery), with no discovery of its own.
func clientFor(cfg *rest.Config) (*Client, *http.Client, error) {
	hc, err := rest.HTTPClientFor(cfg)
	if err != nil {
		return nil, nil, err
	}
	dyn, err := dynamic.NewForConfigAndClient(cfg, hc)
	if err != nil {
		return nil, nil, err
	}
	md, err := metadata.NewForConfigAndClient(cfg, hc)
	if err != nil {
		return nil, nil, err
	}
	return &Client{cfg: cfg, dyn: dyn, meta: md}, hc, nil
}

// Impersonate returns a client whose requests impersonate user (a service
// account's "system:serviceaccount:<namespace>:<name>"): the API server
// authorizes them as that user, and its audit log records both. Discovery
// and the REST mapper stay shared with c, under c's identity: what the
// cluster serves is the same for everyone.
func (c *Client) Impersonate(user string) (*Client, error) {
	cfg := rest.CopyConfig(c.cfg)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: user}
	as, _, err := clientFor(cfg)
	if err != nil {
		return nil, fmt.Errorf("impersonating %s: %w", user, err)
	}
	as.disc, as.mapper, as.found = c.disc, c.mapper, c.found
	return as, nil
}

// Mapper is the client's REST mapper (render uses it for namespace scope).
func (c *Client) Mapper() meta.RESTMapper { return c.mapper }

// Metadata is the client's metadata-only client (for watches of managed
// objects).
func (c *Client) Metadata() metadata.Interface { return c.meta }

// ResetMapper forgets cached discovery, after new CRDs are established.
func (c *Client) ResetMapper() {
	c.mapper.Reset()
	c.found.mu.Lock()
	c.found.caps = nil
	c.found.mu.Unlock()
}

// Capabilities are the server's Kubernetes version and the API versions it
// serves, as Helm's .Capabilities lists them: "group/version" and
// "group/version/Kind" ("v1" and "v1/Pod" for the core group). Both come
// from cached discovery and are refreshed with the REST mapper.
func (c *Client) Capabilities() (kubeVersion string, apiVersions []string, err error) {
	c.found.mu.Lock()
	defer c.found.mu.Unlock()
	if c.found.caps == nil {
		caps, err := c.discover()
		if err != nil {
			return "", nil, err
		}
		c.found.caps = caps
	}
	return c.found.caps.kubeVersion, c.found.caps.apiVersions, nil
}

func (c *Client) discover() (*capabilities, error) {
	info, err := c.disc.ServerVersion()
	if err != nil {
		return nil, fmt.Errorf("discovery: server version: %w", err)
	}
	_, lists, err := c.disc.ServerGroupsAndResources()
	if err != nil && len(lists) == 0 {
		return nil, fmt.Errorf("discovery: %w", err)
	}
	caps := &capabilities{kubeVersion: info.GitVersion}
	seen := map[string]bool{}
	add := func(v string) {
		if !seen[v] {
			seen[v] = true
			caps.apiVersions = append(caps.apiVersions, v)
		}
	}
	for _, l := range lists {
		add(l.GroupVersion)
		for _, r := range l.APIResources {
			if !strings.Contains(r.Name, "/") { // not a subresource
				add(l.GroupVersion + "/" + r.Kind)
			}
		}
	}
	sort.Strings(caps.apiVersions)
	return caps, nil
}

// Mapping returns the REST mapping of obj's kind, refreshing discovery once
// when the kind is unknown (a CRD may have appeared).
func (c *Client) Mapping(obj *unstructured.Unstructured) (*meta.RESTMapping, error) {
	gvk := obj.GroupVersionKind()
	m, err := c.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if meta.IsNoMatchError(err) {
		// A CRD may have appeared since discovery was cached.
		c.ResetMapper()
		m, err = c.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	}
	if err != nil {
		return nil, fmt.Errorf("%s %s is not served by the cluster (is its CRD installed?): %w", gvk.GroupVersion(), gvk.Kind, err)
	}
	return m, nil
}

// resource returns the dynamic client for obj's kind and namespace.
func (c *Client) resource(obj *unstructured.Unstructured) (dynamic.ResourceInterface, error) {
	m, err := c.Mapping(obj)
	if err != nil {
		return nil, err
	}
	if m.Scope.Name() == meta.RESTScopeNameNamespace {
		return c.dyn.Resource(m.Resource).Namespace(obj.GetNamespace()), nil
	}
	return c.dyn.Resource(m.Resource), nil
}

// Get returns the live object, or nil when it does not exist.
func (c *Client) Get(ctx context.Context, obj *unstructured.Unstructured) (*unstructured.Unstructured, error) {
	ri, err := c.resource(obj)
	if err != nil {
		return nil, err
	}
	live, err := ri.Get(ctx, obj.GetName(), metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	return live, err
}

// Apply server-side applies obj as FieldManager, taking over conflicting
// fields (force), and returns the metadata of the object the server stored:
// its resourceVersion, UID and managedFields are all a sync reads back
// (docs/decisions.md, "Applies ask for metadata only").
func (c *Client) Apply(ctx context.Context, obj *unstructured.Unstructured) (metav1.Object, error) {
	m, err := c.Mapping(obj)
	if err != nil {
		return nil, err
	}
	data, err := json.Marshal(applyPayload(obj).Object)
	if err != nil {
		return nil, err
	}
	ri := c.meta.Resource(m.Resource)
	opts := metav1.PatchOptions{FieldManager: FieldManager, Force: ptr.To(true)}
	if m.Scope.Name() == meta.RESTScopeNameNamespace {
		return ri.Namespace(obj.GetNamespace()).Patch(ctx, obj.GetName(), types.ApplyPatchType, data, opts)
	}
	return ri.Patch(ctx, obj.GetName(), types.ApplyPatchType, data, opts)
}

// Create creates obj as FieldManager and returns what the server stored:
// for hooks, which are created anew on every run and may carry a
// generateName that only a create honours.
func (c *Client) Create(ctx context.Context, obj *unstructured.Unstructured) (*unstructured.Unstructured, error) {
	ri, err := c.resource(obj)
	if err != nil {
		return nil, err
	}
	return ri.Create(ctx, applyPayload(obj), metav1.CreateOptions{FieldManager: FieldManager})
}

// DryRunApply returns what Apply would store, without storing it.
func (c *Client) DryRunApply(ctx context.Context, obj *unstructured.Unstructured) (*unstructured.Unstructured, error) {
	ri, err := c.resource(obj)
	if err != nil {
		return nil, err
	}
	return ri.Apply(ctx, obj.GetName(), applyPayload(obj), metav1.ApplyOptions{
		FieldManager: FieldManager, Force: true, DryRun: []string{metav1.DryRunAll},
	})
}

// applyPayload is obj without the fields an apply must not send (copied
// only when it has them).
func applyPayload(obj *unstructured.Unstructured) *unstructured.Unstructured {
	if !HasServerFields(obj) {
		return obj
	}
	payload := obj.DeepCopy()
	unstructured.RemoveNestedField(payload.Object, "metadata", "managedFields")
	unstructured.RemoveNestedField(payload.Object, "metadata", "resourceVersion")
	return payload
}

// HasServerFields reports whether obj carries metadata that only the
// server sets (managedFields, resourceVersion) and an apply must not send.
func HasServerFields(obj *unstructured.Unstructured) bool {
	_, managed, _ := unstructured.NestedFieldNoCopy(obj.Object, "metadata", "managedFields")
	return managed || obj.GetResourceVersion() != ""
}

// Patch sends a JSON patch (used to migrate client-side apply ownership).
func (c *Client) Patch(ctx context.Context, obj *unstructured.Unstructured, patch []byte) error {
	ri, err := c.resource(obj)
	if err != nil {
		return err
	}
	_, err = ri.Patch(ctx, obj.GetName(), types.JSONPatchType, patch, metav1.PatchOptions{FieldManager: FieldManager})
	return err
}

// Delete deletes obj with the given propagation; a missing object is not an
// error. With a UID, only that incarnation of the object is deleted.
func (c *Client) Delete(ctx context.Context, obj *unstructured.Unstructured, propagation metav1.DeletionPropagation) error {
	ri, err := c.resource(obj)
	if err != nil {
		return err
	}
	opts := metav1.DeleteOptions{PropagationPolicy: &propagation}
	if uid := obj.GetUID(); uid != "" {
		opts.Preconditions = &metav1.Preconditions{UID: &uid}
	}
	err = ri.Delete(ctx, obj.GetName(), opts)
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}
