//go:build e2e

package e2e

import (
	"strconv"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	heimdallv1 "github.com/heimdall-io/heimdall-operator/api/v1alpha1"
	"github.com/heimdall-io/heimdall-operator/controllers/resources"
)

// fixedReplicas turns autoscaling off so the instance owns the replica count.
func fixedReplicas(n int32) func(*heimdallv1.HeimdallInstance) {
	return func(hi *heimdallv1.HeimdallInstance) {
		hi.Spec.Replicas = ptr.To(n)
		hi.Spec.Autoscaling = &heimdallv1.AutoscalingSpec{Enabled: false}
	}
}

func serverDeployment(hi *heimdallv1.HeimdallInstance) *appsv1.Deployment {
	return &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: hi.Namespace, Name: resources.ServerName(hi)}}
}

// replicaOwners are the field managers owning a Deployment's spec.replicas.
func replicaOwners(d *appsv1.Deployment) []string {
	var owners []string
	for _, mf := range d.ManagedFields {
		if mf.FieldsV1 != nil && strings.Contains(string(mf.FieldsV1.Raw), `"f:replicas"`) {
			owners = append(owners, mf.Manager)
		}
	}
	return owners
}

var _ = Describe("Scenario 4: scale", func() {
	It("scales through the scale subresource, then hands replicas to the HPA without fighting it", func(ctx SpecContext) {
		ns := newNamespace(ctx, "e2e-scale", nil)
		hi := sample(ctx, ns, fixedReplicas(2))
		waitReady(ctx, hi)

		kubectl(ctx, "scale", "-n", ns, "hdi/heimdall", "--replicas=5")
		d := serverDeployment(hi)
		Eventually(get(ctx, d)).Should(HaveField("Status.ReadyReplicas", BeEquivalentTo(5)))
		Expect(*d.Spec.Replicas).To(BeEquivalentTo(5))
		waitReady(ctx, hi)
		Eventually(func() string {
			return kubectl(ctx, "get", "-n", ns, "hdi/heimdall", "--subresource=scale", "-o", "jsonpath={.status.replicas}")
		}).Should(Equal("5"))

		// Autoscaling on with a floor above the live count: the real HPA controller scales up to
		// 6; were the operator still applying spec.replicas, the Deployment would get 7.
		kubectl(ctx, "patch", "-n", ns, "hdi/heimdall", "--type=merge", "-p", `{"spec":{"replicas":7,"autoscaling":{"enabled":true,"minReplicas":6,"maxReplicas":8}}}`)
		hpa := &autoscalingv2.HorizontalPodAutoscaler{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: resources.ServerName(hi)}}
		Eventually(get(ctx, hpa)).Should(HaveField("Spec.MinReplicas", HaveValue(BeEquivalentTo(6))))
		Eventually(get(ctx, d)).Should(HaveField("Status.ReadyReplicas", BeEquivalentTo(6)))

		// spec.replicas no longer matters and the operator leaves the HPA's count alone.
		kubectl(ctx, "scale", "-n", ns, "hdi/heimdall", "--replicas=8")
		Consistently(get(ctx, d), 8*time.Second).Should(HaveField("Spec.Replicas", HaveValue(BeEquivalentTo(6))))
		Expect(replicaOwners(d)).NotTo(ContainElement(resources.FieldManager), "the operator must not own spec.replicas under an HPA")
		waitReady(ctx, hi)
	})
})

