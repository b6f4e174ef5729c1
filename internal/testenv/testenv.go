package testenv

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// Binary names expected in the binary directory, and the kwok stage file.
const (
	etcdBin       = "etcd"
	apiserverBin  = "kube-apiserver"
	controllerBin = "kube-controller-manager"
	schedulerBin  = "kube-scheduler"
	kwokBin       = "kwok"
	kwokStages    = "kwok-stages.yaml"

	// BinDirEnv names the directory holding the binaries; `make` sets it.
	BinDirEnv = "PLUMB_TESTENV_BIN"

	// ServiceCIDR is larger than a /24: a /24 runs out at about 250 Services.
	ServiceCIDR = "10.96.0.0/16"

	// NodeLabel marks the fake nodes that kwok manages.
	NodeLabel = "plumb.dev/testenv-node"
)

// Options configure a control plane.
type Options struct {
	// BinDir holds the binaries built by `make testenv`. Empty means
	// $PLUMB_TESTENV_BIN, then .cache/testenv/current above the working
	// directory.
	BinDir string
	// Nodes is the number of fake nodes kwok runs (default 1).
	Nodes int
	// Dir is the working directory; empty means a new temporary directory,
	// removed on Stop.
	Dir string
}

// Env is a running control plane.
type Env struct {
	// Config reaches the API server as a cluster administrator
	// (group system:masters).
	Config *rest.Config
	// Kubeconfig is the path of a kubeconfig file for Config, for kubectl.
	Kubeconfig string
	// Dir holds certificates, data and one log file per component.
	Dir string

	removeDir bool
	bins      string
	spawner   *spawner
	procs     []*process // in start order
	pki       *pki
	ports     ports
}

type ports struct {
	etcdClient, etcdPeer, apiserver, kwok int
}

// Start brings up etcd, kube-apiserver, kube-controller-manager,
// kube-scheduler and kwok, creates the fake nodes, and returns when the API
// server is ready, the controller manager is working and every node is Ready.
// On error, everything started so far is stopped again.
func Start(ctx context.Context, opts Options) (env *Env, err error) {
	bins, err := findBinDir(opts.BinDir)
	if err != nil {
		return nil, err
	}
	if opts.Nodes <= 0 {
		opts.Nodes = 1
	}
	e := &Env{Dir: opts.Dir, bins: bins, spawner: newSpawner()}
	if e.Dir == "" {
		if e.Dir, err = os.MkdirTemp("", "plumb-testenv-"); err != nil {
			return nil, err
		}
		e.removeDir = true
	}
	defer func() {
		if err != nil {
			e.Stop()
		}
	}()
	if e.ports, err = freePorts(); err != nil {
		return nil, err
	}
	if err := e.writeCredentials(); err != nil {
		return nil, fmt.Errorf("credentials: %w", err)
	}
	if err := e.startEtcd(ctx); err != nil {
		return nil, err
	}
	if err := e.StartAPIServer(ctx); err != nil {
		return nil, err
	}
	if err := e.startControllers(ctx); err != nil {
		return nil, err
	}
	if err := e.createNodes(ctx, opts.Nodes); err != nil {
		return nil, err
	}
	return e, nil
}

// Stop ends every process (newest first), waits for them, and removes the
// working directory if Start created it. It is safe to call more than once.
func (e *Env) Stop() {
	for i := len(e.procs) - 1; i >= 0; i-- {
		e.procs[i].stop(5 * time.Second)
	}
	e.procs = nil
	if e.spawner != nil {
		e.spawner.close()
		e.spawner = nil
	}
	if e.removeDir {
		_ = os.RemoveAll(e.Dir)
		e.removeDir = false
	}
}

// KillAPIServer SIGKILLs kube-apiserver, as a crash would. StartAPIServer
// brings it back on the same port with the same data.
func (e *Env) KillAPIServer() {
	for i, p := range e.procs {
		if p.name == apiserverBin {
			p.kill()
			e.procs = append(e.procs[:i], e.procs[i+1:]...)
			return
		}
	}
}

// LogPath returns the log file of a component ("etcd", "kube-apiserver", ...).
func (e *Env) LogPath(component string) string {
	return filepath.Join(e.Dir, component+".log")
}

