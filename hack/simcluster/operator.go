package simcluster

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"
)

// Operator is how the rendered manager Deployment would run the operator: its namespace,
// ServiceAccount, container arguments and environment.
type Operator struct {
	Namespace      string
	ServiceAccount string
	Args           []string
	Env            []corev1.EnvVar
}

// RenderKustomization builds a kustomization directory in-process (the kustomize API that
// `go tool kustomize` wraps) and splits the result into the manager Deployment and the rest.
func RenderKustomization(dir string) (rest []byte, manager *appsv1.Deployment, err error) {
	resMap, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		return nil, nil, fmt.Errorf("kustomize build %s: %w", dir, err)
	}
	var out bytes.Buffer
	for _, res := range resMap.Resources() {
		b, err := res.AsYAML()
		if err != nil {
			return nil, nil, fmt.Errorf("render %s: %w", res.CurId(), err)
		}
		if res.GetKind() == "Deployment" && res.GetLabels()["control-plane"] == "controller-manager" {
			manager = &appsv1.Deployment{}
			if err := yaml.Unmarshal(b, manager); err != nil {
				return nil, nil, fmt.Errorf("parse manager deployment: %w", err)
			}
			continue
		}
		out.WriteString("---\n")
		out.Write(b)
	}
	if manager == nil {
		return nil, nil, fmt.Errorf("kustomize build %s: no controller-manager Deployment", dir)
	}
	return out.Bytes(), manager, nil
}

// InstallOperator applies everything config/default renders (namespace, CRD, RBAC, Services)
// with `kubectl apply --server-side`, as a user would, except the manager Deployment: no
// container runs here, so the manager runs as a local process (StartOperator) instead.
func (c *Cluster) InstallOperator(ctx context.Context, kustomizeDir string) (*Operator, error) {
	manifests, dep, err := RenderKustomization(kustomizeDir)
	if err != nil {
		return nil, err
	}
	path := filepath.Join(c.Dir, "install.yaml")
	if err := os.WriteFile(path, manifests, 0o600); err != nil {
		return nil, err
	}
	// A namespace created in the same apply may not be visible to admission yet ("namespace not
	// found" for the objects in it); a second pass is what a user re-running the command gets.
	var out []byte
	for attempt := 0; attempt < 5; attempt++ {
		if out, err = c.Kubectl(ctx, "apply", "--server-side", "--field-manager=install", "-f", path); err == nil {
			break
		}
		time.Sleep(time.Second)
	}
	if err != nil {
		return nil, fmt.Errorf("install: %w\n%s", err, out)
	}
	if out, err := c.Kubectl(ctx, "wait", "--for=condition=Established", "--timeout=60s", "crd", "--all"); err != nil {
		return nil, fmt.Errorf("wait for CRDs: %w\n%s", err, out)
	}
	spec := dep.Spec.Template.Spec
	op := &Operator{Namespace: dep.Namespace, ServiceAccount: spec.ServiceAccountName}
	for _, ctr := range spec.Containers {
		if ctr.Name == "manager" {
			op.Args, op.Env = ctr.Args, ctr.Env
		}
	}
	return op, nil
}

// StartOperator runs the manager binary as the operator's ServiceAccount (impersonated), with the
// Deployment's arguments and environment. Listeners move to loopback ports the kernel picks, and
// the leader-election Lease is named in the operator's namespace (a local process has no
// in-cluster namespace file), so leader election runs under the rendered RBAC too.
func (c *Cluster) StartOperator(op *Operator, managerBin string) (*Process, error) {
	as := ServiceAccount(op.Namespace, op.ServiceAccount)
	kubeconfig, err := WriteKubeconfig(c.Dir, "operator", c.Config, &as)
	if err != nil {
		return nil, err
	}
	args := []string{"--kubeconfig=" + kubeconfig}
	for _, a := range op.Args {
		switch flagName(a) {
		case "--leader-elect", "--leader-election-namespace", "--health-probe-bind-address", "--metrics-bind-address", "--kubeconfig":
			continue
		}
		args = append(args, a)
	}
	args = append(args, "--leader-elect=true", "--leader-election-namespace="+op.Namespace,
		"--health-probe-bind-address=127.0.0.1:0", "--metrics-bind-address=127.0.0.1:0")
	var env []string
	for _, e := range op.Env {
		if e.ValueFrom == nil {
			env = append(env, e.Name+"="+e.Value)
		}
	}
	p, err := StartProcess(c.Dir, fmt.Sprintf("operator-%d", len(c.procs)), managerBin, args, env)
	if err != nil {
		return nil, err
	}
	c.procs = append(c.procs, p)
	return p, nil
}

func flagName(arg string) string {
	name, _, _ := strings.Cut(arg, "=")
	return name
}

// Kubectl runs the cluster's kubectl as admin and returns its combined output.
func (c *Cluster) Kubectl(ctx context.Context, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, filepath.Join(c.opts.BinDir, "kubectl"), append([]string{"--kubeconfig=" + c.Kubeconfig}, args...)...)
	return cmd.CombinedOutput()
}
