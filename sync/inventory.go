package sync

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"sort"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/plumbhq/plumb/cluster"
	"github.com/plumbhq/plumb/resource"
)

// Inventory is the record of what one App applied, kept in the cluster as a
// ConfigMap so any plumb (CLI or controller) sees the same history. It is
// written only after a sync succeeded; prune candidates come from it.
type Inventory struct {
	App     string  `json:"app"`
	Objects []Entry `json:"objects"`
	// Hooks are the hook objects earlier runs left in the cluster (no
	// delete policy removed them): before-hook-creation and prune find
	// them here, a generateName hook's instances included.
	Hooks []HookEntry `json:"hooks,omitempty"`
	// HookContent is the digest of the render whose hooks last ran to the
	// end: hooks run again only for other content, never on a self-heal.
	HookContent string `json:"hookContent,omitempty"`
	// RanHooks are the hooks of that render, for plumb diff.
	RanHooks []RanHook `json:"ranHooks,omitempty"`
}

// HookEntry is one hook object in the cluster: Key names its hook (the
// name, or the generateName followed by "*"), Entry the object.
type HookEntry struct {
	Entry
	Key   string `json:"key"`
	Phase Phase  `json:"phase"`
}

// Entry is one applied object. Fingerprint records what plumb applied and
// what the server made of it (see fingerprint); it is empty for objects
// plumb has not applied itself yet.
type Entry struct {
	Group       string `json:"group,omitempty"`
	Version     string `json:"version"`
	Kind        string `json:"kind"`
	Namespace   string `json:"namespace,omitempty"`
	Name        string `json:"name"`
	Fingerprint string `json:"fingerprint,omitempty"`
}

func (e Entry) ref() resource.Ref {
	return resource.Ref{Group: e.Group, Kind: e.Kind, Namespace: e.Namespace, Name: e.Name}
}

// object returns a skeleton object for lookups.
func (e Entry) object() *unstructured.Unstructured {
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(schema.GroupVersionKind{Group: e.Group, Version: e.Version, Kind: e.Kind})
	u.SetNamespace(e.Namespace)
	u.SetName(e.Name)
	return u
}

func entryOf(u *unstructured.Unstructured) Entry {
	gvk := u.GroupVersionKind()
	return Entry{Group: gvk.Group, Version: gvk.Version, Kind: gvk.Kind, Namespace: u.GetNamespace(), Name: u.GetName()}
}

// The inventory is JSON in data["inventory.json"], or gzipped JSON in
// binaryData["inventory.json.gz"] once it is large: a ConfigMap holds at
// most 1 MiB (docs/decisions.md, "The inventory is gzipped when large").
const (
	inventoryKey     = "inventory.json"
	inventoryGzipKey = "inventory.json.gz"
	gzipAbove        = 256 << 10
)

// sameObjects reports whether two inventories record the same objects, in
// any order, whatever their fingerprints.
func (inv Inventory) sameObjects(other Inventory) bool {
	return inv.sameEntries(other, func(e Entry) Entry { e.Fingerprint = ""; return e })
}

// equal reports whether two inventories record the same objects with the
// same fingerprints, in any order.
func (inv Inventory) equal(other Inventory) bool {
	return inv.sameEntries(other, func(e Entry) Entry { return e })
}

// sameEntries reports whether both inventories hold the same entries, in
// any order, as key sees them.
func (inv Inventory) sameEntries(other Inventory, key func(Entry) Entry) bool {
	if inv.App != other.App || len(inv.Objects) != len(other.Objects) || !inv.sameHooks(other) {
		return false
	}
	seen := make(map[Entry]bool, len(other.Objects))
	for _, e := range other.Objects {
		seen[key(e)] = true
	}
	for _, e := range inv.Objects {
		if !seen[key(e)] {
			return false
		}
	}
	return true
}

// sameHooks reports whether both inventories record the same hook objects
// and hook content.
func (inv Inventory) sameHooks(other Inventory) bool {
	if inv.HookContent != other.HookContent || len(inv.Hooks) != len(other.Hooks) {
		return false
	}
	seen := make(map[HookEntry]bool, len(other.Hooks))
	for _, h := range other.Hooks {
		seen[h] = true
	}
	for _, h := range inv.Hooks {
		if !seen[h] {
			return false
		}
	}
	return true
}

// Leftovers reports whether the inventory holds objects desired does not:
// objects a pruning sync would look at.
func (inv Inventory) Leftovers(desired []*unstructured.Unstructured) bool {
	return len(notRendered(inv, desired)) > 0
}

// refs is the set of the inventory's objects.
func (inv Inventory) refs() map[resource.Ref]bool {
	out := make(map[resource.Ref]bool, len(inv.Objects))
	for _, e := range inv.Objects {
		out[e.ref()] = true
	}
	return out
}

