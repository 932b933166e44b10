package controllers

import (
	"context"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	heimdallv1 "github.com/heimdall-io/heimdall-operator/api/v1alpha1"
	"github.com/heimdall-io/heimdall-operator/controllers/resources"
)

// watchedNamespace is the only namespace the manager started by the suite reconciles; tests that
// call Reconcile directly use their own namespaces so the two never race.
const watchedNamespace = "watched"

var (
	cfg       *rest.Config
	k8s       client.WithWatch // direct, uncached
	scheme    = runtime.NewScheme()
	testEnv   *envtest.Environment
	ctx       context.Context
	cancel    context.CancelFunc
	testImage = resources.Images{Server: "registry.test/heimdall", Postgres: "registry.test/postgres", Redis: "registry.test/redis", FusionAuth: "registry.test/fusionauth-app"}
)

func TestControllers(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "Controllers Suite")
}

var _ = BeforeSuite(func() {
	logf.SetLogger(zap.New(zap.WriteTo(GinkgoWriter), zap.UseDevMode(true)))
	ctx, cancel = context.WithCancel(context.Background())
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))
	utilruntime.Must(heimdallv1.AddToScheme(scheme))

	// The control plane must be there: a missing KUBEBUILDER_ASSETS fails the suite, it never skips.
	Expect(os.Getenv("KUBEBUILDER_ASSETS")).NotTo(BeEmpty(),
		"KUBEBUILDER_ASSETS is not set: run the tests with `make test` (it builds kube-apiserver and etcd)")
	testEnv = &envtest.Environment{
		CRDDirectoryPaths:     []string{filepath.Join("..", "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
	}
	var err error
	cfg, err = testEnv.Start()
	Expect(err).NotTo(HaveOccurred())
	k8s, err = client.NewWithWatch(cfg, client.Options{Scheme: scheme})
	Expect(err).NotTo(HaveOccurred())
	Expect(k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: watchedNamespace}})).To(Succeed())

	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:  scheme,
		Metrics: metricsserver.Options{BindAddress: "0"},
		Cache:   cache.Options{DefaultNamespaces: map[string]cache.Config{watchedNamespace: {}}},
		Client:  client.Options{Cache: &client.CacheOptions{DisableFor: UncachedObjects}}, // as main.go
	})
	Expect(err).NotTo(HaveOccurred())
	Expect((&HeimdallInstanceReconciler{
		Client:   mgr.GetClient(),
		Scheme:   mgr.GetScheme(),
		Recorder: mgr.GetEventRecorder(resources.FieldManager),
		Images:   testImage,
	}).SetupWithManager(mgr)).To(Succeed())
	go func() {
		defer GinkgoRecover()
		Expect(mgr.Start(ctx)).To(Succeed())
	}()
})

var _ = AfterSuite(func() {
	cancel()
	if testEnv != nil {
		Expect(testEnv.Stop()).To(Succeed())
	}
})

// writeCounter counts mutating requests a client sends.
type writeCounter struct{ n atomic.Int64 }

func (w *writeCounter) Load() int64 { return w.n.Load() }

// countingClient wraps an uncached client and counts every create, update, patch, apply and
// delete, including status writes.
func countingClient(w *writeCounter) client.Client {
	return interceptor.NewClient(k8s, interceptor.Funcs{
		Create: func(ctx context.Context, c client.WithWatch, o client.Object, opts ...client.CreateOption) error {
			w.n.Add(1)
			return c.Create(ctx, o, opts...)
		},
		Update: func(ctx context.Context, c client.WithWatch, o client.Object, opts ...client.UpdateOption) error {
			w.n.Add(1)
			return c.Update(ctx, o, opts...)
		},
		Patch: func(ctx context.Context, c client.WithWatch, o client.Object, p client.Patch, opts ...client.PatchOption) error {
			w.n.Add(1)
			return c.Patch(ctx, o, p, opts...)
		},
		Apply: func(ctx context.Context, c client.WithWatch, o runtime.ApplyConfiguration, opts ...client.ApplyOption) error {
			w.n.Add(1)
			return c.Apply(ctx, o, opts...)
		},
		Delete: func(ctx context.Context, c client.WithWatch, o client.Object, opts ...client.DeleteOption) error {
			w.n.Add(1)
			return c.Delete(ctx, o, opts...)
		},
		SubResourceUpdate: func(ctx context.Context, c client.Client, sub string, o client.Object, opts ...client.SubResourceUpdateOption) error {
			w.n.Add(1)
			return c.SubResource(sub).Update(ctx, o, opts...)
		},
		SubResourcePatch: func(ctx context.Context, c client.Client, sub string, o client.Object, p client.Patch, opts ...client.SubResourcePatchOption) error {
			w.n.Add(1)
			return c.SubResource(sub).Patch(ctx, o, p, opts...)
		},
	})
}

// directReconciler reconciles with an uncached, write-counting client, so a test sees every
// write it causes and reads what it just wrote.
func directReconciler() (*HeimdallInstanceReconciler, *writeCounter) {
	w := &writeCounter{}
	return &HeimdallInstanceReconciler{
		Client:   countingClient(w),
		Scheme:   scheme,
		Recorder: events.NewFakeRecorder(1000),
		Images:   testImage,
	}, w
}

// newNamespace makes a fresh namespace for one test.
func newNamespace() string {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "hdi-"}}
	Expect(k8s.Create(ctx, ns)).To(Succeed())
	return ns.Name
}

// minimalInstance is the smallest valid HeimdallInstance: every default comes from the schema.
func minimalInstance(ns, name string) *heimdallv1.HeimdallInstance {
	return &heimdallv1.HeimdallInstance{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec:       heimdallv1.HeimdallInstanceSpec{Version: "1.4.0", Issuer: "https://auth.example.com"},
	}
}

// createInstance creates an instance and reads it back with the schema's defaults applied.
func createInstance(hi *heimdallv1.HeimdallInstance) *heimdallv1.HeimdallInstance {
	GinkgoHelper()
	Expect(k8s.Create(ctx, hi)).To(Succeed())
	Expect(k8s.Get(ctx, client.ObjectKeyFromObject(hi), hi)).To(Succeed())
	return hi
}

func reconcileOnce(r *HeimdallInstanceReconciler, hi *heimdallv1.HeimdallInstance) {
	GinkgoHelper()
	Eventually(func() error {
		_, err := r.Reconcile(ctx, ctrl.Request{NamespacedName: client.ObjectKeyFromObject(hi)})
		return err
	}).WithTimeout(10 * time.Second).Should(Succeed())
}

func reqFor(hi *heimdallv1.HeimdallInstance) ctrl.Request {
	return ctrl.Request{NamespacedName: client.ObjectKeyFromObject(hi)}
}
