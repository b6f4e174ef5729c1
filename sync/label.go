package sync

import (
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// Ownership and policy annotations and labels.
const (
	// AppLabel marks every object plumb applies with the App it belongs to.
	// Prune only ever deletes objects that still carry it.
	AppLabel = "plumb.dev/app"
	// AppNamespaceLabel is the namespace of that App (where its inventory
	// lives): two Apps of one name in two namespaces are two owners.
	// Objects labelled before it existed carry only AppLabel and are taken
	// as the named App's in any namespace.
	AppNamespaceLabel = "plumb.dev/app-namespace"
	// PruneAnnotation "false" keeps an object when its App stops rendering it.
	PruneAnnotation = "plumb.dev/prune"
	// ForceAnnotation "true" lets plumb delete and recreate the object when a
	// change touches an immutable field.
	ForceAnnotation = "plumb.dev/force"
	// AdoptAnnotation "true" on a desired object lets its App take it over
	// from another App, or from whoever created it without plumb.
	AdoptAnnotation = "plumb.dev/adopt"
)

// owner is the App an Applier acts for.
type owner struct{ name, namespace string }

func (w owner) String() string { return w.namespace + "/" + w.name }

// label returns objs carrying the owner's labels, as Sync applies them;
// diff uses it so that a dry-run sees exactly what sync would send. Objects
// that already carry them are returned as they are, the others are copied.
func (w owner) label(objs []*unstructured.Unstructured) []*unstructured.Unstructured {
	out := make([]*unstructured.Unstructured, len(objs))
	for i, o := range objs {
		if l := o.GetLabels(); l[AppLabel] == w.name && l[AppNamespaceLabel] == w.namespace {
			out[i] = o
			continue
		}
		o = o.DeepCopy()
		w.setLabels(o)
		out[i] = o
	}
	return out
}

// setLabels puts the owner's labels on o itself: for objects the caller
// owns (a fresh render), where label's copy would be wasted.
func (w owner) setLabels(o *unstructured.Unstructured) {
	labels := o.GetLabels()
	if labels == nil {
		labels = map[string]string{}
	}
	labels[AppLabel] = w.name
	labels[AppNamespaceLabel] = w.namespace
	o.SetLabels(labels)
}

// owns reports whether live's labels name this App.
func (w owner) owns(live metav1.Object) bool {
	l := live.GetLabels()
	ns, hasNS := l[AppNamespaceLabel]
	return l[AppLabel] == w.name && (!hasNS || ns == w.namespace)
}

// ownerOf names the App live's labels say it belongs to ("" for none).
func ownerOf(live metav1.Object) string {
	l := live.GetLabels()
	switch {
	case l[AppLabel] == "":
		return ""
	case l[AppNamespaceLabel] == "":
		return l[AppLabel]
	}
	return l[AppNamespaceLabel] + "/" + l[AppLabel]
}

// claim decides whether the App may apply desired over live (nil: it does
// not exist yet). An object of another App, or one plumb never labelled, is
// refused unless desired says plumb.dev/adopt: "true" (or, for unlabelled
// objects, the App adopts such objects); ours are the App's own, including
// those its inventory records whose label someone removed. adopted names a
// takeover, for the change's reason.
func (w owner) claim(desired *unstructured.Unstructured, live metav1.Object, inInventory, adoptUnlabelled bool) (adopted string, err error) {
	if live == nil || w.owns(live) {
		return "", nil
	}
	adopt := desired.GetAnnotations()[AdoptAnnotation] == "true"
	switch other := ownerOf(live); {
	case other == "" && (inInventory || adopt || adoptUnlabelled):
		if inInventory {
			return "", nil
		}
		return "adopted: it existed without a plumb.dev/app label", nil
	case other == "":
		return "", fmt.Errorf("%w: it exists and no plumb App manages it (created by hand or by another tool); "+
			"set syncPolicy.adopt: true on the App, or annotate the object %s: \"true\", to take it over", ErrOwnership, AdoptAnnotation)
	case adopt:
		return "adopted from App " + other + " (" + AdoptAnnotation + ")", nil
	default:
		return "", fmt.Errorf("%w: owned by App %s; annotate the object %s: \"true\" in this App to take it over", ErrOwnership, other, AdoptAnnotation)
	}
}
