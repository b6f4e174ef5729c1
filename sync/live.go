package sync

import (
	"context"
	"encoding/json"
	"fmt"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/plumbhq/plumb/cluster"
	"github.com/plumbhq/plumb/diff"
	"github.com/plumbhq/plumb/resource"
)

// LiveState answers from memory what the cluster holds for an object: a
// watch cache in the controller, or lists made once before a CLI sync. It
// saves the GET per object that would otherwise precede every apply and
// dry-run.
type LiveState interface {
	// Lookup returns the live object's metadata (nil when it does not
	// exist); known is false when the state does not cover the object, and
	// the caller must ask the API server.
	Lookup(obj *unstructured.Unstructured) (live metav1.Object, known bool)
}

// listedState is a LiveState made of metadata lists, one per resource and
// namespace.
type listedState struct {
	mapper meta.RESTMapper
	byKey  map[listKey]map[string]*metav1.PartialObjectMetadata
}

type listKey struct {
	gvr       schema.GroupVersionResource
	namespace string
}

// ListLive lists, metadata only, every resource and namespace that objs
// live in: one request per kind and namespace instead of one GET per
// object. Kinds the cluster does not serve (yet), and lists the caller may
// not make (RBAC that grants get but not list), are left unknown: Sync and
// Fresh then ask for those objects one by one.
func ListLive(ctx context.Context, c *cluster.Client, objs []*unstructured.Unstructured) LiveState {
	st := &listedState{mapper: c.Mapper(), byKey: map[listKey]map[string]*metav1.PartialObjectMetadata{}}
	for _, o := range objs {
		k, ok := st.key(o)
		if !ok {
			continue
		}
		if _, done := st.byKey[k]; done {
			continue
		}
		list, err := c.Metadata().Resource(k.gvr).Namespace(k.namespace).List(ctx, metav1.ListOptions{})
		if err != nil {
			st.byKey[k] = nil // unknown
			continue
		}
		items := make(map[string]*metav1.PartialObjectMetadata, len(list.Items))
		for i := range list.Items {
			items[list.Items[i].Name] = &list.Items[i]
		}
		st.byKey[k] = items
	}
	return st
}

func (st *listedState) key(o *unstructured.Unstructured) (listKey, bool) {
	gvk := o.GroupVersionKind()
	m, err := st.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if err != nil {
		return listKey{}, false
	}
	k := listKey{gvr: m.Resource}
	if m.Scope.Name() == meta.RESTScopeNameNamespace {
		k.namespace = o.GetNamespace()
	}
	return k, true
}

// Lookup implements LiveState.
func (st *listedState) Lookup(o *unstructured.Unstructured) (metav1.Object, bool) {
	k, ok := st.key(o)
	if !ok {
		return nil, false
	}
	items, ok := st.byKey[k]
	if !ok || items == nil {
		return nil, false
	}
	if live, ok := items[o.GetName()]; ok {
		return live, true
	}
	return nil, true
}

// skeleton is desired's kind with live's metadata: enough for what sync
// does with a live object before applying (ignore rules by field manager,
// client-side apply takeover, delete preconditions, change detection).
func skeleton(desired *unstructured.Unstructured, live metav1.Object) *unstructured.Unstructured {
	if live == nil {
		return nil
	}
	if u, ok := live.(*unstructured.Unstructured); ok {
		return u
	}
	u := &unstructured.Unstructured{Object: map[string]any{}}
	u.SetGroupVersionKind(desired.GroupVersionKind())
	u.SetNamespace(live.GetNamespace())
	u.SetName(live.GetName())
	u.SetUID(live.GetUID())
	u.SetResourceVersion(live.GetResourceVersion())
	u.SetGeneration(live.GetGeneration())
	u.SetLabels(live.GetLabels())
	u.SetAnnotations(live.GetAnnotations())
	u.SetManagedFields(live.GetManagedFields())
	u.SetCreationTimestamp(live.GetCreationTimestamp())
	if ts := live.GetDeletionTimestamp(); ts != nil {
		u.SetDeletionTimestamp(ts)
	}
	return u
}

