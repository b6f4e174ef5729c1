package render

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

// kubeVersion is the version a render uses: the options' pin, else the
// cluster's, else the client libraries'.
func (o Options) kubeVersion() string {
	switch {
	case o.Helm.KubeVersion != "":
		return o.Helm.KubeVersion
	case o.Capabilities != nil && o.Capabilities.KubeVersion != "":
		return o.Capabilities.KubeVersion
	}
	return DefaultKubeVersion
}

// apiVersions are the cluster's API versions (online) plus the options'.
func (o Options) apiVersions() []string {
	var out []string
	if o.Capabilities != nil {
		out = append(out, o.Capabilities.APIVersions...)
	}
	return append(out, o.Helm.APIVersions...)
}
