package optionalcrds

import (
	"os"
	"path/filepath"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	heimdallv1 "github.com/heimdall-io/heimdall-operator/api/v1alpha1"
	"github.com/heimdall-io/heimdall-operator/controllers"
	"github.com/heimdall-io/heimdall-operator/controllers/resources"
)

func condition(ns, name, t string) *metav1.Condition {
	GinkgoHelper()
	return meta.FindStatusCondition(get(ns, name, &heimdallv1.HeimdallInstance{}).Status.Conditions, t)
}

func certificate(ns, name string) *unstructured.Unstructured {
	GinkgoHelper()
	c := &unstructured.Unstructured{}
	c.SetGroupVersionKind(resources.CertificateGVK)
	Expect(k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, c)).To(Succeed())
	return c
}

// issue writes the Ready condition cert-manager writes once the certificate is in its Secret.
func issue(c *unstructured.Unstructured) {
	GinkgoHelper()
	Expect(unstructured.SetNestedSlice(c.Object, []any{map[string]any{
		"type": "Ready", "status": "True", "reason": "Ready", "message": "Certificate is up to date and has not expired",
		"lastTransitionTime": metav1.Now().UTC().Format("2006-01-02T15:04:05Z"),
	}}, "status", "conditions")).To(Succeed())
	Expect(k8s.Status().Update(ctx, c)).To(Succeed())
}

func notFound(ns, name string, obj client.Object) bool {
	return apierrors.IsNotFound(k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, obj))
}

