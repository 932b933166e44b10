package controllers

import (
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	heimdallv1 "github.com/heimdall-io/heimdall-operator/api/v1alpha1"
	"github.com/heimdall-io/heimdall-operator/controllers/resources"
)

// podTemplates returns every pod template among the desired children (Deployments,
// StatefulSets, Jobs, CronJobs), named by their owner.
func podTemplates(objs []client.Object) map[string]corev1.PodTemplateSpec {
	out := map[string]corev1.PodTemplateSpec{}
	for _, o := range objs {
		name := o.GetObjectKind().GroupVersionKind().Kind + "/" + o.GetName()
		switch t := o.(type) {
		case *appsv1.Deployment:
			out[name] = t.Spec.Template
		case *appsv1.StatefulSet:
			// The StatefulSet controller adds a volume per claim template to each pod.
			tpl := *t.Spec.Template.DeepCopy()
			for _, c := range t.Spec.VolumeClaimTemplates {
				tpl.Spec.Volumes = append(tpl.Spec.Volumes, corev1.Volume{Name: c.Name, VolumeSource: corev1.VolumeSource{
					PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: c.Name + "-" + t.Name + "-0"}}})
			}
			out[name] = tpl
		case *batchv1.Job:
			out[name] = t.Spec.Template
		case *batchv1.CronJob:
			out[name] = t.Spec.JobTemplate.Spec.Template
		}
	}
	return out
}

var _ = Describe("Hardening", func() {
	It("has every pod it renders admitted by the restricted Pod Security Standard", func() {
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "pss-", Labels: map[string]string{
			"pod-security.kubernetes.io/enforce":         "restricted",
			"pod-security.kubernetes.io/enforce-version": "latest",
		}}}
		Expect(k8s.Create(ctx, ns)).To(Succeed())

		// Every optional feature that renders pods, on; defaults from the API server.
		hi := minimalInstance(ns.Name, "pss")
		hi.Spec.FusionAuth = heimdallv1.FusionAuthSpec{Managed: &heimdallv1.ManagedFusionAuth{Replicas: 2}}
		hi.Spec.Backup = &heimdallv1.BackupSpec{Enabled: true}
		hi = createInstance(hi)
		objs := resources.Desired(hi, resources.Inputs{Images: testImage})
		objs = append(objs, resources.MigrationJob(hi, testImage)) // created by the upgrade flow, not listed in Desired
		templates := podTemplates(objs)
		Expect(templates).To(HaveKey("Deployment/pss"))
		Expect(templates).To(HaveKey("StatefulSet/pss-postgres"))
		Expect(templates).To(HaveKey("StatefulSet/pss-redis"))
		Expect(templates).To(HaveKey("Deployment/pss-fusionauth"))
		Expect(templates).To(HaveKey("CronJob/pss-backup"))
		Expect(templates).To(HaveKey("Job/" + resources.MigrationJobName(hi, hi.Spec.Version)))

		for owner, tpl := range templates {
			By("admitting the pod of " + owner)
			pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{GenerateName: "pss-", Namespace: ns.Name, Labels: tpl.Labels}, Spec: tpl.Spec}
			pod.Spec.ServiceAccountName = "" // the ServiceAccounts are not created here; PSS does not look at them
			Expect(k8s.Create(ctx, pod, client.DryRunAll)).To(Succeed(), owner)
		}

		By("refusing a pod that breaks the profile, so the check above has teeth")
		server := templates["Deployment/pss"]
		bad := server.DeepCopy()
		bad.Spec.Containers[0].SecurityContext.AllowPrivilegeEscalation = ptr.To(true)
		err := k8s.Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{GenerateName: "pss-", Namespace: ns.Name}, Spec: bad.Spec}, client.DryRunAll)
		Expect(apierrors.IsForbidden(err)).To(BeTrue(), "got %v", err)
		Expect(err.Error()).To(ContainSubstring("allowPrivilegeEscalation"))
	})

	It("creates a PodDisruptionBudget and NetworkPolicies by default and removes them when turned off", func() {
		ns := newNamespace()
		hi := createInstance(minimalInstance(ns, "guard"))
		Expect(hi.Spec.PodDisruptionBudget).To(Equal(&heimdallv1.PodDisruptionBudgetSpec{Enabled: true, MaxUnavailable: hi.Spec.PodDisruptionBudget.MaxUnavailable}))
		Expect(hi.Spec.PodDisruptionBudget.MaxUnavailable.IntValue()).To(Equal(1))
		Expect(hi.Spec.NetworkPolicy.Enabled).To(BeTrue())
		r, _ := directReconciler()
		reconcileOnce(r, hi)

		pdb := get(ns, "guard", &policyv1.PodDisruptionBudget{})
		expectOwned(hi, pdb, "server")
		Expect(pdb.Spec.MaxUnavailable.IntValue()).To(Equal(1))
		Expect(apierrors.IsNotFound(k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "guard-fusionauth"}, &policyv1.PodDisruptionBudget{}))).
			To(BeTrue(), "a single FusionAuth replica gets no budget")
		for _, name := range []string{"guard", "guard-postgres", "guard-redis", "guard-fusionauth"} {
			np := get(ns, name, &networkingv1.NetworkPolicy{})
			Expect(np.Spec.PolicyTypes).To(ConsistOf(networkingv1.PolicyTypeIngress))
		}

		updateSpec(hi, func(s *heimdallv1.HeimdallInstanceSpec) {
			s.PodDisruptionBudget.Enabled = false
			s.NetworkPolicy.Enabled = false
		})
		reconcileOnce(r, hi)
		Expect(apierrors.IsNotFound(k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "guard"}, &policyv1.PodDisruptionBudget{}))).To(BeTrue())
		var nps networkingv1.NetworkPolicyList
		Expect(k8s.List(ctx, &nps, client.InNamespace(ns))).To(Succeed())
		Expect(nps.Items).To(BeEmpty())
	})

	It("refuses a PodDisruptionBudget that would allow no disruption", func() {
		hi := minimalInstance(newNamespace(), "zero")
		hi.Spec.PodDisruptionBudget = &heimdallv1.PodDisruptionBudgetSpec{Enabled: true, MaxUnavailable: ptr.To(intstr.FromInt32(0))}
		err := k8s.Create(ctx, hi)
		Expect(err).To(MatchError(ContainSubstring("spec.podDisruptionBudget.maxUnavailable")))
	})
})

