package controller

import (
	"context"
	"fmt"
	"slices"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"

	"github.com/plumbhq/plumb/api/v1alpha1"
	"github.com/plumbhq/plumb/apps"
	"github.com/plumbhq/plumb/diff"
	"github.com/plumbhq/plumb/sync"
)

// Finalizer holds an App of deletionPolicy delete until its objects are
// deleted.
const Finalizer = "plumb.dev/delete-objects"

// Finalizers adds the App finalizer (present) or removes it.
type Finalizers interface {
	SetFinalizer(ctx context.Context, app *v1alpha1.App, present bool) error
}

// APIFinalizers adds the finalizer with a server-side apply of
// metadata.finalizers alone, by a field manager of its own (a set: other
// finalizers, and fields another manager applies, stay as they are), and
// removes it with a JSON patch that tests it is where it was seen.
type APIFinalizers struct {
	Dynamic dynamic.Interface
}

// finalizerManager owns the finalizer entry; not "plumb", which an App
// that renders this App (Apps of Apps) applies it as.
const finalizerManager = "plumb-finalizer"

// SetFinalizer implements Finalizers.
func (f APIFinalizers) SetFinalizer(ctx context.Context, app *v1alpha1.App, present bool) error {
	ri := f.Dynamic.Resource(AppsResource).Namespace(app.Namespace)
	var err error
	if present {
		u := &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": v1alpha1.APIVersion,
			"kind":       v1alpha1.Kind,
			"metadata":   map[string]any{"name": app.Name, "namespace": app.Namespace, "uid": string(app.UID), "finalizers": []any{Finalizer}},
		}}
		_, err = ri.Apply(ctx, app.Name, u, metav1.ApplyOptions{FieldManager: finalizerManager, Force: true})
	} else if i := slices.Index(app.Finalizers, Finalizer); i >= 0 {
		patch := fmt.Sprintf(`[{"op":"test","path":"/metadata/finalizers/%d","value":%q},{"op":"remove","path":"/metadata/finalizers/%d"}]`, i, Finalizer, i)
		_, err = ri.Patch(ctx, app.Name, types.JSONPatchType, []byte(patch), metav1.PatchOptions{FieldManager: finalizerManager})
	}
	if err != nil && !(apierrors.IsNotFound(err) && !present) {
		return fmt.Errorf("App/%s/%s: finalizer %s: %w", app.Namespace, app.Name, Finalizer, err)
	}
	return nil
}

// keepFinalizer puts the finalizer on an App of deletionPolicy delete, and
// takes it off one that no longer asks for it.
func (c *Controller) keepFinalizer(ctx context.Context, app *v1alpha1.App) error {
	want := app.Spec.DeletionPolicy == apps.DeletionDelete
	has := slices.Contains(app.Finalizers, Finalizer)
	if c.opts.Finalizers == nil || want == has {
		return nil
	}
	if err := c.opts.Finalizers.SetFinalizer(ctx, app, want); err != nil {
		return err
	}
	if want {
		app.Finalizers = append(app.Finalizers, Finalizer)
	} else {
		app.Finalizers = slices.DeleteFunc(app.Finalizers, func(f string) bool { return f == Finalizer })
	}
	return nil
}

// finalize deletes exactly the inventory of an App being deleted with
// deletionPolicy delete, by the prune rules (protected kinds and objects
// annotated plumb.dev/prune: "false" stay), then its inventory, then lets
// the App go. An App without the finalizer is left to go by itself, its
// objects where they are.
func (c *Controller) finalize(ctx context.Context, w *appState) outcome {
	if !slices.Contains(w.app.Finalizers, Finalizer) || c.opts.Finalizers == nil {
		return outcome{result: "deleting"}
	}
	if w.app.Spec.DeletionPolicy != apps.DeletionDelete { // orphan now: let it go, objects and all
		if err := c.opts.Finalizers.SetFinalizer(ctx, &w.app, false); err != nil {
			return c.fail(w, ReasonSyncFailed, "sync_error", err)
		}
		return outcome{result: "deleted"}
	}
	if out, failed := c.ensureApplier(w); failed {
		return out
	}
	masker := diff.NewMasker()
	_, err := w.applier.Sync(ctx, nil, sync.Options{
		Prune: true, AllowEmpty: true, Masker: masker,
		Propagation: metav1.DeletePropagationBackground, // the App goes now; the garbage collector finishes
	})
	if err == nil {
		err = w.applier.DeleteInventory(ctx)
	}
	if err == nil {
		err = c.opts.Finalizers.SetFinalizer(ctx, &w.app, false)
	}
	if err != nil {
		return c.fail(w, ReasonSyncFailed, "sync_error", fmt.Errorf("deleting the App's objects (deletionPolicy delete): %w", masker.ScrubError(err)))
	}
	return outcome{result: "deleted"}
}
