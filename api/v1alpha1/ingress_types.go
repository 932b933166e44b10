package v1alpha1

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