var _ = Describe("Autoscaling hand-off", func() {
	It("keeps the replica count when autoscaling is switched on, then leaves replicas to the HPA", func() {
		ns := newNamespace()
		hi := minimalInstance(ns, "handoff")
		hi.Spec.Replicas = ptr.To[int32](5)
		hi.Spec.Autoscaling = &heimdallv1.AutoscalingSpec{Enabled: false, MinReplicas: 3, MaxReplicas: 10, TargetCPUUtilizationPercentage: 70, TargetMemoryUtilizationPercentage: 80}
		hi = createInstance(hi)
		r, _ := directReconciler()
		reconcileOnce(r, hi)
		Expect(get(ns, "handoff", &appsv1.Deployment{}).Spec.Replicas).To(HaveValue(BeEquivalentTo(5)))

		By("switching autoscaling on: the Deployment keeps its 5 pods instead of falling back to 1")
		updateSpec(hi, func(s *heimdallv1.HeimdallInstanceSpec) { s.Autoscaling.Enabled = true })
		reconcileOnce(r, hi)
		get(ns, "handoff", &autoscalingv2.HorizontalPodAutoscaler{})
		d := get(ns, "handoff", &appsv1.Deployment{})
		Expect(d.Spec.Replicas).To(HaveValue(BeEquivalentTo(5)))
		Expect(soleReplicasOwner(d)).To(BeTrue())

		By("the HPA scaling through /scale takes the field over; the operator then leaves it alone")
		scale := &autoscalingv1.Scale{}
		Expect(k8s.SubResource("scale").Get(ctx, d, scale)).To(Succeed())
		scale.Spec.Replicas = 8
		Expect(k8s.SubResource("scale").Update(ctx, d, client.WithSubResourceBody(scale), client.FieldOwner("horizontal-pod-autoscaler"))).To(Succeed())
		reconcileOnce(r, hi)
		reconcileOnce(r, hi)
		d = get(ns, "handoff", &appsv1.Deployment{})
		Expect(d.Spec.Replicas).To(HaveValue(BeEquivalentTo(8)))
		Expect(soleReplicasOwner(d)).To(BeFalse())

		By("a fresh instance with autoscaling starts at minReplicas, not 1")
		fresh := createInstance(minimalInstance(ns, "fresh"))
		reconcileOnce(r, fresh)
		Expect(get(ns, "fresh", &appsv1.Deployment{}).Spec.Replicas).To(HaveValue(BeEquivalentTo(3)))
	})
})
