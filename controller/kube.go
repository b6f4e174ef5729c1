package controller

import (
	"context"
	"fmt"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/dynamic/dynamicinformer"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"

	"github.com/plumbhq/plumb/api/v1alpha1"
	"github.com/plumbhq/plumb/cluster"
)

// AppsResource is the App custom resource.
var AppsResource = schema.GroupVersionResource{Group: v1alpha1.Group, Version: v1alpha1.Version, Resource: "apps"}

// WatchApps feeds the Apps of namespace ("" for all) to c as they are
// created, changed and deleted, until ctx ends. It returns once the first
// list has been delivered.
func WatchApps(ctx context.Context, dyn dynamic.Interface, namespace string, c *Controller) error {
	// An informer retries a missing resource for ever; say what is wrong.
	if _, err := dyn.Resource(AppsResource).Namespace(namespace).List(ctx, metav1.ListOptions{Limit: 1}); err != nil {
		return fmt.Errorf("apps.%s: %w (is the CRD installed? kubectl apply -f examples/install/)", v1alpha1.Group, err)
	}
	factory := dynamicinformer.NewFilteredDynamicSharedInformerFactory(dyn, 0, namespace, nil)
	inf := factory.ForResource(AppsResource).Informer()
	upsert := func(obj any) {
		u, ok := obj.(*unstructured.Unstructured)
		if !ok {
			return
		}
		var app v1alpha1.App
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, &app); err != nil {
			// The CRD's schema makes this unlikely; report it on the App.
			app = v1alpha1.App{ObjectMeta: metav1.ObjectMeta{Name: u.GetName(), Namespace: u.GetNamespace(), Generation: u.GetGeneration(), UID: u.GetUID()}}
			c.UpsertInvalid(app, fmt.Errorf("App/%s/%s: %w", u.GetNamespace(), u.GetName(), err))
			return
		}
		c.Upsert(app)
	}
	if _, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    upsert,
		UpdateFunc: func(_, obj any) { upsert(obj) },
		DeleteFunc: func(obj any) {
			if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = d.Obj
			}
			if u, ok := obj.(*unstructured.Unstructured); ok {
				c.Remove(types.NamespacedName{Namespace: u.GetNamespace(), Name: u.GetName()})
			}
		},
	}); err != nil {
		return err
	}
	factory.Start(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), inf.HasSynced) {
		return fmt.Errorf("apps.%s: the informer did not sync: %w", v1alpha1.Group, ctx.Err())
	}
	return nil
}

// APIStatusWriter writes App status to the status subresource with
// server-side apply as field manager plumb: no read-modify-write, no
// conflicts with whoever edits the spec, and an unchanged status is a no-op.
type APIStatusWriter struct {
	Dynamic dynamic.Interface
}

// WriteStatus implements StatusWriter.
func (s APIStatusWriter) WriteStatus(ctx context.Context, app *v1alpha1.App) error {
	status, err := runtime.DefaultUnstructuredConverter.ToUnstructured(&app.Status)
	if err != nil {
		return err
	}
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": v1alpha1.APIVersion,
		"kind":       v1alpha1.Kind,
		"metadata":   map[string]any{"name": app.Name, "namespace": app.Namespace},
		"status":     status,
	}}
	_, err = s.Dynamic.Resource(AppsResource).Namespace(app.Namespace).Apply(ctx, app.Name, u,
		metav1.ApplyOptions{FieldManager: cluster.FieldManager, Force: true}, "status")
	if apierrors.IsNotFound(err) {
		return nil // deleted meanwhile
	}
	if err != nil {
		return fmt.Errorf("App/%s/%s: status: %w", app.Namespace, app.Name, err)
	}
	return nil
}

// SecretGetter reads Secrets through the API (SecretReader).
type SecretGetter struct {
	Kube kubernetes.Interface
}

// Secret implements SecretReader.
func (s SecretGetter) Secret(ctx context.Context, namespace, name string) (map[string][]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	sec, err := s.Kube.CoreV1().Secrets(namespace).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return nil, err
	}
	return sec.Data, nil
}
