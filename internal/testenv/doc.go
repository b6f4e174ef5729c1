// Package testenv runs a real, disposable Kubernetes control plane for tests
// and for `make demo`: etcd, kube-apiserver (TLS, client-certificate and
// service-account authentication, RBAC), kube-controller-manager,
// kube-scheduler and kwok, which plays the kubelet for fake nodes so that pods
// are scheduled and become Ready.
//
// Every process runs in its own process group on free loopback ports inside a
// temporary directory, and is killed with the test binary (parent-death
// signal) as well as on Stop, so no run leaves an orphan behind.
//
// It does not build the binaries: `make testenv` does that, from the pinned
// tools modules under hack/tools, into .cache/testenv. It is test
// infrastructure and is never imported by plumb's own packages.
package testenv
