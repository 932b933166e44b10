package controllers

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	heimdallv1 "github.com/heimdall-io/heimdall-operator/api/v1alpha1"
)

// gauge finds the value of one series of a family, or nil.
func gauge(families []*dto.MetricFamily, name string, labels map[string]string) *float64 {
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
	series:
		for _, m := range f.GetMetric() {
			got := map[string]string{}
			for _, l := range m.GetLabel() {
				got[l.GetName()] = l.GetValue()
			}
			for k, v := range labels {
				if got[k] != v {
					continue series
				}
			}
			v := m.GetGauge().GetValue()
			return &v
		}
	}
	return nil
}

// This suite's cluster has no prometheus-operator CRDs: the "absent" half (see test/optionalcrds).
var _ = Describe("Monitoring", func() {
	var (
		ns string
		r  *HeimdallInstanceReconciler
	)
	BeforeEach(func() {
		ns = newNamespace()
		r, _ = directReconciler()
	})

	It("says prometheus-operator is missing and reconciles the rest of the instance", func() {
		hi := minimalInstance(ns, "mon")
		hi.Spec.Monitoring = &heimdallv1.MonitoringSpec{ServiceMonitor: &heimdallv1.ServiceMonitorSpec{Enabled: true},
			PrometheusRule: &heimdallv1.PrometheusRuleSpec{Enabled: true}}
		hi = createInstance(hi)
		res, err := r.Reconcile(ctx, reqFor(hi))
		Expect(err).NotTo(HaveOccurred())
		Expect(res.RequeueAfter).To(BeNumerically(">", 0))
		Expect(res.RequeueAfter).To(BeNumerically("<=", optionalAPIResync), "installing prometheus-operator later must heal the instance")
		Expect(get(ns, "mon", &appsv1.Deployment{})).NotTo(BeNil())

		hi = get(ns, "mon", &heimdallv1.HeimdallInstance{})
		Expect(condition(hi, ConditionMonitoringReady)).To(And(HaveField("Status", metav1.ConditionFalse),
			HaveField("Reason", ReasonPrometheusOperatorNotInstalled),
			HaveField("Message", And(ContainSubstring("ServiceMonitor"), ContainSubstring("PrometheusRule")))))
		Expect(condition(hi, ConditionDegraded)).To(HaveField("Status", metav1.ConditionFalse))

		updateSpec(hi, func(s *heimdallv1.HeimdallInstanceSpec) { s.Monitoring = nil })
		res, err = r.Reconcile(ctx, reqFor(hi))
		Expect(err).NotTo(HaveOccurred())
		Expect(res.RequeueAfter).To(BeZero(), "nothing optional is wanted any more")
		Expect(condition(get(ns, "mon", &heimdallv1.HeimdallInstance{}), ConditionMonitoringReady)).To(BeNil())
	})

	It("exports per-instance readiness and backup gauges from the status", func() {
		hi := createInstance(minimalInstance(ns, "gauged"))
		reconcileOnce(r, hi)
		reg := prometheus.NewPedanticRegistry()
		Expect(reg.Register(&instanceCollector{reader: k8s})).To(Succeed())
		labels := map[string]string{"namespace": ns, "name": "gauged"}

		families, err := reg.Gather()
		Expect(err).NotTo(HaveOccurred())
		Expect(gauge(families, "heimdall_instance_ready", labels)).To(HaveValue(BeEquivalentTo(0)))
		Expect(gauge(families, "heimdall_instance_component_ready", map[string]string{"namespace": ns, "name": "gauged", "component": "postgres"})).
			To(HaveValue(BeEquivalentTo(0)))

		markAllReady(hi)
		reconcileOnce(r, hi)
		families, err = reg.Gather()
		Expect(err).NotTo(HaveOccurred())
		Expect(gauge(families, "heimdall_instance_ready", labels)).To(HaveValue(BeEquivalentTo(1)))
		for _, c := range []string{"postgres", "redis", "fusionAuth", "server"} {
			Expect(gauge(families, "heimdall_instance_component_ready", map[string]string{"namespace": ns, "name": "gauged", "component": c})).
				To(HaveValue(BeEquivalentTo(1)), c)
		}

		Expect(gauge(families, "heimdall_instance_last_successful_backup_timestamp_seconds", labels)).To(BeNil(), "no backup yet")
		hi = get(ns, "gauged", &heimdallv1.HeimdallInstance{})
		done := metav1.NewTime(time.Date(2026, 12, 4, 2, 0, 30, 0, time.UTC))
		hi.Status.Backup = &heimdallv1.BackupStatus{LastSuccessfulTime: &done}
		Expect(k8s.Status().Update(ctx, hi)).To(Succeed())
		families, err = reg.Gather()
		Expect(err).NotTo(HaveOccurred())
		Expect(gauge(families, "heimdall_instance_last_successful_backup_timestamp_seconds", labels)).
			To(HaveValue(BeEquivalentTo(done.Unix())))

		Expect(k8s.Delete(ctx, hi)).To(Succeed())
		Eventually(func() *float64 {
			families, _ := reg.Gather()
			return gauge(families, "heimdall_instance_ready", labels)
		}).Should(BeNil(), "a deleted instance leaves no series behind")
	})

	It("serves the gauges on the manager's metrics endpoint", func() {
		hi := createInstance(minimalInstance(watchedNamespace, "scraped"))
		Eventually(func() *float64 {
			families, err := metrics.Registry.Gather()
			Expect(err).NotTo(HaveOccurred())
			return gauge(families, "heimdall_instance_ready", map[string]string{"namespace": watchedNamespace, "name": "scraped"})
		}).WithTimeout(20*time.Second).ShouldNot(BeNil(), "the suite's manager registered the collector in SetupWithManager")
		instanceMetrics.mu.RLock()
		current := instanceMetrics.reader // the suite manager's cache: keep it
		instanceMetrics.mu.RUnlock()
		Expect(registerInstanceMetrics(current)).To(Succeed(), "setting up another manager in the same process must not fail")
		Expect(k8s.Delete(ctx, hi)).To(Succeed())
	})
})
