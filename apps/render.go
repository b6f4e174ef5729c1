package apps

import (
	"context"
	"errors"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/plumbhq/plumb/api/v1alpha1"
	"github.com/plumbhq/plumb/cluster"
	"github.com/plumbhq/plumb/render"
)

// Source is where the App's files are in a checkout at root.
func Source(root string, a *v1alpha1.App) render.Source {
	return render.Source{Root: root, Path: SourcePath(a)}
}

// Render renders src into the objects a sync applies (hooks are not among
// them) and the render's warnings. An empty render is render.ErrEmptyRender
// unless allowEmpty, so that nothing downstream prunes on it by accident.
func Render(ctx context.Context, src render.Source, opts render.Options, allowEmpty bool) ([]*unstructured.Unstructured, []string, error) {
	res, err := render.Render(ctx, src, opts)
	if errors.Is(err, render.ErrEmptyRender) && allowEmpty {
		return []*unstructured.Unstructured{}, res.Warnings, nil
	}
	if err != nil {
		return nil, nil, err
	}
	objs := make([]*unstructured.Unstructured, len(res.Objects))
	for i, o := range res.Objects {
		objs[i] = o.Object
	}
	return objs, res.Warnings, nil
}

// Capabilities are the cluster's, for Helm's .Capabilities when rendering
// for that cluster (plumb diff, sync and serve): render.Options.Capabilities.
func Capabilities(c *cluster.Client) func() (*render.Capabilities, error) {
	return func() (*render.Capabilities, error) {
		v, apis, err := c.Capabilities()
		if err != nil {
			return nil, err
		}
		return &render.Capabilities{KubeVersion: v, APIVersions: apis}, nil
	}
}
