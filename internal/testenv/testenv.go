package testenv

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
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
