package resources

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	heimdallv1 "github.com/heimdall-io/heimdall-operator/api/v1alpha1"
)

// GeneratedSecret describes a Secret the operator creates once and never rewrites: its data is
// live credentials (a database's passwords, FusionAuth's API key, signing keys).
type GeneratedSecret struct {
	Name      string
	Component string
	// Keys the Secret must hold; a live Secret missing one is reported, never regenerated.
	Keys []string
}

// GeneratedSecrets lists the Secrets this instance's spec needs the operator to generate.
func GeneratedSecrets(hi *heimdallv1.HeimdallInstance) []GeneratedSecret {
	var out []GeneratedSecret
	if hi.Spec.Postgres.Managed != nil {
		out = append(out, GeneratedSecret{ComponentName(hi, ComponentPostgres), ComponentPostgres,
			[]string{KeyUsername, KeyPassword, KeySuperuserPassword}})
	}
	if hi.Spec.Redis.Managed != nil {
		out = append(out, GeneratedSecret{ComponentName(hi, ComponentRedis), ComponentRedis, []string{KeyPassword}})
	}
	if hi.Spec.FusionAuth.Managed != nil {
		out = append(out, GeneratedSecret{ComponentName(hi, ComponentFusionAuth), ComponentFusionAuth,
			[]string{KeyAPIKey, KeyDBUsername, KeyDBPassword}})
	}
	if hi.Spec.JWT.SecretRef == nil {
		out = append(out, GeneratedSecret{ComponentName(hi, ComponentJWT), ComponentJWT, []string{KeyPrivatePEM, KeyPublicPEM}})
	}
	return out
}

// NewSecret fills a GeneratedSecret with fresh values from crypto/rand.
func (g GeneratedSecret) NewSecret(hi *heimdallv1.HeimdallInstance) (*corev1.Secret, error) {
	data := map[string][]byte{}
	for _, k := range g.Keys {
		var err error
		switch k {
		case KeyUsername:
			data[k] = []byte(heimdallDatabase)
		case KeyDBUsername:
			data[k] = []byte(fusionAuthDatabase)
		case KeyPrivatePEM:
			data[KeyPrivatePEM], data[KeyPublicPEM], err = NewRSAKeyPair(2048)
		case KeyPublicPEM: // written with the private key
		default:
			data[k], err = randomToken(32)
		}
		if err != nil {
			return nil, fmt.Errorf("generate %s/%s: %w", g.Name, k, err)
		}
	}
	return &corev1.Secret{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"},
		ObjectMeta: metav1.ObjectMeta{Name: g.Name, Namespace: hi.Namespace, Labels: Labels(hi, g.Component, "")},
		Type:       corev1.SecretTypeOpaque,
		Data:       data,
	}, nil
}

// NewRSAKeyPair returns a PEM private key (PKCS#8, "PRIVATE KEY") and public key (PKIX, "PUBLIC
// KEY"), the formats `openssl genrsa` and `openssl rsa -pubout` write.
func NewRSAKeyPair(bits int) (privatePEM, publicPEM []byte, err error) {
	key, err := rsa.GenerateKey(rand.Reader, bits)
	if err != nil {
		return nil, nil, err
	}
	priv, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	pub, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: priv}),
		pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub}), nil
}

// ValidateRSAKeyPair checks that a Secret's PEM data is an RSA key pair that belongs together.
func ValidateRSAKeyPair(privatePEM, publicPEM []byte) error {
	pb, _ := pem.Decode(privatePEM)
	if pb == nil {
		return fmt.Errorf("%s is not PEM", KeyPrivatePEM)
	}
	var key any
	var err error
	if pb.Type == "RSA PRIVATE KEY" {
		key, err = x509.ParsePKCS1PrivateKey(pb.Bytes)
	} else {
		key, err = x509.ParsePKCS8PrivateKey(pb.Bytes)
	}
	if err != nil {
		return fmt.Errorf("parse %s: %w", KeyPrivatePEM, err)
	}
	priv, ok := key.(*rsa.PrivateKey)
	if !ok {
		return fmt.Errorf("%s is not an RSA key", KeyPrivatePEM)
	}
	bb, _ := pem.Decode(publicPEM)
	if bb == nil {
		return fmt.Errorf("%s is not PEM", KeyPublicPEM)
	}
	pub, err := x509.ParsePKIXPublicKey(bb.Bytes)
	if err != nil {
		return fmt.Errorf("parse %s: %w", KeyPublicPEM, err)
	}
	if !priv.PublicKey.Equal(pub) {
		return fmt.Errorf("%s does not match %s", KeyPublicPEM, KeyPrivatePEM)
	}
	return nil
}

// randomToken is n random bytes, URL-safe base64 without padding: safe inside connection URLs.
func randomToken(n int) ([]byte, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return nil, err
	}
	return []byte(base64.RawURLEncoding.EncodeToString(b)), nil
}
