package render

import (
	"fmt"
	"slices"
)

// Capabilities are what Helm's .Capabilities reports of the target
// cluster: its version and the API versions it serves ("group/version" and
// "group/version/Kind"). Online front ends read them from discovery; offline
// ones leave them nil and render with DefaultKubeVersion.
type Capabilities struct {
	KubeVersion string
	APIVersions []string
}

// DefaultKubeVersion is the Kubernetes version of plumb's own client
// libraries (k8s.io/client-go v0.X.Y is Kubernetes v1.X.Y): what an offline
// render assumes, instead of Helm's built-in v1.20.0 that refuses every chart
// requiring a supported Kubernetes. A constant because test binaries carry no
// module versions; TestDefaultKubeVersionFollowsGoMod keeps it equal to go.mod.
const DefaultKubeVersion = "v1.37.2"

// capabilities are the version and API versions a Helm render uses: the
// options' pins, else the cluster's (and its API versions plus the
// options'), else the client libraries' version.
func (o Options) capabilities() (kubeVersion string, apiVersions []string, err error) {
	var cluster Capabilities
	if o.Capabilities != nil {
		c, err := o.Capabilities()
		if err != nil {
			return "", nil, fmt.Errorf("the cluster's capabilities: %w", err)
		}
		if c != nil {
			cluster = *c
		}
	}
	switch {
	case o.Helm.KubeVersion != "":
		kubeVersion = o.Helm.KubeVersion
	case cluster.KubeVersion != "":
		kubeVersion = cluster.KubeVersion
	default:
		kubeVersion = DefaultKubeVersion
	}
	return kubeVersion, slices.Concat(cluster.APIVersions, o.Helm.APIVersions), nil
}
