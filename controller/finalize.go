package controller

import (
	"context"
	"fmt"
	"slices"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"

	"github.com/plumbhq/plumb/api/v1alpha1"
	"github.com/plumbhq/plumb/apps"
	"github.com/plumbhq/plumb/cluster"
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

// APIFinalizers sets the finalizer with a server-side apply of
// metadata.finalizers alone (a set: other finalizers stay as they are).
type APIFinalizers struct {
	Dynamic dynamic.Interface
}

// SetFinalizer implements Finalizers.
func (f APIFinalizers) SetFinalizer(ctx context.Context, app *v1alpha1.App, present bool) error {
	finalizers := []any{}
	if present {
		finalizers = append(finalizers, Finalizer)
	}
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": v1alpha1.APIVersion,
		"kind":       v1alpha1.Kind,
		"metadata":   map[string]any{"name": app.Name, "namespace": app.Namespace, "finalizers": finalizers},
	}}
	_, err := f.Dynamic.Resource(AppsResource).Namespace(app.Namespace).Apply(ctx, app.Name, u,
		metav1.ApplyOptions{FieldManager: cluster.FieldManager, Force: true})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("App/%s/%s: finalizer: %w", app.Namespace, app.Name, err)
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
