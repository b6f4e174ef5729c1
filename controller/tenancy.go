package controller

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/plumbhq/plumb/api/v1alpha1"
	"github.com/plumbhq/plumb/cluster"
	"github.com/plumbhq/plumb/resource"
)

// ReasonNotPermitted: the App asks for what the controller's confinement
// does not allow (--no-cross-namespace).
const ReasonNotPermitted = "NotPermitted"

// ApprovePruneAnnotation on an App approves the prunes its deletion budget
// holds, for the revision it names (the commit, or its first 7 or more
// characters).
const ApprovePruneAnnotation = "plumb.dev/approve-prune"

// serviceAccountOf is the service account the App acts as ("" for plumb
// itself): its own, else the controller's default.
func (c *Controller) serviceAccountOf(app *v1alpha1.App) string {
	if sa := app.Spec.ServiceAccountName; sa != "" {
		return sa
	}
	return c.opts.DefaultServiceAccount
}

// clientFor is the client every request for the App goes through: one that
// impersonates its service account, made once per account and kept, or
// plumb's own when the App has none and no default is set.
func (c *Controller) clientFor(app *v1alpha1.App) (*cluster.Client, error) {
	sa := c.serviceAccountOf(app)
	if sa == "" {
		return c.opts.Client, nil
	}
	user := "system:serviceaccount:" + app.Namespace + ":" + sa // the name the API server gives its tokens
	c.mu.Lock()
	defer c.mu.Unlock()
	if cl, ok := c.clients[user]; ok {
		return cl, nil
	}
	cl, err := c.opts.Client.Impersonate(user)
	if err != nil {
		return nil, fmt.Errorf("App/%s/%s: service account %s: %w", app.Namespace, app.Name, sa, err)
	}
	c.clients[user] = cl
	return cl, nil
}

// confineSpec refuses, under --no-cross-namespace, a destination other than
// the App's own namespace.
func (c *Controller) confineSpec(app *v1alpha1.App) error {
	if !c.opts.NoCrossNamespace {
		return nil
	}
	if d := app.Spec.Destination.Namespace; d != "" && d != app.Namespace {
		return fmt.Errorf("spec.destination.namespace %q: refused by --no-cross-namespace: an App in namespace %s may only deploy there", d, app.Namespace)
	}
	return nil
}

// confine refuses, under --no-cross-namespace and before any request is
// made for them, objects in another namespace than the App's, and
// cluster-scoped objects of an App that acts as plumb (with a service
// account, the API server decides on those by its rights).
func (c *Controller) confine(app *v1alpha1.App, objs ...[]*unstructured.Unstructured) error {
	if !c.opts.NoCrossNamespace {
		return nil
	}
	var refused []string
	for _, list := range objs {
		for _, o := range list {
			ns := o.GetNamespace()
			switch {
			case ns != "" && ns != app.Namespace:
				refused = append(refused, fmt.Sprintf("%s: refused by --no-cross-namespace: an App in namespace %s may only hold objects there", resource.RefOf(o), app.Namespace))
			case ns == "" && c.serviceAccountOf(app) == "":
				refused = append(refused, fmt.Sprintf("%s: refused by --no-cross-namespace: a cluster-scoped object needs the App to act as a service account (spec.serviceAccountName)", resource.RefOf(o)))
			}
		}
	}
	if len(refused) == 0 {
		return nil
	}
	const shown = 5
	n := len(refused)
	if n > shown {
		refused = append(refused[:shown], fmt.Sprintf("and %d more", n-shown))
	}
	return errors.New(strings.Join(refused, "; ") + "; nothing was applied")
}

// approvalRevision is what an approval of held prunes names: the commit,
// or for an App of a chart alone the chart's digest (its hex).
func approvalRevision(w *appState) string {
	if w.rev.Commit != "" {
		return w.rev.Commit
	}
	return w.chart.Digest[strings.LastIndex(w.chart.Digest, ":")+1:]
}

// pruneApproved reports whether the App's annotation approves the held
// prunes of revision (a commit, or a chart digest's hex).
func pruneApproved(app *v1alpha1.App, commit string) bool {
	v := strings.TrimSpace(app.Annotations[ApprovePruneAnnotation])
	v = v[strings.LastIndex(v, ":")+1:] // "main@sha1:<commit>" as the status shows it, or the commit
	return commit != "" && len(v) >= 7 && strings.HasPrefix(commit, v)
}

// namespaceKey identifies what ensureNamespace makes good for the App (""
// when createNamespace is off).
func namespaceKey(app *v1alpha1.App) string {
	p := app.Spec.SyncPolicy
	if !p.CreateNamespace {
		return ""
	}
	key := app.Spec.Destination.Namespace + "/" + app.Namespace
	if md := p.ManagedNamespaceMetadata; md != nil {
		key += fmt.Sprintf("/%v/%v", md.Labels, md.Annotations) // fmt sorts map keys
	}
	return key
}

// ensureNamespace creates the App's destination namespace, with the
// labels and annotations of managedNamespaceMetadata, when
// syncPolicy.createNamespace asks for it and it is missing; the metadata is
// applied to a namespace that exists. The namespace is not the App's
// object: it is not labelled for it, and never pruned.
func ensureNamespace(ctx context.Context, c *cluster.Client, app *v1alpha1.App) error {
	if !app.Spec.SyncPolicy.CreateNamespace {
		return nil
	}
	name := app.Spec.Destination.Namespace
	if name == "" {
		name = app.Namespace
	}
	ns := &unstructured.Unstructured{}
	ns.SetAPIVersion("v1")
	ns.SetKind("Namespace")
	ns.SetName(name)
	md := app.Spec.SyncPolicy.ManagedNamespaceMetadata
	if md != nil {
		ns.SetLabels(md.Labels)
		ns.SetAnnotations(md.Annotations)
	}
	live, err := c.Get(ctx, ns)
	switch {
	case err != nil:
	case live == nil:
		_, err = c.Create(ctx, ns)
	case md != nil && (len(md.Labels) > 0 || len(md.Annotations) > 0):
		_, err = c.Apply(ctx, ns)
	}
	if err != nil {
		return fmt.Errorf("Namespace/%s: createNamespace: %w", name, err)
	}
	return nil
}