func findBinDir(dir string) (string, error) {
	if dir == "" {
		dir = os.Getenv(BinDirEnv)
	}
	if dir == "" {
		wd, err := os.Getwd()
		if err != nil {
			return "", err
		}
		for d := wd; ; d = filepath.Dir(d) {
			if c := filepath.Join(d, ".cache", "testenv", "current"); isDir(c) {
				dir = c
				break
			}
			if filepath.Dir(d) == d {
				break
			}
		}
	}
	if dir == "" {
		return "", errors.New("testenv: control plane binaries not found: run `make testenv` (or set " + BinDirEnv + ")")
	}
	for _, b := range []string{etcdBin, apiserverBin, controllerBin, schedulerBin, kwokBin, kwokStages} {
		if _, err := os.Stat(filepath.Join(dir, b)); err != nil {
			return "", fmt.Errorf("testenv: %s missing in %s: run `make testenv`", b, dir)
		}
	}
	return dir, nil
}

func isDir(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.IsDir()
}

func freePorts() (ports, error) {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	next := func() (int, error) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		ls = append(ls, l)
		return l.Addr().(*net.TCPAddr).Port, nil
	}
	var p ports
	for _, dst := range []*int{&p.etcdClient, &p.etcdPeer, &p.apiserver, &p.kwok} {
		port, err := next()
		if err != nil {
			return p, err
		}
		*dst = port
	}
	return p, nil
}

func (e *Env) path(name string) string { return filepath.Join(e.Dir, name) }

func (e *Env) apiserverURL() string {
	return "https://127.0.0.1:" + strconv.Itoa(e.ports.apiserver)
}

// writeCredentials creates the CA, serving and client certificates, the
// service-account signing key and one kubeconfig per identity.
func (e *Env) writeCredentials() error {
	p, err := newPKI()
	if err != nil {
		return err
	}
	e.pki = p
	if err := os.WriteFile(e.path("ca.crt"), p.ca.cert, 0o600); err != nil {
		return err
	}
	serving, err := p.serving("kube-apiserver",
		[]net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("10.96.0.1")},
		[]string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local"})
	if err != nil {
		return err
	}
	if _, _, err := serving.write(e.Dir, "apiserver"); err != nil {
		return err
	}
	// The service-account key pair: only the private key and its public half
	// are needed, the certificate is a by-product of reusing the CA helper.
	sa, err := p.client("service-accounts")
	if err != nil {
		return err
	}
	if err := os.WriteFile(e.path("sa.key"), sa.key, 0o600); err != nil {
		return err
	}
	pub, err := x509.MarshalPKIXPublicKey(sa.signer.Public())
	if err != nil {
		return err
	}
	if err := os.WriteFile(e.path("sa.pub"), pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub}), 0o600); err != nil {
		return err
	}

	identities := []struct {
		file, user string
		groups     []string
	}{
		{"admin.kubeconfig", "plumb-testenv-admin", []string{"system:masters"}},
		{"controller-manager.kubeconfig", "system:kube-controller-manager", nil},
		{"scheduler.kubeconfig", "system:kube-scheduler", nil},
		// kwok plays every kubelet; it needs to write node and pod status of
		// all nodes, which the node authorizer would refuse to one identity.
		{"kwok.kubeconfig", "kwok", []string{"system:masters"}},
	}
	for _, id := range identities {
		kp, err := p.client(id.user, id.groups...)
		if err != nil {
			return err
		}
		if err := e.writeKubeconfig(e.path(id.file), kp); err != nil {
			return err
		}
		if id.file == "admin.kubeconfig" {
			e.Kubeconfig = e.path(id.file)
			e.Config = &rest.Config{
				Host: e.apiserverURL(),
				TLSClientConfig: rest.TLSClientConfig{
					CAData: p.ca.cert, CertData: kp.cert, KeyData: kp.key,
				},
				QPS: 100, Burst: 200,
			}
		}
	}
	return nil
}

func (e *Env) writeKubeconfig(path string, kp keyPair) error {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["testenv"] = &clientcmdapi.Cluster{Server: e.apiserverURL(), CertificateAuthorityData: e.pki.ca.cert}
	cfg.AuthInfos["testenv"] = &clientcmdapi.AuthInfo{ClientCertificateData: kp.cert, ClientKeyData: kp.key}
	cfg.Contexts["testenv"] = &clientcmdapi.Context{Cluster: "testenv", AuthInfo: "testenv", Namespace: "default"}
	cfg.CurrentContext = "testenv"
	return clientcmd.WriteToFile(*cfg, path)
}

func (e *Env) start(name string, args ...string) (*process, error) {
	p, err := startProcess(e.spawner, e.Dir, name, nil, filepath.Join(e.bins, name), args...)
	if err != nil {
		return nil, err
	}
	e.procs = append(e.procs, p)
	return p, nil
}

