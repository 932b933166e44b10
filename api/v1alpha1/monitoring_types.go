package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// MonitoringSpec configures Prometheus scraping of the server.
type MonitoringSpec struct {
	// ServiceMonitor creates a prometheus-operator ServiceMonitor when its CRD is installed.
	// +optional
	ServiceMonitor *ServiceMonitorSpec `json:"serviceMonitor,omitempty"`
}

// ServiceMonitorSpec configures the ServiceMonitor.
type ServiceMonitorSpec struct {
	// Enabled creates the ServiceMonitor.
	// +kubebuilder:default=true
	// +optional
	Enabled bool `json:"enabled"`

	// Interval between scrapes.
	// +kubebuilder:default="30s"
	// +optional
	Interval metav1.Duration `json:"interval,omitzero"`
}
