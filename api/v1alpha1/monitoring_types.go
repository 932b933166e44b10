package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// MonitoringSpec configures Prometheus scraping and alerting for the server through the
// prometheus-operator CRDs, used only when they are installed.
type MonitoringSpec struct {
	// Labels added to the ServiceMonitor and PrometheusRule, e.g. the ones a Prometheus'
	// serviceMonitorSelector and ruleSelector pick.
	// +optional
	Labels map[string]string `json:"labels,omitempty"`

	// ServiceMonitor creates a prometheus-operator ServiceMonitor when its CRD is installed.
	// +optional
	ServiceMonitor *ServiceMonitorSpec `json:"serviceMonitor,omitempty"`

	// PrometheusRule creates a prometheus-operator PrometheusRule with alerts on the server's
	// login failures, 5xx ratio and p99 latency and on the instance's readiness.
	// +optional
	PrometheusRule *PrometheusRuleSpec `json:"prometheusRule,omitempty"`
}

// ServiceMonitorSpec configures the ServiceMonitor.
type ServiceMonitorSpec struct {
	// Enabled creates the ServiceMonitor.
	// +kubebuilder:default=true
	// +optional
	Enabled bool `json:"enabled"`

	// Interval between scrapes.
	// +kubebuilder:default="30s"
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('1s')",message="spec.monitoring.serviceMonitor.interval must be at least 1s"
	// +optional
	Interval metav1.Duration `json:"interval,omitzero"`
}

// PrometheusRuleSpec configures the PrometheusRule.
type PrometheusRuleSpec struct {
	// Enabled creates the PrometheusRule.
	// +kubebuilder:default=true
	// +optional
	Enabled bool `json:"enabled"`
}
