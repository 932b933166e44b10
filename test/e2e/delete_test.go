//go:build e2e

package e2e

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	heimdallv1 "github.com/heimdall-io/heimdall-operator/api/v1alpha1"
)

// owned counts what is left of an instance's children, by kind.
func owned(ctx SpecContext, hi *heimdallv1.HeimdallInstance) map[string]int {
	GinkgoHelper()
	left := map[string]int{}
	for kind, list := range map[string]client.ObjectList{
		"Deployment": &appsv1.DeploymentList{}, "StatefulSet": &appsv1.StatefulSetList{},
		"Service": &corev1.ServiceList{}, "ConfigMap": &corev1.ConfigMapList{},
		"ServiceAccount": &corev1.ServiceAccountList{}, "HorizontalPodAutoscaler": &autoscalingv2.HorizontalPodAutoscalerList{},
		"Pod": &corev1.PodList{},
	} {
		Expect(k8s.List(ctx, list, client.InNamespace(hi.Namespace), client.MatchingLabels(instanceLabels(hi)))).To(Succeed())
		items, err := meta.ExtractList(list)
		Expect(err).NotTo(HaveOccurred())
		if n := len(items); n > 0 {
			left[kind] = n
		}
	}
	return left
}

func claimUIDs(ctx SpecContext, ns string) []types.UID {
	GinkgoHelper()
	var pvcs corev1.PersistentVolumeClaimList
	Expect(k8s.List(ctx, &pvcs, client.InNamespace(ns))).To(Succeed())
	var uids []types.UID
	for _, p := range pvcs.Items {
		if p.DeletionTimestamp == nil {
			uids = append(uids, p.UID)
		}
	}
	return uids
}

var _ = Describe("Scenario 8: deletion", func() {
	for _, tc := range []struct {
		policy       heimdallv1.PVCRetentionPolicy
		keepsVolumes bool
	}{{heimdallv1.PVCRetain, true}, {heimdallv1.PVCDelete, false}} {
		It("garbage-collects the children and follows pvcRetentionPolicy "+string(tc.policy), func(ctx SpecContext) {
			ns := newNamespace(ctx, "e2e-delete-"+map[bool]string{true: "retain", false: "delete"}[tc.keepsVolumes], nil)
			hi := sample(ctx, ns, func(hi *heimdallv1.HeimdallInstance) {
				fixedReplicas(1)(hi)
				hi.Spec.PVCRetentionPolicy = tc.policy
			})
			waitReady(ctx, hi)
			claims := claimUIDs(ctx, ns)
			Expect(claims).To(HaveLen(2), "PostgreSQL and Redis volumes, bound by kwok's provisioner")
			var pvcs corev1.PersistentVolumeClaimList
			Expect(k8s.List(ctx, &pvcs, client.InNamespace(ns))).To(Succeed())
			for _, p := range pvcs.Items {
				Expect(p.Status.Phase).To(Equal(corev1.ClaimBound), p.Name)
			}
			Expect(owned(ctx, hi)).To(HaveKey("Deployment"))

			kubectl(ctx, "delete", "-n", ns, "hdi/heimdall", "--wait=true")
			// The real garbage collector removes every child through its owner reference.
			Eventually(func() map[string]int { return owned(ctx, hi) }).Should(BeEmpty())

			var secrets corev1.SecretList
			Expect(k8s.List(ctx, &secrets, client.InNamespace(ns), client.MatchingLabels(instanceLabels(hi)))).To(Succeed())
			if tc.keepsVolumes {
				Consistently(func() []types.UID { return claimUIDs(ctx, ns) }, 5*time.Second).Should(ConsistOf(claims))
				Expect(secrets.Items).To(HaveLen(4), "generated Secrets stay with the data they open")
			} else {
				Eventually(func() []types.UID { return claimUIDs(ctx, ns) }).Should(BeEmpty())
				Eventually(func() int {
					Expect(k8s.List(ctx, &secrets, client.InNamespace(ns), client.MatchingLabels(instanceLabels(hi)))).To(Succeed())
					return len(secrets.Items)
				}).Should(BeZero())
			}
		})
	}
})
