package simcluster

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

func TestFakeNode(t *testing.T) {
	n := FakeNode("kwok-node-7")
	if n.Annotations[FakeNodeAnnotation] != "fake" {
		t.Errorf("annotation %s = %q, want fake (kwok manages only annotated nodes)", FakeNodeAnnotation, n.Annotations[FakeNodeAnnotation])
	}
	if len(n.Spec.Taints) != 0 {
		t.Errorf("taints %v: workloads would need tolerations", n.Spec.Taints)
	}
	if n.Labels["kubernetes.io/hostname"] != "kwok-node-7" {
		t.Errorf("hostname label %q", n.Labels["kubernetes.io/hostname"])
	}
	for res, min := range map[corev1.ResourceName]int64{corev1.ResourceCPU: 32, corev1.ResourcePods: 100} {
		if q := n.Status.Allocatable[res]; q.Value() < min {
			t.Errorf("allocatable %s = %s, want at least %d", res, q.String(), min)
		}
	}
}

func TestKwokConfigHoldsEveryStage(t *testing.T) {
	c := &Cluster{Dir: t.TempDir()}
	path, err := c.writeKwokConfig()
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	cfg := string(b)
	for _, name := range []string{"node-initialize", "node-heartbeat", "pod-ready", "pod-complete", "pod-delete",
		"pod-container-running-failed", "pod-image-fail", "pvc-provision", "pv-bind", "pv-delete", "pvc-delete"} {
		if !strings.Contains(cfg, "\n  name: "+name+"\n") {
			t.Errorf("stage %s missing from the kwok config", name)
		}
	}
	if strings.Contains(cfg, "kind: StorageClass") {
		t.Error("the StorageClass belongs in the cluster, not in kwok's config")
	}
}

func TestRenderKustomization(t *testing.T) {
	rendered, manager, err := RenderKustomization(filepath.Join("..", "..", "config", "default"))
	if err != nil {
		t.Fatal(err)
	}
	if manager.Spec.Template.Spec.ServiceAccountName == "" || manager.Namespace == "" {
		t.Errorf("manager Deployment without namespace or ServiceAccount: %s/%s", manager.Namespace, manager.Spec.Template.Spec.ServiceAccountName)
	}
	for _, want := range []string{"kind: CustomResourceDefinition", "kind: ClusterRole\n", "kind: ClusterRoleBinding", "kind: ServiceAccount", "kind: Namespace"} {
		if !strings.Contains(string(rendered), want) {
			t.Errorf("rendered install lacks %q", strings.TrimSpace(want))
		}
	}
	if strings.Contains(string(rendered), "kind: Deployment") {
		t.Error("the manager Deployment must be split off: no container can run it here")
	}
}

func TestFlagName(t *testing.T) {
	for _, tc := range []struct{ arg, want string }{
		{"--leader-elect", "--leader-elect"},
		{"--metrics-bind-address=:8443", "--metrics-bind-address"},
		{"--zap-log-level=debug", "--zap-log-level"},
	} {
		if got := flagName(tc.arg); got != tc.want {
			t.Errorf("flagName(%q) = %q, want %q", tc.arg, got, tc.want)
		}
	}
}

func TestWriteKubeconfigImpersonates(t *testing.T) {
	cfg := &rest.Config{Host: "https://127.0.0.1:6443", TLSClientConfig: rest.TLSClientConfig{CAData: []byte("ca"), CertData: []byte("cert"), KeyData: []byte("key")}}
	as := ServiceAccount("heimdall-system", "op")
	path, err := WriteKubeconfig(t.TempDir(), "operator", cfg, &as)
	if err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600 (holds a client key)", fi.Mode().Perm())
	}
	loaded, err := clientcmd.BuildConfigFromFlags("", path)
	if err != nil {
		t.Fatal(err)
	}
	if loaded.Impersonate.UserName != "system:serviceaccount:heimdall-system:op" {
		t.Errorf("impersonates %q", loaded.Impersonate.UserName)
	}
	if !strings.Contains(strings.Join(loaded.Impersonate.Groups, ","), "system:serviceaccounts:heimdall-system") {
		t.Errorf("groups %v", loaded.Impersonate.Groups)
	}
	if loaded.Host != cfg.Host || string(loaded.KeyData) != "key" {
		t.Errorf("server %q / key not carried over", loaded.Host)
	}
}
