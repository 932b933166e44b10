package controllers

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	heimdallv1 "github.com/heimdall-io/heimdall-operator/api/v1alpha1"
)

// This suite's cluster has no cert-manager: the "absent" half of the optional-CRD tests. The
// "present" half is test/optionalcrds.
var _ = Describe("Ingress and TLS", func() {
	var (
		ns string
		r  *HeimdallInstanceReconciler
		w  *writeCounter
	)
	BeforeEach(func() {
		ns = newNamespace()
		r, w = directReconciler()
	})

	ingressInstance := func(name string, tls *heimdallv1.IngressTLSSpec) *heimdallv1.HeimdallInstance {
		hi := minimalInstance(ns, name)
		hi.Spec.Issuer = "" // follows the public host
		hi.Spec.Ingress = &heimdallv1.IngressSpec{Host: "api.example.com", TLS: tls}
		return createInstance(hi)
	}

	It("exposes the server as the seed does and says cert-manager is missing, without failing the instance", func() {
		hi := ingressInstance("web", &heimdallv1.IngressTLSSpec{ClusterIssuer: "letsencrypt-prod"})
		Expect(hi.Spec.Ingress.ClassName).To(Equal("nginx"))
		Expect(hi.Spec.Ingress.Path).To(Equal("/"))

		res, err := r.Reconcile(ctx, reqFor(hi))
		Expect(err).NotTo(HaveOccurred())
		Expect(res.RequeueAfter).To(BeNumerically(">", 0))
		Expect(res.RequeueAfter).To(BeNumerically("<=", optionalAPIResync), "installing cert-manager later must heal the instance")

		ing := get(ns, "web", &networkingv1.Ingress{})
		expectOwned(hi, ing, "server")
		Expect(ing.Spec.IngressClassName).To(HaveValue(Equal("nginx")))
		Expect(ing.Annotations).To(Equal(map[string]string{
			"cert-manager.io/cluster-issuer":           "letsencrypt-prod",
			"nginx.ingress.kubernetes.io/ssl-redirect": "true",
			"nginx.ingress.kubernetes.io/rate-limit":   "100",
			"heimdall.io/applied-hash":                 ing.Annotations["heimdall.io/applied-hash"],
		}))
		Expect(ing.Spec.TLS).To(Equal([]networkingv1.IngressTLS{{Hosts: []string{"api.example.com"}, SecretName: "web-tls"}}))
		Expect(ing.Spec.Rules).To(HaveLen(1))
		path := ing.Spec.Rules[0].HTTP.Paths[0]
		Expect(path.Path).To(Equal("/"))
		Expect(path.PathType).To(HaveValue(Equal(networkingv1.PathTypePrefix)))
		Expect(path.Backend.Service.Name).To(Equal("web"))
		Expect(path.Backend.Service.Port.Name).To(Equal("http"))
		Expect(get(ns, "web", &corev1.Service{}).Spec.Ports).To(ContainElement(HaveField("Name", "http")))

		// The issuer follows the public host, so tokens and discovery name what clients reach.
		d := get(ns, "web", &appsv1.Deployment{})
		Expect(envMap(d.Spec.Template.Spec.Containers[0].Env)).To(HaveKeyWithValue("JWT_ISSUER", "https://api.example.com"))

		hi = get(ns, "web", &heimdallv1.HeimdallInstance{})
		Expect(condition(hi, ConditionTLSReady)).To(And(HaveField("Status", metav1.ConditionFalse),
			HaveField("Reason", ReasonCertManagerNotInstalled), HaveField("ObservedGeneration", hi.Generation)))
		Expect(condition(hi, ConditionDegraded)).To(HaveField("Status", metav1.ConditionFalse))
	})

	It("lets spec annotations override the defaults key by key and an explicit issuer win", func() {
		hi := minimalInstance(ns, "custom")
		hi.Spec.Ingress = &heimdallv1.IngressSpec{Host: "login.example.com", ClassName: "traefik", Path: "/v1",
			Annotations: map[string]string{"nginx.ingress.kubernetes.io/ssl-redirect": "false", "team": "auth"}}
		hi = createInstance(hi)
		reconcileOnce(r, hi)
		ing := get(ns, "custom", &networkingv1.Ingress{})
		Expect(ing.Annotations).To(HaveKeyWithValue("nginx.ingress.kubernetes.io/ssl-redirect", "false"))
		Expect(ing.Annotations).To(HaveKeyWithValue("nginx.ingress.kubernetes.io/rate-limit", "100"))
		Expect(ing.Annotations).To(HaveKeyWithValue("team", "auth"))
		Expect(ing.Spec.IngressClassName).To(HaveValue(Equal("traefik")))
		Expect(ing.Spec.Rules[0].HTTP.Paths[0].Path).To(Equal("/v1"))
		Expect(ing.Spec.TLS).To(BeEmpty())
		Expect(envMap(get(ns, "custom", &appsv1.Deployment{}).Spec.Template.Spec.Containers[0].Env)).
			To(HaveKeyWithValue("JWT_ISSUER", "https://auth.example.com"))
		Expect(condition(get(ns, "custom", &heimdallv1.HeimdallInstance{}), ConditionTLSReady)).To(BeNil(), "no TLS asked for")
	})

	It("serves an existing TLS Secret and reports it missing until it appears", func() {
		hi := ingressInstance("own", &heimdallv1.IngressTLSSpec{SecretName: "own-cert"})
		res, err := r.Reconcile(ctx, reqFor(hi))
		Expect(err).NotTo(HaveOccurred())
		Expect(res.RequeueAfter).To(BeNumerically(">", 0))
		Expect(get(ns, "own", &networkingv1.Ingress{}).Spec.TLS[0].SecretName).To(Equal("own-cert"))
		Expect(get(ns, "own", &networkingv1.Ingress{}).Annotations).NotTo(HaveKey("cert-manager.io/cluster-issuer"))
		Expect(condition(get(ns, "own", &heimdallv1.HeimdallInstance{}), ConditionTLSReady)).To(And(
			HaveField("Status", metav1.ConditionFalse), HaveField("Reason", ReasonTLSSecretNotFound), HaveField("Message", ContainSubstring("own-cert"))))

		Expect(k8s.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "own-cert", Namespace: ns}, Type: corev1.SecretTypeTLS,
			Data: map[string][]byte{"tls.crt": []byte("cert"), "tls.key": []byte("key")}})).To(Succeed())
		reconcileOnce(r, hi)
		Expect(condition(get(ns, "own", &heimdallv1.HeimdallInstance{}), ConditionTLSReady)).To(And(
			HaveField("Status", metav1.ConditionTrue), HaveField("Reason", ReasonTLSSecretFound)))
	})

	It("makes zero writes when idle while cert-manager and prometheus-operator are missing", func() {
		hi := minimalInstance(ns, "idle")
		hi.Spec.Ingress = &heimdallv1.IngressSpec{Host: "api.example.com", TLS: &heimdallv1.IngressTLSSpec{Issuer: "ca", Certificate: true}}
		hi.Spec.Monitoring = &heimdallv1.MonitoringSpec{ServiceMonitor: &heimdallv1.ServiceMonitorSpec{Enabled: true},
			PrometheusRule: &heimdallv1.PrometheusRuleSpec{Enabled: true}}
		hi = createInstance(hi)
		reconcileOnce(r, hi)
		markAllReady(hi)
		reconcileOnce(r, hi)
		before := w.Load()
		for range 3 {
			reconcileOnce(r, hi)
		}
		Expect(w.Load()).To(Equal(before), "an idle reconcile must not send a single mutating request")
		hi = get(ns, "idle", &heimdallv1.HeimdallInstance{})
		Expect(condition(hi, ConditionReady)).To(HaveField("Status", metav1.ConditionTrue), "missing optional CRDs do not make the instance unready")
		Expect(condition(hi, ConditionTLSReady)).To(HaveField("Reason", ReasonCertManagerNotInstalled))
		Expect(condition(hi, ConditionMonitoringReady)).To(HaveField("Reason", ReasonPrometheusOperatorNotInstalled))
	})

	It("removes the Ingress and TLSReady when spec.ingress is removed", func() {
		hi := ingressInstance("gone", &heimdallv1.IngressTLSSpec{ClusterIssuer: "le"})
		reconcileOnce(r, hi)
		Expect(get(ns, "gone", &networkingv1.Ingress{})).NotTo(BeNil())
		updateSpec(hi, func(s *heimdallv1.HeimdallInstanceSpec) {
			s.Ingress = nil
			s.Issuer = "https://auth.example.com"
		})
		reconcileOnce(r, hi)
		Expect(apierrors.IsNotFound(k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "gone"}, &networkingv1.Ingress{}))).To(BeTrue())
		Expect(condition(get(ns, "gone", &heimdallv1.HeimdallInstance{}), ConditionTLSReady)).To(BeNil())
	})

	DescribeTable("refuses invalid ingress and issuer settings with a message naming the field",
		func(mutate func(*heimdallv1.HeimdallInstance), want string) {
			hi := minimalInstance(ns, "invalid")
			mutate(hi)
			err := k8s.Create(ctx, hi)
			Expect(err).To(HaveOccurred())
			Expect(err.Error()).To(ContainSubstring(want))
		},
		Entry("both issuers", func(hi *heimdallv1.HeimdallInstance) {
			hi.Spec.Ingress = &heimdallv1.IngressSpec{Host: "a.example.com", TLS: &heimdallv1.IngressTLSSpec{Issuer: "ca", ClusterIssuer: "le"}}
		}, "spec.ingress.tls: set at most one of clusterIssuer and issuer"),
		Entry("empty tls", func(hi *heimdallv1.HeimdallInstance) {
			hi.Spec.Ingress = &heimdallv1.IngressSpec{Host: "a.example.com", TLS: &heimdallv1.IngressTLSSpec{}}
		}, "spec.ingress.tls: set secretName, clusterIssuer or issuer"),
		Entry("certificate without an issuer", func(hi *heimdallv1.HeimdallInstance) {
			hi.Spec.Ingress = &heimdallv1.IngressSpec{Host: "a.example.com", TLS: &heimdallv1.IngressTLSSpec{SecretName: "s", Certificate: true}}
		}, "spec.ingress.tls.certificate needs clusterIssuer or issuer"),
		Entry("host not a DNS name", func(hi *heimdallv1.HeimdallInstance) {
			hi.Spec.Ingress = &heimdallv1.IngressSpec{Host: "API.example.com/x"}
		}, "spec.ingress.host"),
		Entry("relative path", func(hi *heimdallv1.HeimdallInstance) {
			hi.Spec.Ingress = &heimdallv1.IngressSpec{Host: "a.example.com", Path: "v1"}
		}, "spec.ingress.path"),
		Entry("no issuer and no ingress", func(hi *heimdallv1.HeimdallInstance) { hi.Spec.Issuer = "" },
			"spec.issuer is required unless spec.ingress sets a non-wildcard host served at path /"),
		Entry("no issuer and a wildcard host", func(hi *heimdallv1.HeimdallInstance) {
			hi.Spec.Issuer = ""
			hi.Spec.Ingress = &heimdallv1.IngressSpec{Host: "*.example.com"}
		}, "spec.issuer is required unless spec.ingress sets a non-wildcard host served at path /"),
		Entry("no issuer and a sub-path", func(hi *heimdallv1.HeimdallInstance) {
			hi.Spec.Issuer = ""
			hi.Spec.Ingress = &heimdallv1.IngressSpec{Host: "a.example.com", Path: "/auth"}
		}, "spec.issuer is required unless spec.ingress sets a non-wildcard host served at path /"),
		Entry("scrape interval under a second", func(hi *heimdallv1.HeimdallInstance) {
			hi.Spec.Monitoring = &heimdallv1.MonitoringSpec{ServiceMonitor: &heimdallv1.ServiceMonitorSpec{Enabled: true,
				Interval: metav1.Duration{Duration: 100 * time.Millisecond}}}
		}, "spec.monitoring.serviceMonitor.interval must be at least 1s"),
	)

	It("fills the ingress and monitoring defaults: nginx, /, 30s scrapes, both enabled", func() {
		Expect(k8s.Create(ctx, &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "heimdall.io/v1alpha1", "kind": "HeimdallInstance",
			"metadata": map[string]any{"name": "defaults", "namespace": ns},
			"spec": map[string]any{"version": "1.4.0",
				"ingress":    map[string]any{"host": "api.example.com", "tls": map[string]any{"clusterIssuer": "le"}},
				"monitoring": map[string]any{"serviceMonitor": map[string]any{}, "prometheusRule": map[string]any{}}},
		}})).To(Succeed())
		s := get(ns, "defaults", &heimdallv1.HeimdallInstance{}).Spec
		Expect(s.Ingress.ClassName).To(Equal("nginx"))
		Expect(s.Ingress.Path).To(Equal("/"))
		Expect(s.Ingress.TLS.Certificate).To(BeFalse())
		Expect(s.Monitoring.ServiceMonitor).To(Equal(&heimdallv1.ServiceMonitorSpec{Enabled: true, Interval: metav1.Duration{Duration: 30 * time.Second}}))
		Expect(s.Monitoring.PrometheusRule).To(Equal(&heimdallv1.PrometheusRuleSpec{Enabled: true}))
	})
})