var _ = Describe("Scenario 5: configuration and secret changes", func() {
	It("rolls the server pods exactly once per change", func(ctx SpecContext) {
		ns := newNamespace(ctx, "e2e-rollout", nil)
		hi := sample(ctx, ns, fixedReplicas(2))
		waitReady(ctx, hi)
		d := serverDeployment(hi)
		Expect(k8s.Get(ctx, client.ObjectKeyFromObject(d), d)).To(Succeed())
		rev, err := strconv.Atoi(revision(d))
		Expect(err).NotTo(HaveOccurred())

		expectOneRollout := func(change func()) {
			GinkgoHelper()
			change()
			rev++
			Eventually(func(g Gomega) {
				g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(d), d)).To(Succeed())
				g.Expect(revision(d)).To(Equal(strconv.Itoa(rev)))
				g.Expect(d.Status.UpdatedReplicas).To(BeEquivalentTo(2))
				g.Expect(d.Status.Replicas).To(BeEquivalentTo(2))
			}).Should(Succeed())
			waitReady(ctx, hi)
			Consistently(func() string { _, _ = get(ctx, d)(); return revision(d) }, 5*time.Second).Should(Equal(strconv.Itoa(rev)))
			Expect(replicaSetsOf(ctx, d)).To(HaveLen(rev), "one ReplicaSet per rollout")
		}

		By("changing the access token lifetime")
		expectOneRollout(func() {
			kubectl(ctx, "patch", "-n", ns, "hdi/heimdall", "--type=merge", "-p", `{"spec":{"tokens":{"accessTokenLifetimeSeconds":600}}}`)
		})

		By("configuring SMTP with a credentials Secret")
		smtp := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "smtp"},
			StringData: map[string]string{"username": "mailer", "password": "first"}}
		Expect(k8s.Create(ctx, smtp)).To(Succeed())
		expectOneRollout(func() {
			kubectl(ctx, "patch", "-n", ns, "hdi/heimdall", "--type=merge", "-p", `{"spec":{"smtp":{"host":"smtp.example.com","credentialsSecretRef":{"name":"smtp"}}}}`)
		})

		By("rotating the SMTP password in the Secret")
		expectOneRollout(func() {
			kubectl(ctx, "patch", "-n", ns, "secret/smtp", "--type=merge", "-p", `{"stringData":{"password":"second"}}`)
		})
	})
})

var _ = Describe("Scenario 6: self-healing", func() {
	It("recreates deleted children and reports, never regenerates, a damaged generated Secret", func(ctx SpecContext) {
		ns := newNamespace(ctx, "e2e-heal", nil)
		hi := sample(ctx, ns, fixedReplicas(1))
		waitReady(ctx, hi)

		for _, obj := range []client.Object{
			&corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: resources.ServerName(hi)}},
			serverDeployment(hi),
			&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: resources.ComponentName(hi, resources.ComponentRedis)}},
		} {
			Expect(k8s.Get(ctx, client.ObjectKeyFromObject(obj), obj)).To(Succeed())
			old := obj.GetUID()
			kubectl(ctx, "delete", "-n", ns, kindOf(obj), obj.GetName(), "--wait=true")
			Eventually(func() (any, error) { o, err := get(ctx, obj)(); return o.GetUID(), err }).ShouldNot(Equal(old), "%s %s recreated", kindOf(obj), obj.GetName())
		}
		waitReady(ctx, hi)

		for _, damage := range []struct{ component, key string }{
			{resources.ComponentJWT, "private.pem"},   // the signing key live tokens were issued with
			{resources.ComponentPostgres, "password"}, // what the database was initialised with
		} {
			By("deleting " + damage.key + " from the generated " + damage.component + " Secret")
			s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: resources.ComponentName(hi, damage.component)}}
			Expect(k8s.Get(ctx, client.ObjectKeyFromObject(s), s)).To(Succeed())
			kept := s.DeepCopy().Data
			Expect(kept[damage.key]).NotTo(BeEmpty())
			kubectl(ctx, "patch", "-n", ns, "secret", s.Name, "--type=json", "-p", `[{"op":"remove","path":"/data/`+damage.key+`"}]`)
			Eventually(func(g Gomega) {
				g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(hi), hi)).To(Succeed())
				g.Expect(condition(hi, "Degraded")).To(And(HaveField("Status", metav1.ConditionTrue), HaveField("Reason", "SecretInvalid"), HaveField("Message", ContainSubstring(s.Name))))
				g.Expect(condition(hi, "Ready").Status).To(Equal(metav1.ConditionFalse))
			}).Should(Succeed())
			Consistently(func(g Gomega) {
				g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(s), s)).To(Succeed())
				g.Expect(s.Data).NotTo(HaveKey(damage.key), "damaged data must not be regenerated over live data")
				for k, v := range kept {
					if k != damage.key {
						g.Expect(s.Data[k]).To(Equal(v), "%s untouched", k)
					}
				}
			}, 4*time.Second).Should(Succeed())

			By("putting " + damage.key + " back")
			s.Data[damage.key] = kept[damage.key]
			Expect(k8s.Update(ctx, s)).To(Succeed())
			waitReady(ctx, hi)
			Expect(condition(hi, "Degraded").Status).To(Equal(metav1.ConditionFalse))
		}
	})
})

func kindOf(obj client.Object) string {
	switch obj.(type) {
	case *corev1.Service:
		return "service"
	case *corev1.Secret:
		return "secret"
	case *appsv1.Deployment:
		return "deployment"
	}
	return "unknown"
}
