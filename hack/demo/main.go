// Command demo runs the operator on a simulated cluster (hack/simcluster: kube-apiserver, etcd,
// kube-controller-manager, kube-scheduler and kwok's fake node, all built by
// hack/k8s-binaries.sh), installs it as `make test-e2e` does, applies the sample
// HeimdallInstance, waits until it is Ready and prints what the operator created. It keeps
// running until Ctrl-C, so the cluster can be explored with the printed KUBECONFIG, then tears
// everything down. No container runs: kwok marks the pods Running and Ready.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"

	heimdallv1 "github.com/heimdall-io/heimdall-operator/api/v1alpha1"
	"github.com/heimdall-io/heimdall-operator/hack/simcluster"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, out io.Writer) (err error) {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	sample := fs.String("sample", "config/samples/heimdall_v1alpha1_heimdallinstance.yaml", "HeimdallInstance manifest to apply")
	namespace := fs.String("namespace", "heimdall", "namespace of the demo instance")
	managerBin := fs.String("manager", "bin/manager", "operator binary (make build)")
	timeout := fs.Duration("timeout", 3*time.Minute, "how long to wait for Ready=True")
	once := fs.Bool("once", false, "exit after printing instead of waiting for Ctrl-C")
	if err := fs.Parse(args); err != nil {
		return err
	}
	assets := os.Getenv("KUBEBUILDER_ASSETS")
	if assets == "" {
		return errors.New("KUBEBUILDER_ASSETS is not set: run `make demo`, which builds the cluster binaries")
	}
	if _, err := os.Stat(*managerBin); err != nil {
		return fmt.Errorf("operator binary: %w (run `make demo`, which builds it)", err)
	}

	fmt.Fprintln(out, "==> starting the simulated cluster")
	cluster, err := simcluster.Start(ctx, simcluster.Options{BinDir: assets, Log: out})
	if err != nil {
		return err
	}
	defer func() {
		fmt.Fprintln(out, "==> stopping the operator and the cluster")
		err = errors.Join(err, cluster.Stop())
	}()

	fmt.Fprintln(out, "==> installing the operator (config/default: CRD, namespace, RBAC)")
	op, err := cluster.InstallOperator(ctx, "config/default")
	if err != nil {
		return err
	}
	manager, err := cluster.StartOperator(op, *managerBin)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "==> operator running as system:serviceaccount:%s:%s (log: %s)\n", op.Namespace, op.ServiceAccount, manager.LogPath)

	kubectl := func(args ...string) error {
		fmt.Fprintf(out, "\n$ kubectl %s\n", strings.Join(args, " "))
		b, err := cluster.Kubectl(ctx, args...)
		out.Write(b) //nolint:errcheck
		if err != nil {
			return fmt.Errorf("kubectl %s: %w", args[0], err)
		}
		return nil
	}
	if err := kubectl("create", "namespace", *namespace); err != nil {
		return err
	}
	if err := kubectl("apply", "-n", *namespace, "-f", *sample); err != nil {
		return err
	}
	name, err := sampleName(ctx, cluster, *namespace)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "\n==> waiting for %s/%s to be Ready\n", *namespace, name)
	start := time.Now()
	if err := waitReady(ctx, cluster, *namespace, name, *timeout, manager); err != nil {
		_ = kubectl("get", "hdi,deploy,sts,job,pods", "-n", *namespace)
		return err
	}
	fmt.Fprintf(out, "==> Ready=True after %s\n", time.Since(start).Round(100*time.Millisecond))
	// Ready can come while a first-install migration Job still runs; give it a moment to settle so
	// the printout shows the steady state, but print either way.
	_ = waitSettled(ctx, cluster, *namespace, name, 15*time.Second)

	for _, args := range [][]string{
		{"get", "hdi,deploy,sts,svc,hpa,cronjob,secrets", "-n", *namespace},
		{"get", "hdi", name, "-n", *namespace, "-o", "jsonpath={range .status.conditions[*]}{.type}={.status} ({.reason}) {.message}{\"\\n\"}{end}"},
	} {
		if err := kubectl(args...); err != nil {
			return err
		}
	}
	fmt.Fprintln(out, "\nNo container ran: kwok plays the kubelet and marks pods Running and Ready; everything else is real Kubernetes.")
	if *once {
		return nil
	}
	fmt.Fprintf(out, "\nExplore with:  export KUBECONFIG=%s; %s get hdi,pods -A\nPress Ctrl-C to stop and clean up.\n",
		cluster.Kubeconfig, filepath.Join(assets, "kubectl"))
	select {
	case <-ctx.Done():
		return nil
	case <-manager.Done():
		return fmt.Errorf("operator exited: %v\n%s", manager.Err(), manager.Tail(20))
	}
}

func newClient(c *simcluster.Cluster) (client.Client, error) {
	scheme := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))
	utilruntime.Must(heimdallv1.AddToScheme(scheme))
	return client.New(c.Config, client.Options{Scheme: scheme})
}

// sampleName is the name of the one HeimdallInstance the sample created.
func sampleName(ctx context.Context, c *simcluster.Cluster, ns string) (string, error) {
	cl, err := newClient(c)
	if err != nil {
		return "", err
	}
	var list heimdallv1.HeimdallInstanceList
	if err := cl.List(ctx, &list, client.InNamespace(ns)); err != nil {
		return "", fmt.Errorf("list instances: %w", err)
	}
	if len(list.Items) != 1 {
		return "", fmt.Errorf("want one HeimdallInstance in %s, found %d", ns, len(list.Items))
	}
	return list.Items[0].Name, nil
}

func waitSettled(ctx context.Context, c *simcluster.Cluster, ns, name string, timeout time.Duration) error {
	cl, err := newClient(c)
	if err != nil {
		return err
	}
	return wait.PollUntilContextTimeout(ctx, 250*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		hi := &heimdallv1.HeimdallInstance{}
		if err := cl.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, hi); err != nil {
			return false, err
		}
		return meta.IsStatusConditionFalse(hi.Status.Conditions, "Progressing"), nil
	})
}

func waitReady(ctx context.Context, c *simcluster.Cluster, ns, name string, timeout time.Duration, manager *simcluster.Process) error {
	cl, err := newClient(c)
	if err != nil {
		return err
	}
	hi := &heimdallv1.HeimdallInstance{}
	err = wait.PollUntilContextTimeout(ctx, 250*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		if manager.Exited() {
			return false, fmt.Errorf("operator exited: %v\n%s", manager.Err(), manager.Tail(20))
		}
		if err := cl.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, hi); err != nil {
			return false, err
		}
		return hi.Status.ObservedGeneration == hi.Generation && meta.IsStatusConditionTrue(hi.Status.Conditions, "Ready"), nil
	})
	if err != nil {
		ready := meta.FindStatusCondition(hi.Status.Conditions, "Ready")
		if ready == nil {
			ready = &metav1.Condition{Message: "no Ready condition yet"}
		}
		return fmt.Errorf("instance not Ready within %s: %s: %w", timeout, ready.Message, err)
	}
	return nil
}
