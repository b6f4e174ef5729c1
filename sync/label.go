package sync

import "k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

// Ownership and policy annotations and labels.
const (
	// AppLabel marks every object plumb applies with the App it belongs to.
	// Prune only ever deletes objects that still carry it.
	AppLabel = "plumb.dev/app"
	// PruneAnnotation "false" keeps an object when its App stops rendering it.
	PruneAnnotation = "plumb.dev/prune"
	// ForceAnnotation "true" lets plumb delete and recreate the object when a
	// change touches an immutable field.
	ForceAnnotation = "plumb.dev/force"
)

// Label returns objs carrying the App label, as Sync applies them; diff
// uses it so that a dry-run sees exactly what sync would send. Objects that
// already carry it are returned as they are, the others are copied.
func Label(objs []*unstructured.Unstructured, app string) []*unstructured.Unstructured {
	out := make([]*unstructured.Unstructured, len(objs))
	for i, o := range objs {
		if o.GetLabels()[AppLabel] == app {
			out[i] = o
			continue
		}
		o = o.DeepCopy()
		SetLabel(o, app)
		out[i] = o
	}
	return out
}

// SetLabel puts the App label on o itself: for objects the caller owns (a
// fresh render), where Label's copy would be wasted.
func SetLabel(o *unstructured.Unstructured, app string) {
	labels := o.GetLabels()
	if labels == nil {
		labels = map[string]string{}
	}
	labels[AppLabel] = app
	o.SetLabels(labels)
}
