package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// AutoscalingSpec configures a HorizontalPodAutoscaler for the server.
// +kubebuilder:validation:XValidation:rule="self.minReplicas <= self.maxReplicas",message="spec.autoscaling.minReplicas must not exceed spec.autoscaling.maxReplicas"
type AutoscalingSpec struct {
	// Enabled turns the HorizontalPodAutoscaler on; while on, it owns the server's replica count.
	// +kubebuilder:default=true
	// +optional
	Enabled bool `json:"enabled"`

	// MinReplicas is the lower bound.
	// +kubebuilder:default=3
	// +kubebuilder:validation:Minimum=1
	// +optional
	MinReplicas int32 `json:"minReplicas,omitempty"`

	// MaxReplicas is the upper bound.
	// +kubebuilder:default=10
	// +kubebuilder:validation:Minimum=1
	// +optional
	MaxReplicas int32 `json:"maxReplicas,omitempty"`

	// TargetCPUUtilizationPercentage is the average CPU utilisation to keep.
	// +kubebuilder:default=70
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=100
	// +optional
	TargetCPUUtilizationPercentage int32 `json:"targetCPUUtilizationPercentage,omitempty"`

	// TargetMemoryUtilizationPercentage is the average memory utilisation to keep.
	// +kubebuilder:default=80
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=100
	// +optional
	TargetMemoryUtilizationPercentage int32 `json:"targetMemoryUtilizationPercentage,omitempty"`
}

// IngressSpec exposes the server through an Ingress.
// +kubebuilder:validation:XValidation:rule="!has(self.tls) || [has(self.tls.secretName), has(self.tls.clusterIssuer), has(self.tls.issuer)].filter(x, x).size() <= 1",message="spec.ingress.tls: set at most one of secretName, clusterIssuer, issuer"
type IngressSpec struct {
	// Host is the public host name, e.g. api.heimdall.example.com.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`
	// +required
	Host string `json:"host"`

	// ClassName is the IngressClass.
	// +kubebuilder:default=nginx
	// +optional
	ClassName string `json:"className,omitempty"`

	// Path routed to the server.
	// +kubebuilder:default="/"
	// +kubebuilder:validation:Pattern=`^/`
	// +optional
	Path string `json:"path,omitempty"`

	// Annotations added to the Ingress; they override the operator's defaults (ssl-redirect,
	// rate-limit) key by key.
	// +optional
	Annotations map[string]string `json:"annotations,omitempty"`

	// TLS configures HTTPS.
	// +optional
	TLS *IngressTLSSpec `json:"tls,omitempty"`
}

// IngressTLSSpec chooses where the certificate comes from.
type IngressTLSSpec struct {
	// SecretName of an existing TLS Secret.
	// +optional
	SecretName string `json:"secretName,omitempty"`

	// ClusterIssuer asks cert-manager for a certificate from this ClusterIssuer.
	// +optional
	ClusterIssuer string `json:"clusterIssuer,omitempty"`

	// Issuer asks cert-manager for a certificate from this namespaced Issuer.
	// +optional
	Issuer string `json:"issuer,omitempty"`
}

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

// BackupSpec configures scheduled pg_dump backups of the Heimdall database.
type BackupSpec struct {
	// Enabled schedules the backups.
	// +kubebuilder:default=true
	// +optional
	Enabled bool `json:"enabled"`

	// Schedule in cron format.
	// +kubebuilder:default="0 2 * * *"
	// +kubebuilder:validation:MinLength=9
	// +optional
	Schedule string `json:"schedule,omitempty"`

	// RetentionDays deletes dumps older than this many days.
	// +kubebuilder:default=30
	// +kubebuilder:validation:Minimum=1
	// +optional
	RetentionDays int32 `json:"retentionDays,omitempty"`

	// Storage of the backup volume.
	// +kubebuilder:default={size:"50Gi"}
	// +optional
	Storage StorageSpec `json:"storage,omitzero"`
}
