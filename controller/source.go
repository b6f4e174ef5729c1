package controller

import (
	"context"
	"fmt"
	"time"

	"github.com/plumbhq/plumb/api/v1alpha1"
	"github.com/plumbhq/plumb/apps"
	"github.com/plumbhq/plumb/charts"
	"github.com/plumbhq/plumb/git"
)

// poll resolves the App's ref on its remote and fetches the commit when the
// cache lacks it. Concurrent polls of one repository, ref and credentials
// share one ls-remote.
func (c *Controller) poll(ctx context.Context, app *v1alpha1.App) (git.Revision, error) {
	cred, err := c.credentials(ctx, app)
	if err != nil {
		return git.Revision{}, err
	}
	src := app.Spec.Source
	flight := src.RepoURL + "\x00" + src.Ref + "\x00"
	if src.SecretRef != nil {
		flight += app.Namespace + "/" + src.SecretRef.Name
	}
	v, err, _ := c.resolves.Do(flight, func() (any, error) {
		start := time.Now()
		rev, err := c.opts.Git.Resolve(ctx, src.RepoURL, src.Ref, cred)
		c.opts.Metrics.gitOp("ls-remote", start, err)
		return rev, err
	})
	if err != nil {
		return git.Revision{}, err
	}
	rev := v.(git.Revision)
	if !c.opts.Git.Has(src.RepoURL, rev) {
		start := time.Now()
		err := c.opts.Git.Fetch(ctx, src.RepoURL, rev, cred)
		c.opts.Metrics.gitOp("fetch", start, err)
		if err != nil {
			return git.Revision{}, err
		}
	}
	return rev, nil
}

// Secret keys read for repository credentials (the names Flux uses).
const (
	SecretUsername   = "username"
	SecretPassword   = "password"
	SecretIdentity   = "identity"
	SecretKnownHosts = "known_hosts"
)

func (c *Controller) credentials(ctx context.Context, app *v1alpha1.App) (*git.Credentials, error) {
	ref := app.Spec.Source.SecretRef
	if ref == nil {
		return nil, nil
	}
	data, err := c.secret(ctx, app.Namespace, ref.Name)
	if err != nil {
		return nil, err
	}
	return &git.Credentials{
		Username:      string(data[SecretUsername]),
		Password:      string(data[SecretPassword]),
		SSHPrivateKey: data[SecretIdentity],
		KnownHosts:    data[SecretKnownHosts],
	}, nil
}

// Secret keys read for chart repository credentials, besides username and
// password.
const SecretToken = "token"

// chartsFor is the controller's chart fetcher with the App's chart
// credentials (spec.source.chart.secretRef), which go to the chart
// repository's host only.
func (c *Controller) chartsFor(ctx context.Context, app *v1alpha1.App) (*apps.Charts, error) {
	if c.opts.Charts == nil {
		return nil, nil
	}
	ch := *c.opts.Charts
	src := app.Spec.Source.Chart
	if src == nil || src.SecretRef == nil {
		return &ch, nil
	}
	data, err := c.secret(ctx, app.Namespace, src.SecretRef.Name)
	if err != nil {
		return nil, err
	}
	cred := &charts.Credentials{Username: string(data[SecretUsername]), Password: string(data[SecretPassword]), BearerToken: string(data[SecretToken])}
	host := charts.Host(src.RepoURL)
	ch.Credentials = func(repoURL string) *charts.Credentials {
		if charts.Host(repoURL) != host {
			return nil
		}
		return cred
	}
	return &ch, nil
}

// secret reads the Secret ns/name for credentials, naming it in errors.
func (c *Controller) secret(ctx context.Context, ns, name string) (map[string][]byte, error) {
	if c.opts.Secrets == nil {
		return nil, fmt.Errorf("Secret/%s/%s: this controller reads no Secrets", ns, name)
	}
	data, err := c.opts.Secrets.Secret(ctx, ns, name)
	if err != nil {
		return nil, fmt.Errorf("Secret/%s/%s: %w", ns, name, err)
	}
	return data, nil
}
