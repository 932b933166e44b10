// Command demo starts a local control plane (envtest's kube-apiserver and etcd, built by
// hack/k8s-binaries.sh), installs the CRD, runs the operator in-process, applies the sample
// HeimdallInstance and prints what the operator created. It keeps running until Ctrl-C, so the
// cluster can be explored with the printed KUBECONFIG, then tears everything down.
//
// envtest runs no controllers and no nodes: Deployments get no pods, so the instance reports
// Progressing ("Waiting for postgres, redis, fusionAuth, server"), which is the truth here.
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/yaml"

	heimdallv1 "github.com/heimdall-io/heimdall-operator/api/v1alpha1"
	"github.com/heimdall-io/heimdall-operator/controllers"
	"github.com/heimdall-io/heimdall-operator/controllers/resources"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	sample := fs.String("sample", "config/samples/heimdall_v1alpha1_heimdallinstance.yaml", "HeimdallInstance manifest to apply")
	namespace := fs.String("namespace", "heimdall", "namespace of the demo instance")
	once := fs.Bool("once", false, "exit after printing instead of waiting for Ctrl-C")
	if err := fs.Parse(args); err != nil {
		return err
	}
	assets := os.Getenv("KUBEBUILDER_ASSETS")
	if assets == "" {
		return errors.New("KUBEBUILDER_ASSETS is not set: run `make demo`, which builds the control plane binaries")
	}
	ctrl.SetLogger(zap.New(zap.WriteTo(io.Discard)))

	fmt.Fprintln(out, "==> starting kube-apiserver and etcd")
	env := &envtest.Environment{CRDDirectoryPaths: []string{"config/crd/bases"}, ErrorIfCRDPathMissing: true}
	cfg, err := env.Start()
	if err != nil {
		return fmt.Errorf("start control plane: %w", err)
	}
	defer func() {
		fmt.Fprintln(out, "==> stopping the control plane")
		_ = env.Stop()
	}()
	kubeconfig, err := writeKubeconfig(env)
	if err != nil {
		return err
	}
	defer os.RemoveAll(filepath.Dir(kubeconfig))

	scheme := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))
	utilruntime.Must(heimdallv1.AddToScheme(scheme))
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{Scheme: scheme, Metrics: metricsserver.Options{BindAddress: "0"}})
	if err != nil {
		return fmt.Errorf("create manager: %w", err)
	}
	if err := (&controllers.HeimdallInstanceReconciler{
		Client: mgr.GetClient(), Scheme: scheme,
		Recorder: mgr.GetEventRecorder(resources.FieldManager),
		Images:   resources.ImagesFromEnv(os.Getenv),
	}).SetupWithManager(mgr); err != nil {
		return fmt.Errorf("set up controller: %w", err)
	}
	mgrCtx, stopMgr := context.WithCancel(ctx)
	defer stopMgr()
	mgrErr := make(chan error, 1)
	go func() { mgrErr <- mgr.Start(mgrCtx) }()
	fmt.Fprintln(out, "==> operator running")

	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return err
	}
	name, err := applySample(ctx, c, *sample, *namespace)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "==> applied %s as %s/%s; waiting for the operator\n", *sample, *namespace, name)
	if err := waitReconciled(ctx, c, *namespace, name); err != nil {
		return err
	}

	kubectl := filepath.Join(assets, "kubectl")
	for _, args := range [][]string{
		{"get", "hdi,deploy,sts,svc,hpa,cm,secrets,sa", "-n", *namespace},
		{"get", "hdi", name, "-n", *namespace, "-o", "jsonpath={range .status.conditions[*]}{.type}={.status} ({.reason}) {.message}{\"\\n\"}{end}"},
	} {
		fmt.Fprintf(out, "\n$ kubectl %s\n", strings.Join(args, " "))
		cmd := exec.CommandContext(ctx, kubectl, append([]string{"--kubeconfig", kubeconfig}, args...)...)
		cmd.Stdout, cmd.Stderr = out, out
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("kubectl %s: %w", args[0], err)
		}
	}
	fmt.Fprintln(out, "\nenvtest runs no kubelet or controllers, so no pods start and the instance stays Progressing.")
	if *once {
		return nil
	}
	fmt.Fprintf(out, "\nExplore with:  export KUBECONFIG=%s; %s get hdi -A\nPress Ctrl-C to stop and clean up.\n", kubeconfig, kubectl)
	select {
	case <-ctx.Done():
		return nil
	case err := <-mgrErr:
		return err
	}
}

func writeKubeconfig(env *envtest.Environment) (string, error) {
	user, err := env.ControlPlane.AddUser(envtest.User{Name: "demo-admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return "", fmt.Errorf("add user: %w", err)
	}
	b, err := user.KubeConfig()
	if err != nil {
		return "", err
	}
	dir, err := os.MkdirTemp("", "heimdall-demo-")
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, "kubeconfig")
	return path, os.WriteFile(path, b, 0o600)
}

// applySample creates the namespace and the first HeimdallInstance in the manifest.
func applySample(ctx context.Context, c client.Client, path, ns string) (string, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("read sample: %w", err)
	}
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		return "", fmt.Errorf("create namespace: %w", err)
	}
	for _, doc := range bytes.Split(raw, []byte("\n---")) {
		u := &unstructured.Unstructured{}
		if err := yaml.Unmarshal(doc, &u.Object); err != nil {
			return "", fmt.Errorf("parse sample: %w", err)
		}
		if u.GetKind() != "HeimdallInstance" {
			continue
		}
		u.SetNamespace(ns)
		if err := c.Create(ctx, u); err != nil {
			return "", fmt.Errorf("create %s: %w", u.GetName(), err)
		}
		return u.GetName(), nil
	}
	return "", fmt.Errorf("no HeimdallInstance in %s", path)
}

func waitReconciled(ctx context.Context, c client.Client, ns, name string) error {
	return wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		hi := &heimdallv1.HeimdallInstance{}
		if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, hi); err != nil {
			return false, err
		}
		d := &appsv1.Deployment{}
		err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: resources.ServerName(hi)}, d)
		return err == nil && hi.Status.ObservedGeneration == hi.Generation, client.IgnoreNotFound(err)
	})
}
