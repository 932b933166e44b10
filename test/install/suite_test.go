package install

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/klog/v2"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/controller-runtime/pkg/metrics/filters"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	heimdallv1 "github.com/heimdall-io/heimdall-operator/api/v1alpha1"
	"github.com/heimdall-io/heimdall-operator/controllers"
	"github.com/heimdall-io/heimdall-operator/controllers/resources"
)

// installFieldManager is who "installs" the operator, as `kubectl apply --server-side` would.
const installFieldManager = "kubectl"

var (
	managerLogs = &logBuffer{}
	ctx         context.Context
	cancel      context.CancelFunc
	testEnv     *envtest.Environment
	adminCfg    *rest.Config
	admin       client.Client // cluster-admin: installs, creates the sample, inspects
	scheme      = runtime.NewScheme()
	rendered    []*unstructured.Unstructured // config/default, rendered once
	manager     *appsv1.Deployment           // the rendered operator Deployment
)

func TestInstall(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "Install Suite")
}

var _ = BeforeSuite(func() {
	// The manager's logs and client-go's (reflectors log list/watch failures through klog) go to
	// one buffer too, so a spec can assert that nothing was forbidden.
	logger := zap.New(zap.WriteTo(io.MultiWriter(GinkgoWriter, managerLogs)), zap.UseDevMode(true))
	logf.SetLogger(logger)
	klog.SetLogger(logger)
	ctx, cancel = context.WithCancel(context.Background())
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))
	utilruntime.Must(apiextensionsv1.AddToScheme(scheme))
	utilruntime.Must(heimdallv1.AddToScheme(scheme))

	// The control plane must be there: a missing KUBEBUILDER_ASSETS fails the suite, it never skips.
	Expect(os.Getenv("KUBEBUILDER_ASSETS")).NotTo(BeEmpty(),
		"KUBEBUILDER_ASSETS is not set: run the tests with `make test-operator` (it builds kube-apiserver and etcd)")
	// No CRDs here: installing them is part of what is tested.
	testEnv = &envtest.Environment{}
	var err error
	adminCfg, err = testEnv.Start()
	Expect(err).NotTo(HaveOccurred())
	admin, err = client.New(adminCfg, client.Options{Scheme: scheme})
	Expect(err).NotTo(HaveOccurred())

	rendered, err = Render(configDir("default"))
	Expect(err).NotTo(HaveOccurred())
	deps := Find(rendered, "Deployment")
	Expect(deps).To(HaveLen(1))
	manager = &appsv1.Deployment{}
	Expect(runtime.DefaultUnstructuredConverter.FromUnstructured(deps[0].Object, manager)).To(Succeed())
})

var _ = AfterSuite(func() {
	if cancel != nil {
		cancel()
	}
	if testEnv != nil {
		Expect(testEnv.Stop()).To(Succeed())
	}
})

// install applies every rendered object with server-side apply, as
// `kubectl apply --server-side -f dist/install.yaml` does, and waits for the CRDs.
func install() {
	GinkgoHelper()
	for _, o := range rendered {
		obj := o.DeepCopy()
		Expect(admin.Apply(ctx, client.ApplyConfigurationFromUnstructured(obj),
			client.FieldOwner(installFieldManager), client.ForceOwnership)).To(Succeed(), "apply %s %s", o.GetKind(), o.GetName())
	}
	for _, o := range Find(rendered, "CustomResourceDefinition") {
		Eventually(func(g Gomega) {
			crd := &apiextensionsv1.CustomResourceDefinition{}
			g.Expect(admin.Get(ctx, client.ObjectKey{Name: o.GetName()}, crd)).To(Succeed())
			g.Expect(crd.Status.Conditions).To(ContainElement(And(
				HaveField("Type", apiextensionsv1.Established), HaveField("Status", apiextensionsv1.ConditionTrue))))
		}).WithTimeout(30 * time.Second).Should(Succeed())
	}
}

// serviceAccountUser is the user name and groups the API server gives the manager's pod.
func serviceAccountUser() rest.ImpersonationConfig {
	ns, sa := manager.Namespace, manager.Spec.Template.Spec.ServiceAccountName
	return rest.ImpersonationConfig{
		UserName: fmt.Sprintf("system:serviceaccount:%s:%s", ns, sa),
		Groups:   []string{"system:serviceaccounts", "system:serviceaccounts:" + ns, "system:authenticated"},
	}
}

// managerEnv is the manager container's environment as rendered.
func managerEnv(name string) string {
	for _, e := range manager.Spec.Template.Spec.Containers[0].Env {
		if e.Name == name {
			return e.Value
		}
	}
	return ""
}

// startManager runs the operator in-process as main.go does, but authenticated as the manager's
// ServiceAccount, so every request it makes is authorized by the installed RBAC alone. Metrics
// are served as in the Deployment: HTTPS, every scrape authenticated and authorized through the
// API server. It returns the metrics URL and a function that stops the manager and reports how
// Start ended.
func startManager() (metricsURL string, stop func() error) {
	GinkgoHelper()
	cfg := rest.CopyConfig(adminCfg)
	cfg.Impersonate = serviceAccountUser()
	metricsAddr := freeLocalAddr()
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme: scheme,
		Metrics: metricsserver.Options{
			BindAddress:    metricsAddr,
			SecureServing:  true,
			FilterProvider: filters.WithAuthenticationAndAuthorization,
		},
		HealthProbeBindAddress:        "0",
		Client:                        client.Options{Cache: &client.CacheOptions{DisableFor: controllers.UncachedObjects}}, // as main.go
		LeaderElection:                true,                                                                                 // the rendered Deployment runs with --leader-elect
		LeaderElectionID:              "heimdall-operator.heimdall.io",
		LeaderElectionNamespace:       manager.Namespace, // in a pod it is read from the ServiceAccount mount
		LeaderElectionReleaseOnCancel: true,
		// A list or watch the RBAC forbids shows up as a cache that never syncs: fail fast.
		Controller: config.Controller{CacheSyncTimeout: 30 * time.Second},
	})
	Expect(err).NotTo(HaveOccurred())
	Expect((&controllers.HeimdallInstanceReconciler{
		Client:   mgr.GetClient(),
		Scheme:   mgr.GetScheme(),
		Recorder: mgr.GetEventRecorder(resources.FieldManager),
		Images:   resources.ImagesFromEnv(managerEnv),
	}).SetupWithManager(mgr)).To(Succeed())

	mctx, mcancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- mgr.Start(mctx) }()
	return "https://" + metricsAddr + "/metrics", func() error {
		mcancel()
		select {
		case err := <-done:
			return err
		case <-time.After(30 * time.Second):
			return fmt.Errorf("manager did not stop within 30s")
		}
	}
}

// freeLocalAddr picks a free loopback port for the metrics server.
func freeLocalAddr() string {
	GinkgoHelper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	Expect(err).NotTo(HaveOccurred())
	defer l.Close()
	return l.Addr().String()
}

// logBuffer is a goroutine-safe log sink.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// Since returns what was logged after offset, and the new offset.
func (b *logBuffer) Since(offset int) (string, int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()[offset:], b.buf.Len()
}
