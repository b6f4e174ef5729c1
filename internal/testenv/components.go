package testenv

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// start runs the component binary name from the binary directory and
// records it for Stop.
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
		// The default 20 QPS is too slow for the benchmarks' rollouts
		// (docs/architecture.md, Test infrastructure).
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
