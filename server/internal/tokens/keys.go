// Package tokens issues and verifies Heimdall's RS256 access tokens, serves
// the JWKS document and makes opaque refresh tokens.
package tokens

import (
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// KeySet holds the one signing key and every public key that may still verify
// a live token (the signing key's own public key plus optional extras, e.g.
// the previous key during a rotation).
type KeySet struct {
	signer    *rsa.PrivateKey
	signerKID string
	verifiers map[string]*rsa.PublicKey
}

// LoadKeySet reads the PEM private and public key files and, when dir is not
// empty, every *.pem public key in dir as an extra verification-only key.
func LoadKeySet(privatePath, publicPath, dir string) (*KeySet, error) {
	privPEM, err := os.ReadFile(privatePath)
	if err != nil {
		return nil, fmt.Errorf("JWT_PRIVATE_KEY_PATH: %w", err)
	}
	priv, err := ParsePrivateKey(privPEM)
	if err != nil {
		return nil, fmt.Errorf("JWT_PRIVATE_KEY_PATH: %w", err)
	}
	pubPEM, err := os.ReadFile(publicPath)
	if err != nil {
		return nil, fmt.Errorf("JWT_PUBLIC_KEY_PATH: %w", err)
	}
	pub, err := ParsePublicKey(pubPEM)
	if err != nil {
		return nil, fmt.Errorf("JWT_PUBLIC_KEY_PATH: %w", err)
	}
	if !pub.Equal(&priv.PublicKey) {
		return nil, errors.New("JWT_PUBLIC_KEY_PATH: public key does not match the private key")
	}
	var extra []*rsa.PublicKey
	if dir != "" {
		files, err := filepath.Glob(filepath.Join(dir, "*.pem"))
		if err != nil {
			return nil, fmt.Errorf("JWT_ADDITIONAL_PUBLIC_KEYS_DIR: %w", err)
		}
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				return nil, fmt.Errorf("JWT_ADDITIONAL_PUBLIC_KEYS_DIR: %w", err)
			}
			k, err := ParsePublicKey(b)
			if err != nil {
				return nil, fmt.Errorf("JWT_ADDITIONAL_PUBLIC_KEYS_DIR %s: %w", filepath.Base(f), err)
			}
			extra = append(extra, k)
		}
	}
	return NewKeySet(priv, extra...), nil
}

// NewKeySet builds a key set from a signing key and extra verification keys.
func NewKeySet(signer *rsa.PrivateKey, extra ...*rsa.PublicKey) *KeySet {
	ks := &KeySet{signer: signer, verifiers: map[string]*rsa.PublicKey{}}
	ks.signerKID = Thumbprint(&signer.PublicKey)
	ks.verifiers[ks.signerKID] = &signer.PublicKey
	for _, k := range extra {
		ks.verifiers[Thumbprint(k)] = k
	}
	return ks
}

// KID is the key id of the signing key.
func (ks *KeySet) KID() string { return ks.signerKID }

// PublicKey returns the verification key with the given kid.
func (ks *KeySet) PublicKey(kid string) (*rsa.PublicKey, bool) {
	k, ok := ks.verifiers[kid]
	return k, ok
}

// ParsePrivateKey accepts PKCS#1 and PKCS#8 RSA private keys in PEM.
func ParsePrivateKey(b []byte) (*rsa.PrivateKey, error) {
	blk, _ := pem.Decode(b)
	if blk == nil {
		return nil, errors.New("no PEM block found")
	}
	if k, err := x509.ParsePKCS1PrivateKey(blk.Bytes); err == nil {
		return k, nil
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, errors.New("not an RSA private key (PKCS#1 or PKCS#8)")
	}
	rk, ok := k.(*rsa.PrivateKey)
	if !ok {
		return nil, errors.New("private key is not RSA")
	}
	return rk, nil
}

// ParsePublicKey accepts PKIX and PKCS#1 RSA public keys in PEM.
func ParsePublicKey(b []byte) (*rsa.PublicKey, error) {
	blk, _ := pem.Decode(b)
	if blk == nil {
		return nil, errors.New("no PEM block found")
	}
	if k, err := x509.ParsePKCS1PublicKey(blk.Bytes); err == nil {
		return k, nil
	}
	k, err := x509.ParsePKIXPublicKey(blk.Bytes)
	if err != nil {
		return nil, errors.New("not an RSA public key (PKIX or PKCS#1)")
	}
	rk, ok := k.(*rsa.PublicKey)
	if !ok {
		return nil, errors.New("public key is not RSA")
	}
	return rk, nil
}

// Thumbprint is the RFC 7638 JWK thumbprint (SHA-256, base64url) of an RSA key.
func Thumbprint(k *rsa.PublicKey) string {
	// Members in lexicographic order, no whitespace (RFC 7638 §3.2).
	doc := `{"e":"` + b64(big.NewInt(int64(k.E)).Bytes()) + `","kty":"RSA","n":"` + b64(k.N.Bytes()) + `"}`
	sum := sha256.Sum256([]byte(doc))
	return b64(sum[:])
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// JWK is one RSA key of a JWKS document.
type JWK struct {
	Kty string `json:"kty"`
	Use string `json:"use"`
	Kid string `json:"kid"`
	Alg string `json:"alg"`
	N   string `json:"n"`
	E   string `json:"e"`
}

// JWKS is the JSON Web Key Set document.
type JWKS struct {
	Keys []JWK `json:"keys"`
}

// JWKS returns every key that may verify a live token, signing key first.
func (ks *KeySet) JWKS() JWKS {
	kids := make([]string, 0, len(ks.verifiers))
	for kid := range ks.verifiers {
		if kid != ks.signerKID {
			kids = append(kids, kid)
		}
	}
	sort.Strings(kids)
	kids = append([]string{ks.signerKID}, kids...)
	out := JWKS{Keys: []JWK{}}
	for _, kid := range kids {
		k := ks.verifiers[kid]
		out.Keys = append(out.Keys, JWK{
			Kty: "RSA", Use: "sig", Kid: kid, Alg: "RS256",
			N: b64(k.N.Bytes()), E: b64(big.NewInt(int64(k.E)).Bytes()),
		})
	}
	return out
}

// EncodePrivateKeyPEM and EncodePublicKeyPEM write keys as the seed's openssl
// commands do (PKCS#8 would work too).
func EncodePrivateKeyPEM(k *rsa.PrivateKey) []byte {
	der, _ := x509.MarshalPKCS8PrivateKey(k)
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

// EncodePublicKeyPEM encodes a PKIX "PUBLIC KEY" PEM block.
func EncodePublicKeyPEM(k *rsa.PublicKey) []byte {
	der, _ := x509.MarshalPKIXPublicKey(k)
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

// trimBearer strips an "Bearer " prefix case-insensitively.
func trimBearer(h string) (string, bool) {
	const p = "bearer "
	if len(h) > len(p) && strings.EqualFold(h[:len(p)], p) {
		return strings.TrimSpace(h[len(p):]), true
	}
	return "", false
}

// BearerToken extracts the token of an Authorization header.
func BearerToken(h string) (string, bool) { return trimBearer(h) }
