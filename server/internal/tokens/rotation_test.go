package tokens

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/golang-jwt/jwt/v5"
)

// secretVolume lays files out as the kubelet mounts a Secret: each name is a symlink into
// ..data, which links to a timestamped directory (the atomic writer's layout).
func secretVolume(t *testing.T, files map[string][]byte) string {
	t.Helper()
	dir := t.TempDir()
	ts := "..2026_12_04_08_00_00.000000001"
	if err := os.Mkdir(filepath.Join(dir, ts), 0o755); err != nil {
		t.Fatal(err)
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, ts, name), b, 0o440); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(ts, filepath.Join(dir, "..data")); err != nil {
		t.Fatal(err)
	}
	for name := range files {
		if err := os.Symlink(filepath.Join("..data", name), filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// pod is one server process of a rotation phase: its signing key from /keys and its extra
// verification keys from JWT_ADDITIONAL_PUBLIC_KEYS_DIR, loaded once at start.
func pod(t *testing.T, signer *rsa.PrivateKey, verify ...*rsa.PublicKey) *Issuer {
	t.Helper()
	priv, pub := writeKeys(t, t.TempDir(), signer)
	files := map[string][]byte{}
	for _, k := range verify {
		files[Thumbprint(k)+".pem"] = EncodePublicKeyPEM(k) // as the operator names them
	}
	ks, err := LoadKeySet(priv, pub, secretVolume(t, files))
	if err != nil {
		t.Fatal(err)
	}
	return &Issuer{Keys: ks, Issuer: "https://auth.example.com", Audience: "https://auth.example.com", TTL: 15 * time.Minute, Now: time.Now}
}

func kids(j JWKS) []string {
	var out []string
	for _, k := range j.Keys {
		out = append(out, k.Kid)
	}
	return out
}

// The operator's rotation, seen from the server: each phase's pods serve beside the previous
// phase's during a rolling update, so a token issued by either must verify at both.
func TestRotationPhasesNeverRejectALiveToken(t *testing.T) {
	oldKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	newKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	oldKID, newKID := Thumbprint(&oldKey.PublicKey), Thumbprint(&newKey.PublicKey)

	before := pod(t, oldKey)                       // rotation on, nothing extra published
	published := pod(t, oldKey, &newKey.PublicKey) // phase 1: next key published
	switched := pod(t, newKey, &oldKey.PublicKey)  // phase 2: new key signs, old still verifies
	dropped := pod(t, newKey)                      // phase 3: old key's tokens have expired

	if got := kids(published.Keys.JWKS()); !slices.Equal(got, []string{oldKID, newKID}) {
		t.Fatalf("phase 1 JWKS kids %v, want signing key first then the published one", got)
	}
	if got := kids(switched.Keys.JWKS()); !slices.Equal(got, []string{newKID, oldKID}) {
		t.Fatalf("phase 2 JWKS kids %v, want the new signing key first then the old one", got)
	}
	if published.Keys.KID() != oldKID || switched.Keys.KID() != newKID {
		t.Fatal("an extra verification key must never sign")
	}

	issue := func(is *Issuer) string {
		t.Helper()
		tok, err := is.Issue(Subject{UserID: "u1", Email: "u1@example.com"})
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	for _, step := range []struct {
		name             string
		issuer, verifier *Issuer
	}{
		{"rolling out phase 1: old pods' tokens at new pods", before, published},
		{"rolling out phase 1: new pods' tokens at old pods", published, before},
		{"rolling out phase 2: new-key tokens at phase-1 pods", switched, published},
		{"rolling out phase 2: a token signed with the old key still verifies after the switch", published, switched},
		{"rolling out phase 3: new-key tokens at phase-2 pods", dropped, switched},
		{"rolling out phase 3: phase-2 tokens at phase-3 pods", switched, dropped},
	} {
		if _, err := step.verifier.Verify(issue(step.issuer)); err != nil {
			t.Errorf("%s: %v", step.name, err)
		}
	}
	// Why the operator keeps the old key until its tokens expired: once dropped, they fail.
	if _, err := dropped.Verify(issue(before)); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("an old-key token verified after its key was dropped: %v", err)
	}
}

// A resource server verifies with nothing but the JWKS document: the phase-2 document must let
// it verify tokens of both keys.
func TestJWKSDuringRotationVerifiesBothKeysForARelyingParty(t *testing.T) {
	oldKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	newKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	switched := pod(t, newKey, &oldKey.PublicKey)
	published := pod(t, oldKey, &newKey.PublicKey)

	doc, err := json.Marshal(switched.Keys.JWKS())
	if err != nil {
		t.Fatal(err)
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(doc, &set); err != nil {
		t.Fatal(err)
	}
	for name, is := range map[string]*Issuer{"old key": published, "new key": switched} {
		tok, err := is.Issue(Subject{UserID: "u1"})
		if err != nil {
			t.Fatal(err)
		}
		_, err = jwt.Parse(tok, func(tk *jwt.Token) (any, error) {
			kid, _ := tk.Header["kid"].(string)
			ks := set.Key(kid)
			if len(ks) != 1 || ks[0].Algorithm != "RS256" || ks[0].Use != "sig" {
				return nil, errors.New("kid not in JWKS")
			}
			return ks[0].Key, nil
		}, jwt.WithValidMethods([]string{"RS256"}))
		if err != nil {
			t.Errorf("%s token does not verify with the phase-2 JWKS: %v", name, err)
		}
	}
}

func TestAdditionalKeysDirLayout(t *testing.T) {
	k, _ := rsa.GenerateKey(rand.Reader, 2048)
	extra, _ := rsa.GenerateKey(rand.Reader, 2048)
	priv, pub := writeKeys(t, t.TempDir(), k)

	t.Run("an empty Secret volume adds nothing", func(t *testing.T) {
		ks, err := LoadKeySet(priv, pub, secretVolume(t, nil))
		if err != nil || len(ks.JWKS().Keys) != 1 {
			t.Fatalf("%v, %v", err, ks)
		}
	})
	t.Run("the signing key listed again is published once", func(t *testing.T) {
		ks, err := LoadKeySet(priv, pub, secretVolume(t, map[string][]byte{"self.pem": EncodePublicKeyPEM(&k.PublicKey)}))
		if err != nil || len(ks.JWKS().Keys) != 1 {
			t.Fatalf("%v, %v", err, ks.JWKS())
		}
	})
	t.Run("files other than *.pem are ignored", func(t *testing.T) {
		ks, err := LoadKeySet(priv, pub, secretVolume(t, map[string][]byte{
			Thumbprint(&extra.PublicKey) + ".pem": EncodePublicKeyPEM(&extra.PublicKey), "README": []byte("not a key")}))
		if err != nil || len(ks.JWKS().Keys) != 2 {
			t.Fatalf("%v, %v", err, ks.JWKS())
		}
		if _, ok := ks.PublicKey(Thumbprint(&extra.PublicKey)); !ok {
			t.Fatal("the extra key does not verify")
		}
	})
	t.Run("a damaged key fails the start, naming the file", func(t *testing.T) {
		_, err := LoadKeySet(priv, pub, secretVolume(t, map[string][]byte{"broken.pem": []byte("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n")}))
		if err == nil || !strings.Contains(err.Error(), "JWT_ADDITIONAL_PUBLIC_KEYS_DIR broken.pem") {
			t.Fatalf("got %v", err)
		}
	})
}