// payloadFor is what Sync sends for o (already labelled): o without the
// fields the ignore rules leave alone, and a Secret's stringData folded into
// data. stringData is write-only: the server stores it as data, so plumb's
// managedFields entry would own a field no one else can touch, and a change
// of the stored value by anyone would leave plumb's entry (and fingerprint)
// as it was. Applying data makes plumb own what is stored.
func payloadFor(o, live *unstructured.Unstructured, ignore []diff.IgnoreDifference) *unstructured.Unstructured {
	payload := o.DeepCopy()
	if gvk := payload.GroupVersionKind(); gvk.Group == "" && gvk.Kind == "Secret" {
		diff.FoldStringData(payload)
	}
	diff.StripIgnored(payload, live, ignore) // keeps AppLabel (diff.ReservedLabelPrefix)
	unstructured.RemoveNestedField(payload.Object, "metadata", "managedFields")
	unstructured.RemoveNestedField(payload.Object, "metadata", "resourceVersion")
	return payload
}

// payloadIsObject reports whether payloadFor(o, live, ignore) would equal
// o: no ignore rules, not a Secret, no server-set metadata. Callers that
// only hash the payload then need no copy.
func payloadIsObject(o *unstructured.Unstructured, ignore []diff.IgnoreDifference) bool {
	gvk := o.GroupVersionKind()
	return len(ignore) == 0 && !(gvk.Group == "" && gvk.Kind == "Secret") && !cluster.HasServerFields(o)
}

// fresh returns the objects of desired (labelled, as Sync applies them)
// whose fingerprint in inv still matches the live state: a sync would
// change nothing there, and a diff need not ask. It makes no request;
// objects the state does not cover are not fresh. intents, if not nil, are
// the objects' intent hashes from Intents, computed once per render.
func fresh(desired []*unstructured.Unstructured, inv Inventory, live LiveState, ignore []diff.IgnoreDifference, intents map[resource.Ref]string) map[resource.Ref]bool {
	prev := inv.fingerprints()
	out := map[resource.Ref]bool{}
	if live == nil || len(prev) == 0 {
		return out
	}
	for _, d := range desired {
		ref := resource.RefOf(d)
		fp, ok := prev[ref]
		if !ok {
			continue
		}
		m, known := live.Lookup(d)
		if !known || m == nil {
			continue
		}
		intent, ok := intents[ref]
		if !ok {
			intent = intentHash(payloadFor(d, skeleton(d, m), ignore))
		}
		if fp.matches(intent, m) {
			out[ref] = true
		}
	}
	return out
}

// intentsOf hashes each desired object's intent (labelled), for fresh and
// Sync to reuse while the render is the same, and with encode returns each
// object's JSON (encoding/json, keys sorted): where the payload is the
// object itself, one encoding serves both. The hashes are nil when an ignore
// rule names field managers: then what is sent depends on who owns what in
// the live object, and each check must compute it.
func intentsOf(desired []*unstructured.Unstructured, ignore []diff.IgnoreDifference, encode bool) (map[resource.Ref]string, [][]byte, error) {
	for _, ig := range ignore {
		if len(ig.ManagedFieldsManagers) > 0 {
			return nil, nil, nil
		}
	}
	intents := make(map[resource.Ref]string, len(desired))
	var encoded [][]byte
	if encode {
		encoded = make([][]byte, len(desired))
	}
	for i, d := range desired {
		ref := resource.RefOf(d)
		same := payloadIsObject(d, ignore)
		if same || encode {
			js, err := json.Marshal(d.Object)
			if err != nil {
				return nil, nil, fmt.Errorf("%s: %w", ref, err)
			}
			if encode {
				encoded[i] = js
			}
			if same {
				intents[ref] = shortHash(js)
				continue
			}
		}
		intents[ref] = intentHash(payloadFor(d, nil, ignore))
	}
	return intents, encoded, nil
}
