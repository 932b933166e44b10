package resources

import (
	"net/url"
	"reflect"
	"slices"
	"strings"
	"testing"

	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	heimdallv1 "github.com/heimdall-io/heimdall-operator/api/v1alpha1"
)

// withIngress is a defaulted instance exposed at host, as the schema defaults spec.ingress.
func withIngress(host string, tls *heimdallv1.IngressTLSSpec) *heimdallv1.HeimdallInstance {
	hi := defaulted()
	hi.Spec.Ingress = &heimdallv1.IngressSpec{Host: host, ClassName: "nginx", Path: "/", TLS: tls}
	return hi
}

func TestServerIngress(t *testing.T) {
	overridden := withIngress("api.example.com", nil)
	overridden.Spec.Ingress.Annotations = map[string]string{"nginx.ingress.kubernetes.io/rate-limit": "500", "team": "auth"}
	overridden.Spec.Ingress.Path = "/auth"
	overridden.Spec.Ingress.ClassName = ""

	tests := []struct {
		name            string
		hi              *heimdallv1.HeimdallInstance
		wantAnnotations map[string]string
		wantTLS         []networkingv1.IngressTLS
		wantClass       *string
		wantPath        string
	}{{
		name:            "plain http: the seed's annotations, nginx, /",
		hi:              withIngress("api.example.com", nil),
		wantAnnotations: map[string]string{"nginx.ingress.kubernetes.io/ssl-redirect": "true", "nginx.ingress.kubernetes.io/rate-limit": "100"},
		wantClass:       new("nginx"),
		wantPath:        "/",
	}, {
		name: "spec annotations override key by key; empty class means the cluster default",
		hi:   overridden,
		wantAnnotations: map[string]string{"nginx.ingress.kubernetes.io/ssl-redirect": "true",
			"nginx.ingress.kubernetes.io/rate-limit": "500", "team": "auth"},
		wantPath: "/auth",
	}, {
		name:            "existing secret",
		hi:              withIngress("api.example.com", &heimdallv1.IngressTLSSpec{SecretName: "my-cert"}),
		wantAnnotations: map[string]string{"nginx.ingress.kubernetes.io/ssl-redirect": "true", "nginx.ingress.kubernetes.io/rate-limit": "100"},
		wantTLS:         []networkingv1.IngressTLS{{Hosts: []string{"api.example.com"}, SecretName: "my-cert"}},
		wantClass:       new("nginx"),
		wantPath:        "/",
	}, {
		name: "cluster issuer through ingress-shim, as the seed",
		hi:   withIngress("api.example.com", &heimdallv1.IngressTLSSpec{ClusterIssuer: "letsencrypt-prod"}),
		wantAnnotations: map[string]string{"nginx.ingress.kubernetes.io/ssl-redirect": "true", "nginx.ingress.kubernetes.io/rate-limit": "100",
			"cert-manager.io/cluster-issuer": "letsencrypt-prod"},
		wantTLS:   []networkingv1.IngressTLS{{Hosts: []string{"api.example.com"}, SecretName: "auth-tls"}},
		wantClass: new("nginx"),
		wantPath:  "/",
	}, {
		name: "namespaced issuer into a named secret",
		hi:   withIngress("api.example.com", &heimdallv1.IngressTLSSpec{Issuer: "ca", SecretName: "heimdall-tls"}),
		wantAnnotations: map[string]string{"nginx.ingress.kubernetes.io/ssl-redirect": "true", "nginx.ingress.kubernetes.io/rate-limit": "100",
			"cert-manager.io/issuer": "ca"},
		wantTLS:   []networkingv1.IngressTLS{{Hosts: []string{"api.example.com"}, SecretName: "heimdall-tls"}},
		wantClass: new("nginx"),
		wantPath:  "/",
	}, {
		name:            "explicit Certificate: no ingress-shim annotation",
		hi:              withIngress("api.example.com", &heimdallv1.IngressTLSSpec{ClusterIssuer: "letsencrypt-prod", Certificate: true}),
		wantAnnotations: map[string]string{"nginx.ingress.kubernetes.io/ssl-redirect": "true", "nginx.ingress.kubernetes.io/rate-limit": "100"},
		wantTLS:         []networkingv1.IngressTLS{{Hosts: []string{"api.example.com"}, SecretName: "auth-tls"}},
		wantClass:       new("nginx"),
		wantPath:        "/",
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ing := ServerIngress(tt.hi)
			if !reflect.DeepEqual(ing.Annotations, tt.wantAnnotations) {
				t.Errorf("annotations = %v, want %v", ing.Annotations, tt.wantAnnotations)
			}
			if !reflect.DeepEqual(ing.Spec.TLS, tt.wantTLS) {
				t.Errorf("tls = %v, want %v", ing.Spec.TLS, tt.wantTLS)
			}
			if !reflect.DeepEqual(ing.Spec.IngressClassName, tt.wantClass) {
				t.Errorf("class = %v, want %v", ing.Spec.IngressClassName, tt.wantClass)
			}
			rule := ing.Spec.Rules[0]
			p := rule.HTTP.Paths[0]
			if rule.Host != "api.example.com" || p.Path != tt.wantPath || *p.PathType != networkingv1.PathTypePrefix {
				t.Errorf("rule = %s %s %s", rule.Host, p.Path, *p.PathType)
			}
			if b := p.Backend.Service; b.Name != "auth" || b.Port.Name != "http" || b.Port.Number != 0 {
				t.Errorf("backend = %+v, want Service auth port http", b)
			}
			if ing.Name != "auth" || ing.Namespace != "prod" || ing.Labels["app.kubernetes.io/component"] != ComponentServer {
				t.Errorf("meta = %s/%s %v", ing.Namespace, ing.Name, ing.Labels)
			}
		})
	}
	// The defaults are fresh maps: an instance's overrides never leak into another's.
	if DefaultIngressAnnotations()["nginx.ingress.kubernetes.io/rate-limit"] != "100" {
		t.Error("default annotations were modified")
	}
}

