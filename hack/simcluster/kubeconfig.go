package simcluster

import (
	"fmt"
	"os"
	"path/filepath"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// Impersonation names the identity a kubeconfig acts as; the API server then authorizes every
// request as that identity, so missing RBAC fails exactly as it would for a real pod.
type Impersonation struct {
	User   string
	Groups []string
}

// ServiceAccount is the identity of a pod running as namespace/name.
func ServiceAccount(namespace, name string) Impersonation {
	return Impersonation{
		User:   "system:serviceaccount:" + namespace + ":" + name,
		Groups: []string{"system:serviceaccounts", "system:serviceaccounts:" + namespace, "system:authenticated"},
	}
}

// WriteKubeconfig writes cfg (optionally impersonating) to <dir>/<name>.kubeconfig, mode 0600
// because it holds the admin client key.
func WriteKubeconfig(dir, name string, cfg *rest.Config, as *Impersonation) (string, error) {
	auth := &clientcmdapi.AuthInfo{
		ClientCertificateData: cfg.CertData,
		ClientKeyData:         cfg.KeyData,
		Token:                 cfg.BearerToken,
	}
	if as != nil {
		auth.Impersonate = as.User
		auth.ImpersonateGroups = as.Groups
	}
	kc := clientcmdapi.Config{
		Clusters:       map[string]*clientcmdapi.Cluster{"sim": {Server: cfg.Host, CertificateAuthorityData: cfg.CAData}},
		AuthInfos:      map[string]*clientcmdapi.AuthInfo{name: auth},
		Contexts:       map[string]*clientcmdapi.Context{"sim": {Cluster: "sim", AuthInfo: name}},
		CurrentContext: "sim",
	}
	b, err := clientcmd.Write(kc)
	if err != nil {
		return "", fmt.Errorf("encode kubeconfig %s: %w", name, err)
	}
	path := filepath.Join(dir, name+".kubeconfig")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		return "", fmt.Errorf("write kubeconfig %s: %w", name, err)
	}
	return path, nil
}
