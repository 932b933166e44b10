package main

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// root is the repository root seen from this package's directory.
const root = "../.."

var (
	k8s     client.Client
	testEnv *envtest.Environment
	ctx     = context.Background()
)

func TestBundle(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "OLM bundle")
}

// The control plane holds the bundle's CRD, as OLM would install it, so the alm-examples and the
// bundle's other objects meet a real API server's validation.
var _ = BeforeSuite(func() {
	Expect(os.Getenv("KUBEBUILDER_ASSETS")).NotTo(BeEmpty(),
		"KUBEBUILDER_ASSETS is not set: run `make test-bundle` (it builds kube-apiserver and etcd)")
	b, err := LoadBundle(root)
	Expect(err).NotTo(HaveOccurred())
	Expect(b.V1CRDs).NotTo(BeEmpty())
	scheme := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))
	utilruntime.Must(apiextensionsv1.AddToScheme(scheme))
	// Generous timeouts: the machine's cores are shared with other suites.
	testEnv = &envtest.Environment{CRDs: b.V1CRDs, ControlPlaneStartTimeout: time.Minute, ControlPlaneStopTimeout: time.Minute}
	cfg, err := testEnv.Start()
	Expect(err).NotTo(HaveOccurred())
	k8s, err = client.New(cfg, client.Options{Scheme: scheme})
	Expect(err).NotTo(HaveOccurred())
})

var _ = AfterSuite(func() {
	if testEnv != nil {
		Expect(testEnv.Stop()).To(Succeed())
	}
})

func readFile(rel string) []byte {
	GinkgoHelper()
	b, err := os.ReadFile(filepath.Join(root, rel))
	Expect(err).NotTo(HaveOccurred())
	return b
}