var _ = Describe("Optional CRDs", Ordered, func() {
	var (
		ns string
		hi *heimdallv1.HeimdallInstance
		r  *controllers.HeimdallInstanceReconciler
		n  interface{ Load() int64 }
	)
	BeforeAll(func() {
		ns = newNamespace()
		rec, counter := reconciler()
		r, n = rec, counter
		hi = &heimdallv1.HeimdallInstance{
			ObjectMeta: metav1.ObjectMeta{Name: "heal", Namespace: ns},
			Spec: heimdallv1.HeimdallInstanceSpec{Version: "1.4.0",
				Ingress: &heimdallv1.IngressSpec{Host: "api.example.com",
					TLS: &heimdallv1.IngressTLSSpec{ClusterIssuer: "letsencrypt-prod", Certificate: true}},
				Monitoring: &heimdallv1.MonitoringSpec{Labels: map[string]string{"release": "prometheus"},
					ServiceMonitor: &heimdallv1.ServiceMonitorSpec{Enabled: true, Interval: metav1.Duration{Duration: 30 * time.Second}},
					PrometheusRule: &heimdallv1.PrometheusRuleSpec{Enabled: true}}},
		}
		Expect(k8s.Create(ctx, hi)).To(Succeed())
	})

	It("degrades clearly while the CRDs are missing", func() {
		res := reconcile(r, hi)
		Expect(res.RequeueAfter).To(BeNumerically(">", 0), "a resync finds CRDs installed later")
		Expect(condition(ns, "heal", controllers.ConditionTLSReady)).To(And(
			HaveField("Status", metav1.ConditionFalse), HaveField("Reason", controllers.ReasonCertManagerNotInstalled)))
		Expect(condition(ns, "heal", controllers.ConditionMonitoringReady)).To(And(
			HaveField("Status", metav1.ConditionFalse), HaveField("Reason", controllers.ReasonPrometheusOperatorNotInstalled)))
		Expect(condition(ns, "heal", controllers.ConditionDegraded)).To(HaveField("Status", metav1.ConditionFalse))
		Expect(get(ns, "heal", &networkingv1.Ingress{}).Spec.TLS).To(HaveLen(1))
	})

	It("heals once cert-manager and prometheus-operator are installed, with no spec change", func() {
		installOptionalCRDs()
		res := reconcile(r, hi) // what the RequeueAfter above schedules
		Expect(res.RequeueAfter).To(BeNumerically(">", 0), "the certificate is not issued yet")

		c := certificate(ns, "heal")
		Expect(metav1.IsControlledBy(c, get(ns, "heal", &heimdallv1.HeimdallInstance{}))).To(BeTrue())
		Expect(c.Object["spec"]).To(Equal(map[string]any{
			"secretName": "heal-tls",
			"dnsNames":   []any{"api.example.com"},
			"issuerRef":  map[string]any{"name": "letsencrypt-prod", "kind": "ClusterIssuer", "group": "cert-manager.io"},
		}))
		// With an explicit Certificate, ingress-shim must not issue a second one.
		Expect(get(ns, "heal", &networkingv1.Ingress{}).Annotations).NotTo(HaveKey(resources.CertManagerClusterIssuerAnnotation))
		Expect(condition(ns, "heal", controllers.ConditionTLSReady)).To(And(
			HaveField("Status", metav1.ConditionFalse), HaveField("Reason", controllers.ReasonCertificateNotReady)))

		sm := get(ns, "heal", &monitoringv1.ServiceMonitor{})
		Expect(sm.Labels).To(HaveKeyWithValue("release", "prometheus"))
		Expect(sm.Spec.Endpoints).To(Equal([]monitoringv1.Endpoint{{Port: "http", Path: "/metrics", Interval: "30s"}}))
		Expect(sm.Spec.Selector.MatchLabels).To(Equal(map[string]string{"app.kubernetes.io/name": "heimdall",
			"app.kubernetes.io/instance": "heal", "app.kubernetes.io/component": "server"}))
		svc := get(ns, "heal", &corev1.Service{})
		for k, v := range sm.Spec.Selector.MatchLabels {
			Expect(svc.Labels).To(HaveKeyWithValue(k, v), "the ServiceMonitor selects the server Service")
		}
		Expect(svc.Spec.Ports).To(ContainElement(HaveField("Name", "http")))

		pr := get(ns, "heal", &monitoringv1.PrometheusRule{})
		var alerts []string
		for _, rule := range pr.Spec.Groups[0].Rules {
			alerts = append(alerts, rule.Alert)
		}
		Expect(alerts).To(ConsistOf("HeimdallHighLoginFailureRatio", "HeimdallHigh5xxRate", "HeimdallHighLatencyP99", "HeimdallInstanceNotReady"))
		Expect(condition(ns, "heal", controllers.ConditionMonitoringReady)).To(And(
			HaveField("Status", metav1.ConditionTrue), HaveField("Message", "ServiceMonitor and PrometheusRule in place")))

		issue(c)
		res = reconcile(r, hi)
		Expect(condition(ns, "heal", controllers.ConditionTLSReady)).To(And(
			HaveField("Status", metav1.ConditionTrue), HaveField("Reason", controllers.ReasonCertificateReady)))
		Expect(res.RequeueAfter).To(BeZero(), "nothing left to wait for")
	})

	It("makes zero writes when idle with every optional object in place", func() {
		reconcile(r, hi)
		before := n.Load()
		for range 3 {
			reconcile(r, hi)
		}
		Expect(n.Load()).To(Equal(before), "an idle reconcile must not send a single mutating request")
	})

	It("puts back an edited ServiceMonitor and Certificate", func() {
		sm := get(ns, "heal", &monitoringv1.ServiceMonitor{})
		sm.Spec.Endpoints[0].Interval = "5m"
		Expect(k8s.Update(ctx, sm)).To(Succeed())
		c := certificate(ns, "heal")
		Expect(unstructured.SetNestedStringSlice(c.Object, []string{"evil.example.com"}, "spec", "dnsNames")).To(Succeed())
		Expect(k8s.Update(ctx, c)).To(Succeed())

		reconcile(r, hi)
		Expect(get(ns, "heal", &monitoringv1.ServiceMonitor{}).Spec.Endpoints[0].Interval).To(BeEquivalentTo("30s"))
		dns, _, _ := unstructured.NestedStringSlice(certificate(ns, "heal").Object, "spec", "dnsNames")
		Expect(dns).To(Equal([]string{"api.example.com"}))
	})

	It("removes each optional object when its feature is turned off", func() {
		updateSpec(hi, func(s *heimdallv1.HeimdallInstanceSpec) { s.Ingress.TLS.Certificate = false })
		reconcile(r, hi)
		Expect(notFound(ns, "heal", certificate0())).To(BeTrue(), "the operator's Certificate goes; ingress-shim takes over")
		Expect(get(ns, "heal", &networkingv1.Ingress{}).Annotations).To(HaveKeyWithValue(resources.CertManagerClusterIssuerAnnotation, "letsencrypt-prod"))

		updateSpec(hi, func(s *heimdallv1.HeimdallInstanceSpec) { s.Monitoring.PrometheusRule.Enabled = false })
		reconcile(r, hi)
		Expect(notFound(ns, "heal", &monitoringv1.PrometheusRule{})).To(BeTrue())
		Expect(get(ns, "heal", &monitoringv1.ServiceMonitor{})).NotTo(BeNil())
		Expect(condition(ns, "heal", controllers.ConditionMonitoringReady)).To(HaveField("Message", "ServiceMonitor in place"))

		updateSpec(hi, func(s *heimdallv1.HeimdallInstanceSpec) {
			s.Monitoring = nil
			s.Ingress = nil
			s.Issuer = "https://auth.example.com"
		})
		reconcile(r, hi)
		Expect(notFound(ns, "heal", &monitoringv1.ServiceMonitor{})).To(BeTrue())
		Expect(notFound(ns, "heal", &networkingv1.Ingress{})).To(BeTrue())
		Expect(condition(ns, "heal", controllers.ConditionMonitoringReady)).To(BeNil())
		Expect(condition(ns, "heal", controllers.ConditionTLSReady)).To(BeNil())
	})

	It("reports the Certificate ingress-shim creates for an annotated Ingress", func() {
		shim := &heimdallv1.HeimdallInstance{
			ObjectMeta: metav1.ObjectMeta{Name: "shim", Namespace: ns},
			Spec: heimdallv1.HeimdallInstanceSpec{Version: "1.4.0",
				Ingress: &heimdallv1.IngressSpec{Host: "shim.example.com", TLS: &heimdallv1.IngressTLSSpec{Issuer: "ca", SecretName: "shim-cert"}}},
		}
		Expect(k8s.Create(ctx, shim)).To(Succeed())
		reconcile(r, shim)
		Expect(get(ns, "shim", &networkingv1.Ingress{}).Annotations).To(HaveKeyWithValue(resources.CertManagerIssuerAnnotation, "ca"))
		Expect(notFound(ns, "shim", certificate0())).To(BeTrue(), "ingress-shim, not the operator, creates this one")
		Expect(condition(ns, "shim", controllers.ConditionTLSReady)).To(And(HaveField("Status", metav1.ConditionFalse),
			HaveField("Message", ContainSubstring("waiting for cert-manager to create Certificate shim-cert"))))

		// ingress-shim names the Certificate after the Ingress' TLS Secret.
		c := certificate0()
		c.SetNamespace(ns)
		c.SetName("shim-cert")
		Expect(unstructured.SetNestedField(c.Object, map[string]any{"secretName": "shim-cert", "dnsNames": []any{"shim.example.com"},
			"issuerRef": map[string]any{"name": "ca", "kind": "Issuer"}}, "spec")).To(Succeed())
		Expect(k8s.Create(ctx, c)).To(Succeed())
		issue(c)
		reconcile(r, shim)
		Expect(condition(ns, "shim", controllers.ConditionTLSReady)).To(And(
			HaveField("Status", metav1.ConditionTrue), HaveField("Reason", controllers.ReasonCertificateReady)))
	})

	It("reconciles the every-feature production sample to its Ingress, ServiceMonitor and PrometheusRule", func() {
		b, err := os.ReadFile(filepath.Join("..", "..", "config", "samples", "heimdall_v1alpha1_heimdallinstance_production.yaml"))
		Expect(err).NotTo(HaveOccurred())
		u := &unstructured.Unstructured{}
		Expect(yaml.Unmarshal(b, &u.Object)).To(Succeed())
		u.SetNamespace(ns)
		Expect(k8s.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "heimdall-smtp", Namespace: ns},
			StringData: map[string]string{"username": "heimdall", "password": "p"}})).To(Succeed())
		Expect(k8s.Create(ctx, u)).To(Succeed())
		sample := get(ns, u.GetName(), &heimdallv1.HeimdallInstance{})
		// Other features may ask for another loop first (ErrNextLoop): reconcile as the manager would.
		Eventually(func(g Gomega) {
			_, err := r.Reconcile(ctx, ctrl.Request{NamespacedName: client.ObjectKeyFromObject(sample)})
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(sample), &networkingv1.Ingress{})).To(Succeed())
			g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(sample), &monitoringv1.PrometheusRule{})).To(Succeed())
		}).WithTimeout(20 * time.Second).Should(Succeed())

		ing := get(ns, sample.Name, &networkingv1.Ingress{})
		Expect(ing.Spec.Rules[0].Host).To(Equal(sample.Spec.Ingress.Host))
		Expect(ing.Annotations).To(HaveKeyWithValue(resources.CertManagerClusterIssuerAnnotation, sample.Spec.Ingress.TLS.ClusterIssuer))
		Expect(get(ns, sample.Name, &monitoringv1.ServiceMonitor{}).Spec.Endpoints[0].Path).To(Equal("/metrics"))
		Expect(get(ns, sample.Name, &monitoringv1.PrometheusRule{}).Spec.Groups).To(HaveLen(1))
		Expect(condition(ns, sample.Name, controllers.ConditionMonitoringReady)).To(HaveField("Status", metav1.ConditionTrue))
		Expect(condition(ns, sample.Name, controllers.ConditionTLSReady)).To(HaveField("Reason", controllers.ReasonCertificateNotReady))
	})
})

// certificate0 is an empty Certificate to read into or name.
func certificate0() *unstructured.Unstructured {
	c := &unstructured.Unstructured{}
	c.SetGroupVersionKind(resources.CertificateGVK)
	return c
}