func TestIssuer(t *testing.T) {
	explicit := withIngress("api.example.com", &heimdallv1.IngressTLSSpec{SecretName: "c"})
	derivedTLS := withIngress("api.example.com", &heimdallv1.IngressTLSSpec{ClusterIssuer: "le"})
	derivedTLS.Spec.Issuer = ""
	derivedPlain := withIngress("api.example.com", nil)
	derivedPlain.Spec.Issuer = ""
	tests := []struct {
		name string
		hi   *heimdallv1.HeimdallInstance
		want string
	}{
		{"no ingress: spec.issuer", defaulted(), "https://auth.example.com"},
		{"spec.issuer wins over the ingress host", explicit, "https://auth.example.com"},
		{"derived from a TLS ingress", derivedTLS, "https://api.example.com"},
		{"derived from a plain ingress", derivedPlain, "http://api.example.com"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Issuer(tt.hi); got != tt.want {
				t.Fatalf("Issuer = %q, want %q", got, tt.want)
			}
			env := map[string]string{}
			for _, e := range ServerEnv(tt.hi) {
				env[e.Name] = e.Value
			}
			if env["JWT_ISSUER"] != tt.want {
				t.Errorf("JWT_ISSUER = %q, want %q", env["JWT_ISSUER"], tt.want)
			}
		})
	}
}

