package v1alpha1

// IngressSpec exposes the server through an Ingress.
type IngressSpec struct {
	// Host is the public host name, e.g. api.heimdall.example.com.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`
	// +required
	Host string `json:"host"`

	// ClassName is the IngressClass.
	// +kubebuilder:default=nginx
	// +kubebuilder:validation:MaxLength=253
	// +optional
	ClassName string `json:"className,omitempty"`

	// Path routed to the server (a prefix).
	// +kubebuilder:default="/"
	// +kubebuilder:validation:Pattern=`^/`
	// +kubebuilder:validation:MaxLength=1024
	// +optional
	Path string `json:"path,omitempty"`

	// Annotations added to the Ingress; they override the operator's defaults
	// (nginx.ingress.kubernetes.io/ssl-redirect "true", nginx.ingress.kubernetes.io/rate-limit
	// "100", as the deployment guide sets them) key by key.
	// +optional
	Annotations map[string]string `json:"annotations,omitempty"`

	// TLS configures HTTPS.
	// +optional
	TLS *IngressTLSSpec `json:"tls,omitempty"`
}

// IngressTLSSpec chooses where the certificate comes from: an existing Secret, or cert-manager
// (an issuer, and optionally an explicit Certificate object).
// +kubebuilder:validation:XValidation:rule="!(has(self.clusterIssuer) && has(self.issuer))",message="spec.ingress.tls: set at most one of clusterIssuer and issuer"
// +kubebuilder:validation:XValidation:rule="has(self.secretName) || has(self.clusterIssuer) || has(self.issuer)",message="spec.ingress.tls: set secretName, clusterIssuer or issuer"
// +kubebuilder:validation:XValidation:rule="!has(self.certificate) || !self.certificate || has(self.clusterIssuer) || has(self.issuer)",message="spec.ingress.tls.certificate needs clusterIssuer or issuer"
type IngressTLSSpec struct {
	// SecretName is the TLS Secret the Ingress serves. Without an issuer it must exist already;
	// with one, cert-manager writes the certificate into it. Defaults to <name>-tls.
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$`
	// +optional
	SecretName string `json:"secretName,omitempty"`

	// ClusterIssuer asks cert-manager for a certificate from this ClusterIssuer.
	// +kubebuilder:validation:MaxLength=253
	// +optional
	ClusterIssuer string `json:"clusterIssuer,omitempty"`

	// Issuer asks cert-manager for a certificate from this namespaced Issuer.
	// +kubebuilder:validation:MaxLength=253
	// +optional
	Issuer string `json:"issuer,omitempty"`

	// Certificate makes the operator create a cert-manager Certificate named after the instance
	// instead of annotating the Ingress for cert-manager's ingress-shim.
	// +optional
	Certificate bool `json:"certificate,omitempty"`
}
