//go:build e2e

package simcluster

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// TestSimulatedCluster proves the recipe end to end: a Deployment with a PVC-backed StatefulSet
// next to it gets Running, Ready pods on the fake node, and Stop leaves no process behind.
func TestSimulatedCluster(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	bin := os.Getenv("KUBEBUILDER_ASSETS")
	if bin == "" {
		t.Fatal("KUBEBUILDER_ASSETS is not set: run `make test-e2e`")
	}
	start := time.Now()
	c, err := Start(ctx, Options{BinDir: bin, Log: testWriter{t}})
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	t.Logf("cluster up in %s", time.Since(start).Round(time.Millisecond))
	pids := c.PIDs()
	stopped := false
	defer func() {
		if !stopped {
			_ = c.Stop()
		}
	}()

	labels := map[string]string{"app": "smoke"}
	pod := corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: labels},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "registry.test/none:1",
			Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m")}}}}},
	}
	d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "smoke", Namespace: "default"},
		Spec: appsv1.DeploymentSpec{Replicas: ptr.To[int32](2), Selector: &metav1.LabelSelector{MatchLabels: labels}, Template: pod}}
	sts := &appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Name: "data", Namespace: "default"},
		Spec: appsv1.StatefulSetSpec{Replicas: ptr.To[int32](1), Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "data"}},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "data"}}, Spec: pod.Spec},
			VolumeClaimTemplates: []corev1.PersistentVolumeClaim{{ObjectMeta: metav1.ObjectMeta{Name: "data"},
				Spec: corev1.PersistentVolumeClaimSpec{AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
					Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}}}}}}}
	for _, o := range []client.Object{d, sts} {
		if err := c.Client.Create(ctx, o); err != nil {
			t.Fatalf("create %s: %v", o.GetName(), err)
		}
	}
	err = wait.PollUntilContextTimeout(ctx, 250*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		if err := c.Client.Get(ctx, client.ObjectKeyFromObject(d), d); err != nil {
			return false, err
		}
		if err := c.Client.Get(ctx, client.ObjectKeyFromObject(sts), sts); err != nil {
			return false, err
		}
		return d.Status.ReadyReplicas == 2 && sts.Status.ReadyReplicas == 1, nil
	})
	if err != nil {
		t.Fatalf("workloads not ready (deploy %d/2, sts %d/1): %v\n%s", d.Status.ReadyReplicas, sts.Status.ReadyReplicas, err, c.Logs(15))
	}
	var pods corev1.PodList
	if err := c.Client.List(ctx, &pods, client.InNamespace("default")); err != nil {
		t.Fatal(err)
	}
	for _, p := range pods.Items {
		if p.Status.Phase != corev1.PodRunning || p.Spec.NodeName != "kwok-node-0" {
			t.Errorf("pod %s: phase %s on %q, want Running on kwok-node-0", p.Name, p.Status.Phase, p.Spec.NodeName)
		}
	}
	t.Logf("workloads ready %s after start", time.Since(start).Round(time.Millisecond))

	if err := c.Stop(); err != nil {
		t.Errorf("stop: %v", err)
	}
	stopped = true
	for _, pid := range pids {
		if Alive(pid) {
			t.Errorf("process %d survived Stop", pid)
		}
	}
	if left, _ := ChildPIDs(); len(left) > 0 {
		t.Errorf("child processes survived Stop: %v", left)
	}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(b), "\n"))
	return len(b), nil
}
