//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	heimdallv1 "github.com/heimdall-io/heimdall-operator/api/v1alpha1"
)

const samplePath = "config/samples/heimdall_v1alpha1_heimdallinstance.yaml"

// kubectl runs kubectl as the cluster admin and fails the spec on error.
func kubectl(ctx context.Context, args ...string) string {
	GinkgoHelper()
	out, err := cluster.Kubectl(ctx, args...)
	Expect(err).NotTo(HaveOccurred(), "kubectl %s: %s", strings.Join(args, " "), out)
	return string(out)
}

// newNamespace creates a namespace for one scenario and deletes it afterwards.
func newNamespace(ctx context.Context, name string, labels map[string]string) string {
	GinkgoHelper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}
	Expect(k8s.Create(ctx, ns)).To(Succeed())
	DeferCleanup(func(ctx SpecContext) { _ = k8s.Delete(ctx, ns) })
	return name
}

// sample is config/samples' HeimdallInstance, changed by mutate, created in ns.
func sample(ctx context.Context, ns string, mutate func(*heimdallv1.HeimdallInstance)) *heimdallv1.HeimdallInstance {
	GinkgoHelper()
	raw, err := os.ReadFile(filepath.Join(repoRoot, samplePath))
	Expect(err).NotTo(HaveOccurred())
	hi := &heimdallv1.HeimdallInstance{}
	Expect(yaml.UnmarshalStrict(raw, hi)).To(Succeed())
	hi.Namespace = ns
	if mutate != nil {
		mutate(hi)
	}
	Expect(k8s.Create(ctx, hi)).To(Succeed())
	return hi
}

// get re-reads obj; a helper for Eventually.
func get(ctx context.Context, obj client.Object) func() (client.Object, error) {
	return func() (client.Object, error) {
		err := k8s.Get(ctx, client.ObjectKeyFromObject(obj), obj)
		return obj, err
	}
}

// condition returns the instance's condition of type t ("" status when absent).
func condition(hi *heimdallv1.HeimdallInstance, t string) metav1.Condition {
	if c := meta.FindStatusCondition(hi.Status.Conditions, t); c != nil {
		return *c
	}
	return metav1.Condition{Type: t}
}

// waitReady waits until the instance is Ready=True for its current generation.
func waitReady(ctx context.Context, hi *heimdallv1.HeimdallInstance) {
	GinkgoHelper()
	Eventually(func(g Gomega) {
		g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(hi), hi)).To(Succeed())
		g.Expect(hi.Status.ObservedGeneration).To(Equal(hi.Generation))
		g.Expect(condition(hi, "Ready").Status).To(Equal(metav1.ConditionTrue), "conditions: %s", describeConditions(hi))
	}).WithContext(ctx).Should(Succeed())
}

func describeConditions(hi *heimdallv1.HeimdallInstance) string {
	var b strings.Builder
	for _, c := range hi.Status.Conditions {
		fmt.Fprintf(&b, "%s=%s (%s) %s; ", c.Type, c.Status, c.Reason, c.Message)
	}
	return b.String()
}

// podsOf lists the pods matching labels in ns.
func podsOf(ctx context.Context, ns string, labels map[string]string) []corev1.Pod {
	GinkgoHelper()
	var pods corev1.PodList
	Expect(k8s.List(ctx, &pods, client.InNamespace(ns), client.MatchingLabels(labels))).To(Succeed())
	return pods.Items
}

// instanceLabels select every object of one instance.
func instanceLabels(hi *heimdallv1.HeimdallInstance) map[string]string {
	return map[string]string{"app.kubernetes.io/instance": hi.Name}
}

// replicaSetsOf lists the ReplicaSets a Deployment owns: one per rollout it made.
func replicaSetsOf(ctx context.Context, d *appsv1.Deployment) []appsv1.ReplicaSet {
	GinkgoHelper()
	var all appsv1.ReplicaSetList
	Expect(k8s.List(ctx, &all, client.InNamespace(d.Namespace))).To(Succeed())
	var owned []appsv1.ReplicaSet
	for _, rs := range all.Items {
		if ref := metav1.GetControllerOf(&rs); ref != nil && ref.UID == d.UID {
			owned = append(owned, rs)
		}
	}
	return owned
}

// revision is the Deployment controller's rollout counter.
func revision(d *appsv1.Deployment) string {
	return d.Annotations["deployment.kubernetes.io/revision"]
}
