package compose

import (
	"bytes"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestGenJWTKeys runs hack/gen-jwt-keys.sh: it writes a matching RSA-2048 pair in the formats the
// server reads, keeps the private key private, and a second run changes nothing.
func TestGenJWTKeys(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "keys")
	run := func() {
		t.Helper()
		out, err := exec.Command(filepath.Join(root(), "hack", "gen-jwt-keys.sh"), dir).CombinedOutput()
		if err != nil {
			t.Fatalf("gen-jwt-keys.sh: %v\n%s", err, out)
		}
	}
	run()
	priv, pub := read(t, filepath.Join(dir, "private.pem")), read(t, filepath.Join(dir, "public.pem"))

	key, err := x509.ParsePKCS8PrivateKey(block(t, priv, "PRIVATE KEY"))
	if err != nil {
		t.Fatalf("private.pem: %v", err)
	}
	rsaKey, ok := key.(*rsa.PrivateKey)
	if !ok || rsaKey.N.BitLen() != 2048 {
		t.Fatalf("private.pem is not RSA-2048: %T", key)
	}
	pk, err := x509.ParsePKIXPublicKey(block(t, pub, "PUBLIC KEY"))
	if err != nil {
		t.Fatalf("public.pem: %v", err)
	}
	if !rsaKey.PublicKey.Equal(pk) {
		t.Error("public.pem does not belong to private.pem")
	}
	st, err := os.Stat(filepath.Join(dir, "private.pem"))
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm()&0o077 != 0 {
		t.Errorf("private.pem mode %v is readable by others", st.Mode().Perm())
	}

	run()
	if !bytes.Equal(priv, read(t, filepath.Join(dir, "private.pem"))) || !bytes.Equal(pub, read(t, filepath.Join(dir, "public.pem"))) {
		t.Error("a second run changed the keys")
	}
	// A lost public key is derived again from the kept private key.
	if err := os.Remove(filepath.Join(dir, "public.pem")); err != nil {
		t.Fatal(err)
	}
	run()
	if !bytes.Equal(pub, read(t, filepath.Join(dir, "public.pem"))) {
		t.Error("public.pem was not re-derived from private.pem")
	}
}

func read(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func block(t *testing.T, data []byte, typ string) []byte {
	t.Helper()
	b, _ := pem.Decode(data)
	if b == nil || b.Type != typ {
		t.Fatalf("want a PEM %q block", typ)
	}
	return b.Bytes
}
