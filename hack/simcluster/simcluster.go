// Package simcluster starts a simulated Kubernetes cluster from real components: envtest's
// kube-apiserver and etcd, kube-controller-manager, kube-scheduler and kwok, which registers
// fake nodes and moves pods through their phases (no container runs). Deployments, ReplicaSets,
// StatefulSets, Jobs, CronJobs, the HPA, garbage collection, scheduling, Pod Security admission
// and RBAC are the real ones. The binaries come from hack/k8s-binaries.sh.
package simcluster

import (
	"bytes"
	"context"
	"embed"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"time"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/yaml"
)

// Stages are kwok v0.8.0's own Stage objects (kustomize/stage/{node/fast,node/heartbeat,pod/fast,
// pod/chaos,volume/fast}), copied so the behaviour is pinned with the repository.
//
//go:embed stages/*.yaml
var stages embed.FS

// Options configure Start. BinDir is required.
type Options struct {
	// BinDir holds kube-apiserver, etcd, kubectl, kube-controller-manager, kube-scheduler, kwok.
	BinDir string
	// CRDDirectoryPaths are installed before Start returns.
	CRDDirectoryPaths []string
	// Nodes is the number of fake nodes (default 1).
	Nodes int
	// Log receives one line per step; nil discards.
	Log io.Writer
}

// Cluster is a running simulated cluster. Stop it, also on failure.
type Cluster struct {
	// Config is an admin (system:masters) client configuration.
	Config *rest.Config
	// Kubeconfig is the path of the admin kubeconfig.
	Kubeconfig string
	// Dir holds kubeconfigs, the kwok configuration and one log file per process.
	Dir    string
	Client client.Client

	opts  Options
	env   *envtest.Environment
	procs []*Process
}

// Start brings the cluster up and returns once every fake node is Ready and the controller
// manager has created the default ServiceAccount. On error everything started is stopped.
func Start(ctx context.Context, opts Options) (c *Cluster, err error) {
	if opts.BinDir == "" {
		return nil, errors.New("simcluster: BinDir is empty (set KUBEBUILDER_ASSETS, see hack/k8s-binaries.sh)")
	}
	for _, bin := range []string{"kube-apiserver", "etcd", "kubectl", "kube-controller-manager", "kube-scheduler", "kwok"} {
		if _, err := os.Stat(filepath.Join(opts.BinDir, bin)); err != nil {
			return nil, fmt.Errorf("simcluster: %s missing: run `hack/k8s-binaries.sh kube-apiserver etcd kubectl kube-controller-manager kube-scheduler kwok`: %w", bin, err)
		}
	}
	if opts.Nodes == 0 {
		opts.Nodes = 1
	}
	if opts.Log == nil {
		opts.Log = io.Discard
	}
	dir, err := os.MkdirTemp("", "simcluster-")
	if err != nil {
		return nil, err
	}
	c = &Cluster{Dir: dir, opts: opts}
	defer func() {
		if err != nil {
			err = errors.Join(err, c.Stop())
		}
	}()
	if err := c.startControlPlane(); err != nil {
		return c, err
	}
	if err := c.startComponents(); err != nil {
		return c, err
	}
	return c, c.prepare(ctx)
}

func (c *Cluster) logf(format string, args ...any) { fmt.Fprintf(c.opts.Log, format+"\n", args...) }

func (c *Cluster) startControlPlane() error {
	c.logf("simcluster: starting etcd and kube-apiserver")
	c.env = &envtest.Environment{
		BinaryAssetsDirectory: c.opts.BinDir,
		CRDDirectoryPaths:     c.opts.CRDDirectoryPaths,
		ErrorIfCRDPathMissing: len(c.opts.CRDDirectoryPaths) > 0,
	}
	api := c.env.ControlPlane.GetAPIServer().Configure()
	// envtest turns ServiceAccount admission off because it runs no controllers; here the
	// controller manager runs, so pods are admitted as in a real cluster (their SA must exist).
	api.Disable("disable-admission-plugins")
	if _, err := c.env.Start(); err != nil {
		return fmt.Errorf("start control plane: %w", err)
	}
	admin, err := c.env.ControlPlane.AddUser(envtest.User{Name: "simcluster-admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return fmt.Errorf("add admin user: %w", err)
	}
	c.Config = admin.Config()
	if c.Kubeconfig, err = WriteKubeconfig(c.Dir, "admin", c.Config, nil); err != nil {
		return err
	}
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		return err
	}
	c.Client, err = client.New(c.Config, client.Options{Scheme: scheme})
	return err
}

