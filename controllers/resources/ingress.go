package resources

import (
	"maps"

	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/utils/ptr"

	heimdallv1 "github.com/heimdall-io/heimdall-operator/api/v1alpha1"
)

// cert-manager annotations its ingress-shim reads to issue a certificate for an Ingress.
const (
	CertManagerClusterIssuerAnnotation = "cert-manager.io/cluster-issuer"
	CertManagerIssuerAnnotation        = "cert-manager.io/issuer"
)

// CertificateGVK is cert-manager's Certificate. cert-manager is not a Go dependency of the
// operator, so Certificates are built as unstructured objects.
var CertificateGVK = schema.GroupVersionKind{Group: "cert-manager.io", Version: "v1", Kind: "Certificate"}

// DefaultIngressAnnotations are the deployment guide's ingress-nginx settings; spec annotations
// override them key by key.
func DefaultIngressAnnotations() map[string]string {
	return map[string]string{
		"nginx.ingress.kubernetes.io/ssl-redirect": "true",
		"nginx.ingress.kubernetes.io/rate-limit":   "100",
	}
}

// Issuer is the JWT issuer: spec.issuer, or else the public URL of the Ingress (CEL makes sure
// one of them is there).
func Issuer(hi *heimdallv1.HeimdallInstance) string {
	if hi.Spec.Issuer != "" || hi.Spec.Ingress == nil {
		return hi.Spec.Issuer
	}
	return PublicURL(hi)
}

// PublicURL is the URL the Ingress serves the API at, or "" without an Ingress.
func PublicURL(hi *heimdallv1.HeimdallInstance) string {
	in := hi.Spec.Ingress
	if in == nil {
		return ""
	}
	scheme := "http://"
	if in.TLS != nil {
		scheme = "https://"
	}
	return scheme + in.Host
}

// TLSSecretName is the Secret the Ingress serves its certificate from: the user's, or
// <name>-tls that cert-manager fills.
func TLSSecretName(hi *heimdallv1.HeimdallInstance) string {
	if t := hi.Spec.Ingress.TLS; t != nil && t.SecretName != "" {
		return t.SecretName
	}
	return ComponentName(hi, "tls")
}

// UsesCertManager reports whether cert-manager provides the Ingress certificate.
func UsesCertManager(hi *heimdallv1.HeimdallInstance) bool {
	in := hi.Spec.Ingress
	return in != nil && in.TLS != nil && (in.TLS.ClusterIssuer != "" || in.TLS.Issuer != "")
}

// WantsCertificate reports whether the operator creates the cert-manager Certificate itself.
func WantsCertificate(hi *heimdallv1.HeimdallInstance) bool {
	return UsesCertManager(hi) && hi.Spec.Ingress.TLS.Certificate
}

// CertificateName is the Certificate whose Ready condition tells whether TLS works: the one the
// operator creates, or the one ingress-shim names after the TLS Secret.
func CertificateName(hi *heimdallv1.HeimdallInstance) string {
	if WantsCertificate(hi) {
		return ServerName(hi)
	}
	return TLSSecretName(hi)
}

// ServerIngress routes the public host to the server Service's http port, shaped after the
// seed's ingress.yaml.
func ServerIngress(hi *heimdallv1.HeimdallInstance) *networkingv1.Ingress {
	in := hi.Spec.Ingress
	annotations := DefaultIngressAnnotations()
	if t := in.TLS; t != nil && !t.Certificate {
		// Without an explicit Certificate, cert-manager's ingress-shim issues one from these.
		if t.ClusterIssuer != "" {
			annotations[CertManagerClusterIssuerAnnotation] = t.ClusterIssuer
		}
		if t.Issuer != "" {
			annotations[CertManagerIssuerAnnotation] = t.Issuer
		}
	}
	maps.Copy(annotations, in.Annotations)
	ing := &networkingv1.Ingress{
		TypeMeta: metav1.TypeMeta{APIVersion: "networking.k8s.io/v1", Kind: "Ingress"},
		ObjectMeta: metav1.ObjectMeta{Name: ServerName(hi), Namespace: hi.Namespace,
			Labels: Labels(hi, ComponentServer, ""), Annotations: annotations},
		Spec: networkingv1.IngressSpec{
			IngressClassName: ptr.To(in.ClassName),
			Rules: []networkingv1.IngressRule{{
				Host: in.Host,
				IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{
					Paths: []networkingv1.HTTPIngressPath{{
						Path:     in.Path,
						PathType: ptr.To(networkingv1.PathTypePrefix),
						Backend: networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{
							Name: ServerName(hi), Port: networkingv1.ServiceBackendPort{Name: "http"},
						}},
					}},
				}},
			}},
		},
	}
	if in.ClassName == "" {
		ing.Spec.IngressClassName = nil // the cluster's default IngressClass
	}
	if in.TLS != nil {
		ing.Spec.TLS = []networkingv1.IngressTLS{{Hosts: []string{in.Host}, SecretName: TLSSecretName(hi)}}
	}
	return ing
}

// Certificate asks cert-manager for the Ingress host's certificate, stored in TLSSecretName.
func Certificate(hi *heimdallv1.HeimdallInstance) *unstructured.Unstructured {
	t := hi.Spec.Ingress.TLS
	issuer, kind := t.ClusterIssuer, "ClusterIssuer"
	if t.Issuer != "" {
		issuer, kind = t.Issuer, "Issuer"
	}
	u := &unstructured.Unstructured{Object: map[string]any{
		"spec": map[string]any{
			"secretName": TLSSecretName(hi),
			"dnsNames":   []any{hi.Spec.Ingress.Host},
			"issuerRef":  map[string]any{"name": issuer, "kind": kind, "group": CertificateGVK.Group},
		},
	}}
	u.SetGroupVersionKind(CertificateGVK)
	u.SetName(ServerName(hi))
	u.SetNamespace(hi.Namespace)
	u.SetLabels(Labels(hi, ComponentServer, ""))
	return u
}

// AbsentCertificate names the operator's Certificate for deletion when no longer wanted.
func AbsentCertificate(hi *heimdallv1.HeimdallInstance) *unstructured.Unstructured {
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(CertificateGVK)
	u.SetName(ServerName(hi))
	u.SetNamespace(hi.Namespace)
	return u
}

// AbsentIngress names the server Ingress for deletion when spec.ingress is removed.
func AbsentIngress(hi *heimdallv1.HeimdallInstance) *networkingv1.Ingress {
	return &networkingv1.Ingress{
		TypeMeta:   metav1.TypeMeta{APIVersion: "networking.k8s.io/v1", Kind: "Ingress"},
		ObjectMeta: metav1.ObjectMeta{Name: ServerName(hi), Namespace: hi.Namespace},
	}
}
