package testenv

import (
	"crypto/x509"
	"encoding/pem"
	"net"
	"os"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

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