// TestDerivedIssuerDiscoveryIsRoutable checks the promise behind a derived issuer: the server
// builds its discovery URLs from JWT_ISSUER (server/internal/httpapi/wellknown.go: issuer +
// "/v1/oauth/.well-known/jwks.json", and the document lives at /v1/.well-known/openid-configuration),
// so both must reach the server through this Ingress.
func TestDerivedIssuerDiscoveryIsRoutable(t *testing.T) {
	hi := withIngress("api.example.com", &heimdallv1.IngressTLSSpec{ClusterIssuer: "le"})
	hi.Spec.Issuer = ""
	ing := ServerIngress(hi)
	for _, p := range []string{"/v1/.well-known/openid-configuration", "/v1/oauth/.well-known/jwks.json"} {
		u, err := url.Parse(strings.TrimRight(Issuer(hi), "/") + p)
		if err != nil {
			t.Fatal(err)
		}
		if u.Scheme != "https" || !slices.Contains(ing.Spec.TLS[0].Hosts, u.Host) {
			t.Errorf("%s is not served over the Ingress' TLS", u)
		}
		rule := ing.Spec.Rules[0]
		if rule.Host != u.Host || !strings.HasPrefix(u.Path, rule.HTTP.Paths[0].Path) {
			t.Errorf("%s is not routed by host %s path %s", u, rule.Host, rule.HTTP.Paths[0].Path)
		}
	}
}

func TestCertificate(t *testing.T) {
	tests := []struct {
		name       string
		tls        heimdallv1.IngressTLSSpec
		wantIssuer map[string]any
		wantSecret string
	}{
		{"cluster issuer", heimdallv1.IngressTLSSpec{ClusterIssuer: "letsencrypt-prod", Certificate: true},
			map[string]any{"name": "letsencrypt-prod", "kind": "ClusterIssuer", "group": "cert-manager.io"}, "auth-tls"},
		{"issuer into a named secret", heimdallv1.IngressTLSSpec{Issuer: "ca", SecretName: "heimdall-tls", Certificate: true},
			map[string]any{"name": "ca", "kind": "Issuer", "group": "cert-manager.io"}, "heimdall-tls"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hi := withIngress("api.example.com", &tt.tls)
			c := Certificate(hi)
			if c.GroupVersionKind() != CertificateGVK || c.GetName() != "auth" || c.GetNamespace() != "prod" {
				t.Fatalf("certificate %v %s/%s", c.GroupVersionKind(), c.GetNamespace(), c.GetName())
			}
			if CertificateName(hi) != "auth" {
				t.Errorf("CertificateName = %s, want the operator's Certificate", CertificateName(hi))
			}
			issuer, _, _ := unstructured.NestedMap(c.Object, "spec", "issuerRef")
			if !reflect.DeepEqual(issuer, tt.wantIssuer) {
				t.Errorf("issuerRef = %v, want %v", issuer, tt.wantIssuer)
			}
			secret, _, _ := unstructured.NestedString(c.Object, "spec", "secretName")
			dns, _, _ := unstructured.NestedStringSlice(c.Object, "spec", "dnsNames")
			if secret != tt.wantSecret || !reflect.DeepEqual(dns, []string{"api.example.com"}) {
				t.Errorf("secretName %s dnsNames %v", secret, dns)
			}
		})
	}
	shim := withIngress("api.example.com", &heimdallv1.IngressTLSSpec{ClusterIssuer: "le", SecretName: "heimdall-tls"})
	if WantsCertificate(shim) || !UsesCertManager(shim) || CertificateName(shim) != "heimdall-tls" {
		t.Error("ingress-shim names its Certificate after the TLS Secret")
	}
	if UsesCertManager(withIngress("h", &heimdallv1.IngressTLSSpec{SecretName: "s"})) || UsesCertManager(defaulted()) {
		t.Error("a plain secret or no ingress does not use cert-manager")
	}
}

func TestIngressDesiredAbsent(t *testing.T) {
	with := names(Desired(withIngress("api.example.com", nil), Inputs{Images: DefaultImages}))
	if !slices.Contains(with, "Ingress/auth") || slices.Contains(names(Absent(withIngress("h", nil))), "Ingress/auth") {
		t.Errorf("an instance with spec.ingress wants its Ingress: %v", with)
	}
	if slices.Contains(names(Desired(defaulted(), Inputs{Images: DefaultImages})), "Ingress/auth") ||
		!slices.Contains(names(Absent(defaulted())), "Ingress/auth") {
		t.Error("an instance without spec.ingress must list its Ingress as absent")
	}
}