// waitFor polls check until it returns true, the process dies, or the
// timeout passes; errors name the component and quote its log.
func waitFor(ctx context.Context, p *process, what string, timeout time.Duration, check func(context.Context) (bool, error)) error {
	var last error
	err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		if p != nil {
			if done, werr := p.exited(); done {
				return false, fmt.Errorf("%w: %v", errExited, werr)
			}
		}
		ok, err := check(ctx)
		if err != nil {
			last = err
		}
		return ok, nil
	})
	if err == nil {
		return nil
	}
	if last != nil {
		err = fmt.Errorf("%w (last error: %v)", err, last)
	}
	msg := fmt.Sprintf("testenv: waiting for %s: %v", what, err)
	if p != nil {
		msg += fmt.Sprintf("\n--- last lines of %s ---\n%s", p.logPath, p.logTail(30))
	}
	return errors.New(msg)
}

func (e *Env) startEtcd(ctx context.Context) error {
	client := "http://127.0.0.1:" + strconv.Itoa(e.ports.etcdClient)
	peer := "http://127.0.0.1:" + strconv.Itoa(e.ports.etcdPeer)
	p, err := e.start(etcdBin,
		"--name=testenv",
		"--data-dir="+e.path("etcd-data"),
		"--listen-client-urls="+client,
		"--advertise-client-urls="+client,
		"--listen-peer-urls="+peer,
		"--initial-advertise-peer-urls="+peer,
		"--initial-cluster=testenv="+peer,
		"--unsafe-no-fsync", // throwaway data: durability buys nothing, fsync costs seconds
		"--log-level=warn",
	)
	if err != nil {
		return err
	}
	return waitFor(ctx, p, "etcd", 30*time.Second, func(ctx context.Context) (bool, error) {
		return httpOK(ctx, http.DefaultClient, client+"/health")
	})
}

// StartAPIServer starts kube-apiserver (again, after KillAPIServer) and waits
// until /readyz answers.
func (e *Env) StartAPIServer(ctx context.Context) error {
	p, err := e.start(apiserverBin,
		"--etcd-servers=http://127.0.0.1:"+strconv.Itoa(e.ports.etcdClient),
		"--bind-address=127.0.0.1",
		"--advertise-address=127.0.0.1",
		"--secure-port="+strconv.Itoa(e.ports.apiserver),
		"--tls-cert-file="+e.path("apiserver.crt"),
		"--tls-private-key-file="+e.path("apiserver.key"),
		"--client-ca-file="+e.path("ca.crt"),
		"--authorization-mode=Node,RBAC",
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file="+e.path("sa.pub"),
		"--service-account-signing-key-file="+e.path("sa.key"),
		"--service-cluster-ip-range="+ServiceCIDR,
		// On loopback the endpoint reconciler would publish 127.0.0.1 as the
		// kubernetes Service endpoint, which the API server refuses.
		"--endpoint-reconciler-type=none",
		"--allow-privileged=true",
		"--profiling=false",
		"--v=1",
	)
	if err != nil {
		return err
	}
	hc, err := rest.HTTPClientFor(e.Config)
	if err != nil {
		return err
	}
	return waitFor(ctx, p, "kube-apiserver /readyz", 60*time.Second, func(ctx context.Context) (bool, error) {
		return httpOK(ctx, hc, e.apiserverURL()+"/readyz")
	})
}

func (e *Env) startControllers(ctx context.Context) error {
	cm, err := e.start(controllerBin,
		"--kubeconfig="+e.path("controller-manager.kubeconfig"),
		"--authentication-kubeconfig="+e.path("controller-manager.kubeconfig"),
		"--authorization-kubeconfig="+e.path("controller-manager.kubeconfig"),
		"--bind-address=127.0.0.1",
		"--secure-port=0",
		"--leader-elect=false",
		"--use-service-account-credentials=true",
		"--service-account-private-key-file="+e.path("sa.key"),
		"--root-ca-file="+e.path("ca.crt"),
		"--controllers=*",
		"--concurrent-deployment-syncs=10",
		"--concurrent-replicaset-syncs=10",
		// The default 20 QPS makes rolling out thousands of Deployments take
		// minutes (make bench at 10,000 objects waited >10 min for health).
		"--kube-api-qps=500",
		"--kube-api-burst=1000",
		"--v=1",
	)
	if err != nil {
		return err
	}
	if _, err := e.start(schedulerBin,
		"--kubeconfig="+e.path("scheduler.kubeconfig"),
		"--authentication-kubeconfig="+e.path("scheduler.kubeconfig"),
		"--authorization-kubeconfig="+e.path("scheduler.kubeconfig"),
		"--bind-address=127.0.0.1",
		"--secure-port=0",
		"--leader-elect=false",
		"--v=1",
	); err != nil {
		return err
	}
	if _, err := e.start(kwokBin,
		"--kubeconfig="+e.path("kwok.kubeconfig"),
		"--config="+filepath.Join(e.bins, kwokStages),
		"--manage-all-nodes=false",
		"--manage-nodes-with-label-selector="+NodeLabel,
		"--cidr=10.244.0.0/16",
		"--node-ip=127.0.0.1",
		"--server-address=127.0.0.1:"+strconv.Itoa(e.ports.kwok),
		"--node-lease-duration-seconds=40",
	); err != nil {
		return err
	}
	// The controller manager is working once the service-account controller
	// has created the default ServiceAccount, which pods need to be admitted.
	cs, err := kubernetes.NewForConfig(e.Config)
	if err != nil {
		return err
	}
	return waitFor(ctx, cm, "kube-controller-manager (default ServiceAccount)", 60*time.Second, func(ctx context.Context) (bool, error) {
		_, err := cs.CoreV1().ServiceAccounts("default").Get(ctx, "default", metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return false, nil
		}
		return err == nil, err
	})
}

