package optionalcrds

import (
	"context"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	heimdallv1 "github.com/heimdall-io/heimdall-operator/api/v1alpha1"
	"github.com/heimdall-io/heimdall-operator/controllers"
	"github.com/heimdall-io/heimdall-operator/controllers/resources"
)

var (
	cfg     *rest.Config
	k8s     client.WithWatch
	scheme  = runtime.NewScheme()
	testEnv *envtest.Environment
	ctx     context.Context
	cancel  context.CancelFunc
)

func TestOptionalCRDs(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "Optional CRDs Suite")
}

// The control plane starts with the HeimdallInstance CRD only; the specs install cert-manager's
// and prometheus-operator's CRDs (testdata/crds, see gen-crds.sh) while instances wait for them.
var _ = BeforeSuite(func() {
	logf.SetLogger(zap.New(zap.WriteTo(GinkgoWriter), zap.UseDevMode(true)))
	ctx, cancel = context.WithCancel(context.Background())
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))
	utilruntime.Must(heimdallv1.AddToScheme(scheme))
	utilruntime.Must(monitoringv1.AddToScheme(scheme)) // typed reads in the tests only; the operator uses unstructured

	Expect(os.Getenv("KUBEBUILDER_ASSETS")).NotTo(BeEmpty(),
		"KUBEBUILDER_ASSETS is not set: run the tests with `make test` (it builds kube-apiserver and etcd)")
	testEnv = &envtest.Environment{
		CRDDirectoryPaths:     []string{filepath.Join("..", "..", "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
	}
	var err error
	cfg, err = testEnv.Start()
	Expect(err).NotTo(HaveOccurred())
	k8s, err = client.NewWithWatch(cfg, client.Options{Scheme: scheme})
	Expect(err).NotTo(HaveOccurred())
})

var _ = AfterSuite(func() {
	cancel()
	if testEnv != nil {
		Expect(testEnv.Stop()).To(Succeed())
	}
})

// installOptionalCRDs installs the upstream CRDs and waits until the API server serves them.
func installOptionalCRDs() {
	GinkgoHelper()
	_, err := envtest.InstallCRDs(cfg, envtest.CRDInstallOptions{
		Paths: []string{filepath.Join("testdata", "crds")}, ErrorIfPathMissing: true,
	})
	Expect(err).NotTo(HaveOccurred())
}

// reconciler reconciles with an uncached client that counts mutating requests.
func reconciler() (*controllers.HeimdallInstanceReconciler, *atomic.Int64) {
	n := &atomic.Int64{}
	count := func() { n.Add(1) }
	c := interceptor.NewClient(k8s, interceptor.Funcs{
		Create: func(ctx context.Context, c client.WithWatch, o client.Object, opts ...client.CreateOption) error {
			count()
			return c.Create(ctx, o, opts...)
		},
		Update: func(ctx context.Context, c client.WithWatch, o client.Object, opts ...client.UpdateOption) error {
			count()
			return c.Update(ctx, o, opts...)
		},
		Patch: func(ctx context.Context, c client.WithWatch, o client.Object, p client.Patch, opts ...client.PatchOption) error {
			count()
			return c.Patch(ctx, o, p, opts...)
		},
		Apply: func(ctx context.Context, c client.WithWatch, o runtime.ApplyConfiguration, opts ...client.ApplyOption) error {
			count()
			return c.Apply(ctx, o, opts...)
		},
		Delete: func(ctx context.Context, c client.WithWatch, o client.Object, opts ...client.DeleteOption) error {
			count()
			return c.Delete(ctx, o, opts...)
		},
		SubResourcePatch: func(ctx context.Context, c client.Client, sub string, o client.Object, p client.Patch, opts ...client.SubResourcePatchOption) error {
			count()
			return c.SubResource(sub).Patch(ctx, o, p, opts...)
		},
		SubResourceUpdate: func(ctx context.Context, c client.Client, sub string, o client.Object, opts ...client.SubResourceUpdateOption) error {
			count()
			return c.SubResource(sub).Update(ctx, o, opts...)
		},
	})
	return &controllers.HeimdallInstanceReconciler{
		Client:   c,
		Scheme:   scheme,
		Recorder: events.NewFakeRecorder(1000),
		Images:   resources.Images{Server: "registry.test/heimdall", Postgres: "registry.test/postgres", Redis: "registry.test/redis", FusionAuth: "registry.test/fusionauth-app"},
	}, n
}

func reconcile(r *controllers.HeimdallInstanceReconciler, hi *heimdallv1.HeimdallInstance) ctrl.Result {
	GinkgoHelper()
	var res ctrl.Result
	Eventually(func() (err error) {
		res, err = r.Reconcile(ctx, ctrl.Request{NamespacedName: client.ObjectKeyFromObject(hi)})
		return err
	}).WithTimeout(10 * time.Second).Should(Succeed())
	return res
}

func newNamespace() string {
	GinkgoHelper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "opt-"}}
	Expect(k8s.Create(ctx, ns)).To(Succeed())
	return ns.Name
}

func get[T client.Object](ns, name string, obj T) T {
	GinkgoHelper()
	Expect(k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, obj)).To(Succeed())
	return obj
}

// updateSpec changes the live instance's spec, retrying on conflicts with status writes.
func updateSpec(hi *heimdallv1.HeimdallInstance, mutate func(*heimdallv1.HeimdallInstanceSpec)) {
	GinkgoHelper()
	Eventually(func() error {
		live := &heimdallv1.HeimdallInstance{}
		if err := k8s.Get(ctx, client.ObjectKeyFromObject(hi), live); err != nil {
			return err
		}
		mutate(&live.Spec)
		return k8s.Update(ctx, live)
	}).Should(Succeed())
}
