package resources

import (
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"math/big"
	"slices"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// RFC 7638 §3.1: the example key's thumbprint, as the server's tokens package also checks.
func TestJWTKeyIDIsTheRFC7638Thumbprint(t *testing.T) {
	n, _ := base64.RawURLEncoding.DecodeString("0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw")
	der, err := x509.MarshalPKIXPublicKey(&rsa.PublicKey{N: new(big.Int).SetBytes(n), E: 65537})
	if err != nil {
		t.Fatal(err)
	}
	got, err := JWTKeyID(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
	if err != nil || got != "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs" {
		t.Fatalf("JWTKeyID = %q, %v", got, err)
	}
	if _, err := JWTKeyID([]byte("not pem")); err == nil {
		t.Fatal("garbage accepted")
	}
}

func TestJWTKeysSecretRoundTrip(t *testing.T) {
	a, b, c := pairs(t)
	at := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	keys := JWTKeys{Signing: b, SigningSince: at, Next: &c, NextPublishedAt: at.Add(time.Hour),
		Retired: map[string]RetiredJWTKey{kid(t, a): {PublicPEM: a.PublicPEM, Until: at.Add(24 * time.Hour)}}}
	s := &corev1.Secret{Data: map[string][]byte{"retired-gone.pem": []byte("x"), KeyPrivatePEM: a.PrivatePEM}}
	keys.WriteTo(s)
	if _, ok := s.Data["retired-gone.pem"]; ok {
		t.Error("a retired key the state no longer holds stays in the Secret")
	}
	got, err := ReadJWTKeys(s)
	if err != nil {
		t.Fatal(err)
	}
	if !jwtKeysEqual(got, keys) {
		t.Fatalf("round trip:\n got %s\nwant %s", describeKeys(t, got), describeKeys(t, keys))
	}
	if s.Annotations[AnnotationJWTSigningSince] != "2026-12-04T12:00:00Z" {
		t.Errorf("signing-since annotation %q", s.Annotations[AnnotationJWTSigningSince])
	}

	// Back to a plain state: every rotation key and annotation goes.
	JWTKeys{Signing: b}.WriteTo(s)
	if len(s.Data) != 2 || len(s.Annotations) != 0 {
		t.Errorf("plain state left %v / %v", slices.Collect(mapKeys(s.Data)), s.Annotations)
	}

	for name, bad := range map[string]*corev1.Secret{
		"signing-since not RFC 3339":       {ObjectMeta: metav1.ObjectMeta{Annotations: map[string]string{AnnotationJWTSigningSince: "yesterday"}}},
		"next key without its public half": {Data: map[string][]byte{KeyNextPrivatePEM: c.PrivatePEM}},
		"next-published-at not RFC 3339": {Data: map[string][]byte{KeyNextPrivatePEM: c.PrivatePEM, KeyNextPublicPEM: c.PublicPEM},
			ObjectMeta: metav1.ObjectMeta{Annotations: map[string]string{AnnotationJWTNextPublishedAt: "soon"}}},
		"next key pair mismatched": {Data: map[string][]byte{KeyNextPrivatePEM: c.PrivatePEM, KeyNextPublicPEM: a.PublicPEM},
			ObjectMeta: metav1.ObjectMeta{Annotations: map[string]string{AnnotationJWTNextPublishedAt: "2026-12-04T12:00:00Z"}}},
		"retired-until not JSON": {ObjectMeta: metav1.ObjectMeta{Annotations: map[string]string{AnnotationJWTRetiredUntil: "{"}}},
	} {
		if _, err := ReadJWTKeys(bad); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func mapKeys(m map[string][]byte) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

func TestServerDeploymentMountsJWTVerifyKeys(t *testing.T) {
	a, b, _ := pairs(t)
	hi := defaulted()
	plain := ServerDeployment(hi, ServerInputs{Images: DefaultImages, SecretsHash: "h"})
	if hasEnv(plain, "JWT_ADDITIONAL_PUBLIC_KEYS_DIR") || len(plain.Spec.Template.Spec.Volumes) != 2 {
		t.Fatal("no rotation must render the Deployment exactly as before")
	}
	if _, ok := plain.Spec.Template.Annotations[AnnotationJWTVerifyKeyIDs]; ok {
		t.Fatal("verify key ids annotated without rotation")
	}

	one := map[string][]byte{kid(t, a) + ".pem": a.PublicPEM}
	d := ServerDeployment(hi, ServerInputs{Images: DefaultImages, SecretsHash: "h", JWTVerifyKeys: one})
	spec := d.Spec.Template.Spec
	vol := spec.Volumes[len(spec.Volumes)-1]
	if vol.Secret == nil || vol.Secret.SecretName != "auth-jwt-verify" || *vol.Secret.DefaultMode != 0o440 || vol.Secret.Items != nil {
		t.Errorf("volume %+v", vol)
	}
	if !ptr.Deref(vol.Secret.Optional, false) {
		t.Error("the verify volume must be optional: its Secret is deleted before the mount leaves every pod")
	}
	c := spec.Containers[0]
	if m := c.VolumeMounts[len(c.VolumeMounts)-1]; m.Name != vol.Name || m.MountPath != "/keys-verify" || !m.ReadOnly {
		t.Errorf("mount %+v", m)
	}
	if !hasEnv(d, "JWT_ADDITIONAL_PUBLIC_KEYS_DIR") || c.Env[len(c.Env)-1].Value != "/keys-verify" {
		t.Error("JWT_ADDITIONAL_PUBLIC_KEYS_DIR not set to the mount")
	}
	if got := d.Spec.Template.Annotations[AnnotationJWTVerifyKeyIDs]; got != kid(t, a) {
		t.Errorf("verify key ids %q", got)
	}
	hashes := map[string]string{}
	for name, keys := range map[string]map[string][]byte{
		"none": nil, "empty": {}, "a": one, "a+b": {kid(t, a) + ".pem": a.PublicPEM, kid(t, b) + ".pem": b.PublicPEM},
	} {
		h := ServerDeployment(hi, ServerInputs{Images: DefaultImages, SecretsHash: "h", JWTVerifyKeys: keys}).Spec.Template.Annotations[ConfigHashAnnotation]
		for other, oh := range hashes {
			if oh == h {
				t.Errorf("config hash of %s equals that of %s: publishing a key would not roll the pods", name, other)
			}
		}
		hashes[name] = h
	}
}

func hasEnv(d *appsv1.Deployment, name string) bool {
	return slices.ContainsFunc(d.Spec.Template.Spec.Containers[0].Env, func(e corev1.EnvVar) bool { return e.Name == name })
}

func TestDesiredPutsTheVerifySecretBeforeTheDeployment(t *testing.T) {
	hi := defaulted()
	objs := Desired(hi, Inputs{Images: DefaultImages, JWTVerifyKeys: map[string][]byte{}})
	secret, deploy := -1, -1
	for i, o := range objs {
		switch {
		case o.GetName() == "auth-jwt-verify":
			secret = i
			if o.(*corev1.Secret).Labels["app.kubernetes.io/component"] != ComponentJWT {
				t.Error("verify Secret not labelled as the jwt component")
			}
		case o.GetName() == "auth" && o.GetObjectKind().GroupVersionKind().Kind == "Deployment":
			deploy = i
		}
	}
	if secret < 0 || deploy < 0 || secret > deploy {
		t.Fatalf("verify Secret at %d, Deployment at %d: pods could start before their keys exist", secret, deploy)
	}
	for _, o := range Desired(hi, Inputs{Images: DefaultImages}) {
		if o.GetName() == "auth-jwt-verify" {
			t.Fatal("verify Secret desired without rotation")
		}
	}
}

func TestJWTVerifyKeysRolledOut(t *testing.T) {
	a, _, _ := pairs(t)
	keys := map[string][]byte{kid(t, a) + ".pem": a.PublicPEM}
	deploy := func(ids string, gen, observed int64, replicas, updated, ready int32) *appsv1.Deployment {
		d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Generation: gen}}
		d.Spec.Replicas = ptr.To[int32](3)
		if ids != "-" {
			d.Spec.Template.Annotations = map[string]string{AnnotationJWTVerifyKeyIDs: ids}
		}
		d.Status = appsv1.DeploymentStatus{ObservedGeneration: observed, Replicas: replicas, UpdatedReplicas: updated, ReadyReplicas: ready}
		return d
	}
	for name, tc := range map[string]struct {
		d    *appsv1.Deployment
		want bool
	}{
		"no Deployment":                   {nil, false},
		"template without the annotation": {deploy("-", 2, 2, 3, 3, 3), false},
		"template names other keys":       {deploy("other", 2, 2, 3, 3, 3), false},
		"template not observed yet":       {deploy(kid(t, a), 3, 2, 3, 3, 3), false},
		"old pods still running (surge)":  {deploy(kid(t, a), 2, 2, 4, 3, 4), false},
		"updated pods not ready":          {deploy(kid(t, a), 2, 2, 3, 3, 2), false},
		"not all replicas updated":        {deploy(kid(t, a), 2, 2, 3, 2, 3), false},
		"every pod updated and ready":     {deploy(kid(t, a), 2, 2, 3, 3, 3), true},
		"scaled to zero (a paused server): no pod publishes": {func() *appsv1.Deployment {
			d := deploy(kid(t, a), 2, 2, 0, 0, 0)
			d.Spec.Replicas = ptr.To[int32](0)
			return d
		}(), false},
		"scaled to zero, a draining pod still counted": {func() *appsv1.Deployment {
			d := deploy(kid(t, a), 2, 2, 1, 1, 0)
			d.Spec.Replicas = ptr.To[int32](0)
			return d
		}(), false},
	} {
		if got := JWTVerifyKeysRolledOut(tc.d, keys); got != tc.want {
			t.Errorf("%s: %v, want %v", name, got, tc.want)
		}
	}
}