func (c *Cluster) startComponents() error {
	certDir := c.env.ControlPlane.GetAPIServer().CertDir
	bin := func(name string) string { return filepath.Join(c.opts.BinDir, name) }
	kwokConfig, err := c.writeKwokConfig()
	if err != nil {
		return err
	}
	caFile := filepath.Join(c.Dir, "ca.crt")
	if err := os.WriteFile(caFile, c.Config.CAData, 0o600); err != nil {
		return fmt.Errorf("write CA: %w", err)
	}
	for _, p := range []struct {
		name string
		args []string
	}{
		{"kube-controller-manager", []string{
			"--kubeconfig=" + c.Kubeconfig,
			// The token controller would need the apiserver's legacy token setup; pods here get
			// projected tokens from ServiceAccount admission instead.
			"--controllers=*,-serviceaccount-token",
			"--leader-elect=false",
			"--secure-port=0",
			"--service-account-private-key-file=" + filepath.Join(certDir, "sa-signer.key"),
			"--root-ca-file=" + caFile,
			"--use-service-account-credentials=false",
			// Faster than the defaults so tests see HPA and node decisions within seconds.
			"--horizontal-pod-autoscaler-sync-period=2s",
			"--node-monitor-period=2s",
		}},
		{"kube-scheduler", []string{"--kubeconfig=" + c.Kubeconfig, "--leader-elect=false", "--secure-port=0"}},
		{"kwok", []string{
			"--kubeconfig=" + c.Kubeconfig,
			"--config=" + kwokConfig,
			"--manage-all-nodes=false",
			"--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake",
			"--server-address=",
			"--node-ip=10.244.0.1",
			"--cidr=10.244.0.0/16",
		}},
	} {
		c.logf("simcluster: starting %s", p.name)
		proc, err := StartProcess(c.Dir, p.name, bin(p.name), p.args, nil)
		if err != nil {
			return err
		}
		c.procs = append(c.procs, proc)
	}
	return nil
}

// writeKwokConfig concatenates the embedded Stage objects into one kwok --config file.
func (c *Cluster) writeKwokConfig() (string, error) {
	entries, err := stages.ReadDir("stages")
	if err != nil {
		return "", err
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].Name() < entries[j].Name() })
	var buf bytes.Buffer
	for _, e := range entries {
		b, err := stages.ReadFile("stages/" + e.Name())
		if err != nil {
			return "", err
		}
		if !bytes.Contains(b, []byte("kind: Stage")) {
			continue // storage-class.yaml is applied to the cluster, not to kwok
		}
		buf.WriteString("---\n")
		buf.Write(b)
	}
	path := filepath.Join(c.Dir, "kwok.yaml")
	return path, os.WriteFile(path, buf.Bytes(), 0o600)
}

// prepare registers the default StorageClass and the fake nodes and waits until the cluster works.
func (c *Cluster) prepare(ctx context.Context) error {
	b, err := stages.ReadFile("stages/storage-class.yaml")
	if err != nil {
		return err
	}
	sc := &storagev1.StorageClass{}
	if err := yaml.Unmarshal(b, sc); err != nil {
		return fmt.Errorf("parse storage class: %w", err)
	}
	if err := c.Client.Create(ctx, sc); err != nil {
		return fmt.Errorf("create storage class: %w", err)
	}
	for i := range c.opts.Nodes {
		if err := c.Client.Create(ctx, FakeNode(fmt.Sprintf("kwok-node-%d", i))); err != nil {
			return fmt.Errorf("create fake node: %w", err)
		}
	}
	c.logf("simcluster: waiting for %d fake node(s) and the controller manager", c.opts.Nodes)
	err = wait.PollUntilContextTimeout(ctx, 250*time.Millisecond, 60*time.Second, true, func(ctx context.Context) (bool, error) {
		if err := c.checkProcesses(); err != nil {
			return false, err
		}
		var nodes corev1.NodeList
		if err := c.Client.List(ctx, &nodes); err != nil {
			return false, nil //nolint:nilerr // the API may still be settling
		}
		ready := 0
		for _, n := range nodes.Items {
			for _, cond := range n.Status.Conditions {
				if cond.Type == corev1.NodeReady && cond.Status == corev1.ConditionTrue {
					ready++
				}
			}
		}
		sa := &corev1.ServiceAccount{}
		saErr := c.Client.Get(ctx, client.ObjectKey{Namespace: "default", Name: "default"}, sa)
		return ready == c.opts.Nodes && saErr == nil, nil
	})
	if err != nil {
		return fmt.Errorf("cluster did not become ready: %w\n%s", err, c.Logs(20))
	}
	return nil
}

// checkProcesses fails when a component has exited.
func (c *Cluster) checkProcesses() error {
	for _, p := range c.procs {
		if p.Exited() {
			return fmt.Errorf("%s exited: %v\n%s", p.Name, p.Err(), p.Tail(30))
		}
	}
	return nil
}

// Logs returns the last n lines of every component's log.
func (c *Cluster) Logs(n int) string {
	var b bytes.Buffer
	for _, p := range c.procs {
		fmt.Fprintf(&b, "--- %s (%s)\n%s\n", p.Name, p.LogPath, p.Tail(n))
	}
	return b.String()
}

// PIDs are the process ids of the components simcluster started itself.
func (c *Cluster) PIDs() []int {
	pids := make([]int, 0, len(c.procs))
	for _, p := range c.procs {
		pids = append(pids, p.PID())
	}
	return pids
}

// Stop ends the components in reverse start order, then the control plane, and removes Dir
// (unless SIMCLUSTER_KEEP is set, for post-mortems).
func (c *Cluster) Stop() error {
	var errs []error
	for i := len(c.procs) - 1; i >= 0; i-- {
		errs = append(errs, c.procs[i].Stop(5*time.Second))
	}
	if c.env != nil {
		c.logf("simcluster: stopping kube-apiserver and etcd")
		if err := c.env.Stop(); err != nil {
			errs = append(errs, fmt.Errorf("stop control plane: %w", err))
		}
	}
	if os.Getenv("SIMCLUSTER_KEEP") == "" {
		errs = append(errs, os.RemoveAll(c.Dir))
	}
	return errors.Join(errs...)
}