// createNodes registers n fake nodes for kwok and waits until all are Ready.
func (e *Env) createNodes(ctx context.Context, n int) error {
	cs, err := kubernetes.NewForConfig(e.Config)
	if err != nil {
		return err
	}
	for i := range n {
		name := fmt.Sprintf("kwok-node-%d", i)
		node := &corev1.Node{
			ObjectMeta: metav1.ObjectMeta{
				Name: name,
				Labels: map[string]string{
					NodeLabel:                "true",
					"kubernetes.io/hostname": name,
					"kubernetes.io/os":       "linux",
					"kubernetes.io/arch":     "amd64",
					"type":                   "kwok",
				},
				Annotations: map[string]string{"kwok.x-k8s.io/node": "fake"},
			},
			Status: corev1.NodeStatus{
				Allocatable: nodeResources(),
				Capacity:    nodeResources(),
			},
		}
		if _, err := cs.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{}); err != nil {
			return fmt.Errorf("Node/%s: create: %w", name, err)
		}
	}
	kwok := e.procs[len(e.procs)-1]
	return waitFor(ctx, kwok, fmt.Sprintf("%d kwok nodes Ready", n), 60*time.Second, func(ctx context.Context) (bool, error) {
		nodes, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{LabelSelector: NodeLabel})
		if err != nil {
			return false, err
		}
		ready := 0
		for _, nd := range nodes.Items {
			for _, c := range nd.Status.Conditions {
				if c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue {
					ready++
				}
			}
		}
		return ready == n, nil
	})
}

func nodeResources() corev1.ResourceList {
	return corev1.ResourceList{
		corev1.ResourceCPU:    resource.MustParse("64"),
		corev1.ResourceMemory: resource.MustParse("256Gi"),
		corev1.ResourcePods:   resource.MustParse("1000"),
	}
}

func httpOK(ctx context.Context, c *http.Client, url string) (bool, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return false, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return false, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return false, fmt.Errorf("%s: %s", url, resp.Status)
	}
	return true, nil
}

// String describes the environment for humans (make demo).
func (e *Env) String() string {
	var names []string
	for _, p := range e.procs {
		names = append(names, fmt.Sprintf("%s (pid %d)", p.name, p.cmd.Process.Pid))
	}
	return fmt.Sprintf("API server %s; kubeconfig %s; processes: %s", e.apiserverURL(), e.Kubeconfig, strings.Join(names, ", "))
}

// ServiceAccountConfig returns a client configuration that authenticates as
// the service account namespace/name with a token from the TokenRequest API,
// for least-privilege tests.
func (e *Env) ServiceAccountConfig(ctx context.Context, namespace, name string) (*rest.Config, error) {
	cs, err := kubernetes.NewForConfig(e.Config)
	if err != nil {
		return nil, err
	}
	tr, err := cs.CoreV1().ServiceAccounts(namespace).CreateToken(ctx, name, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr(int64(3600))},
	}, metav1.CreateOptions{})
	if err != nil {
		return nil, fmt.Errorf("ServiceAccount/%s/%s: token: %w", namespace, name, err)
	}
	return &rest.Config{
		Host:            e.Config.Host,
		TLSClientConfig: rest.TLSClientConfig{CAData: e.pki.ca.cert},
		BearerToken:     tr.Status.Token,
	}, nil
}

func ptr[T any](v T) *T { return &v }