// fingerprints maps each entry that has one to its fingerprint.
func (inv Inventory) fingerprints() map[resource.Ref]fingerprint {
	out := map[resource.Ref]fingerprint{}
	for _, e := range inv.Objects {
		if fp := parseFingerprint(e.Fingerprint); !fp.empty() {
			out[e.ref()] = fp
		}
	}
	return out
}

// InventoryName is the ConfigMap that holds an App's inventory.
func InventoryName(app string) string { return "plumb-inventory-" + app }

func inventoryObject(namespace, app string) *unstructured.Unstructured {
	u := &unstructured.Unstructured{}
	u.SetAPIVersion("v1")
	u.SetKind("ConfigMap")
	u.SetNamespace(namespace)
	u.SetName(InventoryName(app))
	return u
}

// ReadInventory returns the App's inventory (empty when there is none).
func ReadInventory(ctx context.Context, c *cluster.Client, namespace, app string) (Inventory, error) {
	inv := Inventory{App: app}
	cm, err := c.Get(ctx, inventoryObject(namespace, app))
	if err != nil {
		return inv, fmt.Errorf("ConfigMap/%s/%s: read inventory: %w", namespace, InventoryName(app), err)
	}
	if cm == nil {
		return inv, nil
	}
	data, _, _ := unstructured.NestedString(cm.Object, "data", inventoryKey)
	if gz, ok, _ := unstructured.NestedString(cm.Object, "binaryData", inventoryGzipKey); ok {
		raw, err := gunzip(gz)
		if err != nil {
			return inv, fmt.Errorf("ConfigMap/%s/%s: corrupt inventory: %w", namespace, InventoryName(app), err)
		}
		data = raw
	}
	if err := json.Unmarshal([]byte(data), &inv); err != nil {
		return inv, fmt.Errorf("ConfigMap/%s/%s: corrupt inventory: %w", namespace, InventoryName(app), err)
	}
	return inv, nil
}

// WriteInventory stores the inventory with one server-side apply, so the
// ConfigMap is replaced as a whole and never half-written.
func WriteInventory(ctx context.Context, c *cluster.Client, namespace string, inv Inventory) error {
	sort.Slice(inv.Objects, func(i, j int) bool { return inv.Objects[i].ref().String() < inv.Objects[j].ref().String() })
	sort.Slice(inv.Hooks, func(i, j int) bool { return inv.Hooks[i].ref().String() < inv.Hooks[j].ref().String() })
	b, err := json.Marshal(inv)
	if err != nil {
		return err
	}
	u := inventoryObject(namespace, inv.App)
	u.SetLabels(map[string]string{"app.kubernetes.io/managed-by": "plumb", "plumb.dev/inventory": inv.App})
	if len(b) > gzipAbove {
		gz, err := gzipBase64(b)
		if err != nil {
			return err
		}
		_ = unstructured.SetNestedField(u.Object, gz, "binaryData", inventoryGzipKey)
	} else {
		_ = unstructured.SetNestedField(u.Object, string(b), "data", inventoryKey)
	}
	if _, err := c.Apply(ctx, u); err != nil {
		return fmt.Errorf("ConfigMap/%s/%s: write inventory: %w", namespace, InventoryName(inv.App), err)
	}
	return nil
}

// InventoryObjects returns skeletons (kind, namespace, name) of the objects
// in the App's inventory, for lookups.
func InventoryObjects(ctx context.Context, c *cluster.Client, namespace, app string) ([]*unstructured.Unstructured, error) {
	inv, err := ReadInventory(ctx, c, namespace, app)
	if err != nil {
		return nil, err
	}
	out := make([]*unstructured.Unstructured, len(inv.Objects))
	for i, e := range inv.Objects {
		out[i] = e.object()
	}
	return out, nil
}

func gzipBase64(b []byte) (string, error) {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(b); err != nil {
		return "", err
	}
	if err := zw.Close(); err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(buf.Bytes()), nil
}

func gunzip(s string) (string, error) {
	raw, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return "", err
	}
	zr, err := gzip.NewReader(bytes.NewReader(raw))
	if err != nil {
		return "", err
	}
	// The inventory is plumb's own record; the cap only guards against a
	// doctored ConfigMap.
	out, err := io.ReadAll(io.LimitReader(zr, 64<<20))
	return string(out), err
}

// DeleteInventory deletes the App's inventory ConfigMap: for an App that is
// being deleted, once its objects are.
func (a *Applier) DeleteInventory(ctx context.Context) error {
	if err := a.c.Delete(ctx, inventoryObject(a.opts.InventoryNamespace, a.opts.App), metav1.DeletePropagationBackground); err != nil {
		return fmt.Errorf("ConfigMap/%s/%s: delete inventory: %w", a.opts.InventoryNamespace, InventoryName(a.opts.App), err)
	}
	a.inv, a.unwritten = nil, nil
	return nil
}
