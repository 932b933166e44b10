package tokens

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
)

func TestThumbprintMatchesGoJose(t *testing.T) {
	k, _ := rsa.GenerateKey(rand.Reader, 2048)
	jwk := jose.JSONWebKey{Key: &k.PublicKey}
	tp, err := jwk.Thumbprint(crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := Thumbprint(&k.PublicKey), base64.RawURLEncoding.EncodeToString(tp); got != want {
		t.Fatalf("thumbprint %s, go-jose %s", got, want)
	}
}

// RFC 7638 §3.1 example key and thumbprint.
func TestThumbprintRFC7638Example(t *testing.T) {
	doc := `{"kty":"RSA","e":"AQAB","n":"0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"}`
	var jwk jose.JSONWebKey
	if err := json.Unmarshal([]byte(doc), &jwk); err != nil {
		t.Fatal(err)
	}
	if got := Thumbprint(jwk.Key.(*rsa.PublicKey)); got != "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs" {
		t.Fatalf("got %s", got)
	}
}

func writeKeys(t *testing.T, dir string, k *rsa.PrivateKey) (string, string) {
	priv, pub := filepath.Join(dir, "private.pem"), filepath.Join(dir, "public.pem")
	if err := os.WriteFile(priv, EncodePrivateKeyPEM(k), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(pub, EncodePublicKeyPEM(&k.PublicKey), 0o644); err != nil {
		t.Fatal(err)
	}
	return priv, pub
}

func TestLoadKeySetWithAdditionalKeys(t *testing.T) {
	dir := t.TempDir()
	k, _ := rsa.GenerateKey(rand.Reader, 2048)
	old, _ := rsa.GenerateKey(rand.Reader, 2048)
	priv, pub := writeKeys(t, dir, k)
	extra := filepath.Join(dir, "extra")
	os.Mkdir(extra, 0o755)
	os.WriteFile(filepath.Join(extra, "old.pem"), EncodePublicKeyPEM(&old.PublicKey), 0o644)

	ks, err := LoadKeySet(priv, pub, extra)
	if err != nil {
		t.Fatal(err)
	}
	j := ks.JWKS()
	if len(j.Keys) != 2 || j.Keys[0].Kid != ks.KID() || j.Keys[0].Alg != "RS256" || j.Keys[0].Use != "sig" || j.Keys[0].E != "AQAB" {
		t.Fatalf("jwks: %+v", j)
	}
	// A token signed by the old key (e.g. before rotation) still verifies.
	is := &Issuer{Keys: NewKeySet(old), Issuer: "iss", Audience: "iss", TTL: time.Minute, Now: time.Now}
	tok, _ := is.Issue(Subject{UserID: "u1"})
	v := &Issuer{Keys: ks, Issuer: "iss", Audience: "iss", TTL: time.Minute, Now: time.Now}
	if _, err := v.Verify(tok); err != nil {
		t.Fatalf("old-key token: %v", err)
	}

	// Mismatched pair is refused.
	other, _ := rsa.GenerateKey(rand.Reader, 2048)
	_, pub2 := writeKeys(t, t.TempDir(), other)
	if _, err := LoadKeySet(priv, pub2, ""); err == nil || !strings.Contains(err.Error(), "does not match") {
		t.Fatalf("mismatch: %v", err)
	}
	if _, err := LoadKeySet(filepath.Join(dir, "nope.pem"), pub, ""); err == nil {
		t.Fatal("missing private key accepted")
	}
	garbage := filepath.Join(dir, "garbage.pem")
	os.WriteFile(garbage, []byte("not pem"), 0o600)
	if _, err := LoadKeySet(garbage, pub, ""); err == nil {
		t.Fatal("garbage private key accepted")
	}
}

func TestRefreshTokens(t *testing.T) {
	tok, h, err := NewRefreshToken()
	if err != nil {
		t.Fatal(err)
	}
	raw, err := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(tok, "rt_"))
	if !strings.HasPrefix(tok, "rt_") || err != nil || len(raw) < 32 {
		t.Fatalf("token %q", tok)
	}
	if string(HashRefreshToken(tok)) != string(h) || len(h) != 32 {
		t.Fatal("hash mismatch")
	}
	tok2, _, _ := NewRefreshToken()
	if tok == tok2 {
		t.Fatal("tokens repeat")
	}
	for in, want := range map[string]bool{tok: true, "rt_short": false, "xx" + tok[2:]: false, "rt_" + strings.Repeat("a", 300): false} {
		if LooksLikeRefreshToken(in) != want {
			t.Errorf("LooksLikeRefreshToken(%.10q) != %v", in, want)
		}
	}
}

func TestBearerToken(t *testing.T) {
	for in, want := range map[string]string{"Bearer abc": "abc", "bearer  abc ": "abc", "Basic abc": "", "Bearer": "", "": ""} {
		got, ok := BearerToken(in)
		if got != want || ok != (want != "") {
			t.Errorf("BearerToken(%q) = %q %v", in, got, ok)
		}
	}
}

func BenchmarkIssueAndVerify(b *testing.B) {
	k, _ := rsa.GenerateKey(rand.Reader, 2048)
	is := &Issuer{Keys: NewKeySet(k), Issuer: "iss", Audience: "iss", TTL: time.Minute, Now: time.Now}
	for b.Loop() {
		tok, err := is.Issue(Subject{UserID: "u", Email: "e@x", TenantID: "t", Roles: []string{"user"}})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := is.Verify(tok); err != nil {
			b.Fatal(err)
		}
	}
}
