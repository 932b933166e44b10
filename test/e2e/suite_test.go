//go:build e2e

package e2e

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"golang.org/x/sys/unix"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"

	heimdallv1 "github.com/heimdall-io/heimdall-operator/api/v1alpha1"
	"github.com/heimdall-io/heimdall-operator/hack/simcluster"
)

var (
	cluster  *simcluster.Cluster
	operator *simcluster.Operator
	manager  *simcluster.Process // the running operator; scenario 7 replaces it
	k8s      client.Client       // admin client, for looking the way `kubectl` does
	scheme   = runtime.NewScheme()
	repoRoot = filepath.Join("..", "..")
	// everyPID collects every process the suite started, to prove none outlives it.
	everyPID []int
)

func TestE2E(t *testing.T) {
	RegisterFailHandler(Fail)
	SetDefaultEventuallyTimeout(2 * time.Minute)
	SetDefaultEventuallyPollingInterval(250 * time.Millisecond)
	RunSpecs(t, "End-to-end on a simulated cluster")
}

var _ = BeforeSuite(func(ctx SpecContext) {
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))
	utilruntime.Must(heimdallv1.AddToScheme(scheme))
	bin := os.Getenv("KUBEBUILDER_ASSETS")
	Expect(bin).NotTo(BeEmpty(), "KUBEBUILDER_ASSETS is not set: run `make test-e2e`, which builds the cluster binaries")
	managerBin := managerBinary()
	Expect(managerBin).To(BeAnExistingFile(), "bin/manager is missing: run `make test-e2e` (it runs `make build` first)")
	var err error

	// As a child subreaper this process inherits anything its children orphan (PostgreSQL under
	// e2e-backends, say), so the AfterSuite check below sees grandchildren that leaked too.
	Expect(unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)).To(Succeed())
	start := time.Now()
	cluster, err = simcluster.Start(ctx, simcluster.Options{BinDir: bin, Log: GinkgoWriter})
	Expect(err).NotTo(HaveOccurred())
	everyPID = append(everyPID, cluster.PIDs()...)
	k8s, err = client.New(cluster.Config, client.Options{Scheme: scheme})
	Expect(err).NotTo(HaveOccurred())

	operator, err = cluster.InstallOperator(ctx, filepath.Join(repoRoot, "config", "default"))
	Expect(err).NotTo(HaveOccurred())
	Expect(operator.ServiceAccount).To(Equal("heimdall-operator-controller-manager"))
	startOperator(managerBin)
	GinkgoWriter.Printf("simulated cluster and operator up in %s\n", time.Since(start).Round(time.Millisecond))
}, NodeTimeout(5*time.Minute))

var _ = AfterSuite(func() {
	if cluster == nil {
		return
	}
	if CurrentSpecReport().Failed() || os.Getenv("E2E_LOGS") != "" {
		GinkgoWriter.Println(cluster.Logs(40))
	}
	Expect(cluster.Stop()).To(Succeed())
	// No stray processes: every component and every operator process is gone, and so are
	// envtest's etcd and kube-apiserver (children of this test binary).
	for _, pid := range everyPID {
		Expect(simcluster.Alive(pid)).To(BeFalse(), "process %d survived the suite", pid)
	}
	Expect(simcluster.ChildPIDs()).To(BeEmpty(), "child processes survived the suite")
})

// managerBinary is bin/manager, built by `make build`.
func managerBinary() string {
	p, err := filepath.Abs(filepath.Join(repoRoot, "bin", "manager"))
	Expect(err).NotTo(HaveOccurred())
	return p
}

// startOperator runs bin/manager as the operator's ServiceAccount and records its PID.
func startOperator(managerBin string) {
	var err error
	manager, err = cluster.StartOperator(operator, managerBin)
	Expect(err).NotTo(HaveOccurred())
	everyPID = append(everyPID, manager.PID())
	// The manager must stay up: RBAC it lacks for its informers makes it exit, which fails here.
	Consistently(manager.Exited, 3*time.Second, 250*time.Millisecond).Should(BeFalse(),
		func() string { return "operator exited:\n" + manager.Tail(30) })
}

var _ = ReportAfterEach(func(r SpecReport) {
	if r.Failed() && manager != nil {
		AddReportEntry("operator log", manager.Tail(60))
	}
})
