package resources

import (
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"maps"
	"math/big"
	"slices"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	heimdallv1 "github.com/heimdall-io/heimdall-operator/api/v1alpha1"
)

// Rotation state lives in the generated <name>-jwt Secret itself, so one optimistic-concurrency
// update moves the whole timeline and it survives operator restarts.
const (
	// KeyNextPrivatePEM / KeyNextPublicPEM hold the generated, not yet signing, key pair.
	KeyNextPrivatePEM = "next-private.pem"
	KeyNextPublicPEM  = "next-public.pem"
	// retiredKeyPrefix + <kid>.pem holds the public key of a key that no longer signs.
	retiredKeyPrefix = "retired-"

	// AnnotationJWTSigningSince is when the current key began signing (RFC 3339).
	AnnotationJWTSigningSince = "heimdall.io/jwt-signing-since"
	// AnnotationJWTNextPublishedAt is when every server pod had loaded the next key, so every
	// JWKS response lists it (RFC 3339; absent until then).
	AnnotationJWTNextPublishedAt = "heimdall.io/jwt-next-published-at"
	// AnnotationJWTRetiredUntil maps each retired kid to the time its last token expires (RFC
	// 3339; empty while pods may still sign with it).
	AnnotationJWTRetiredUntil = "heimdall.io/jwt-retired-until"
	// AnnotationJWTVerifyKeyIDs on the server pod template lists the extra verification keys the
	// pods load, so the reconciler can tell when a rollout has published them.
	AnnotationJWTVerifyKeyIDs = "heimdall.io/jwt-verify-key-ids"

	jwtVerifyMountPath = "/keys-verify"
)

// JWTKeyPair is a PEM private and public key.
type JWTKeyPair struct{ PrivatePEM, PublicPEM []byte }

// RetiredJWTKey is a public key that no longer signs but may still verify live tokens.
type RetiredJWTKey struct {
	PublicPEM []byte
	// Until is when the last token it signed has expired; zero until the switch has rolled out.
	Until time.Time
}

// JWTKeys is the rotation state of the <name>-jwt Secret.
type JWTKeys struct {
	Signing         JWTKeyPair
	SigningSince    time.Time // zero: rotation never scheduled
	Next            *JWTKeyPair
	NextPublishedAt time.Time                // zero until every pod has loaded Next
	Retired         map[string]RetiredJWTKey // by kid
}

// ReadJWTKeys reads the rotation state of a generated JWT Secret.
func ReadJWTKeys(s *corev1.Secret) (JWTKeys, error) {
	k := JWTKeys{Signing: JWTKeyPair{s.Data[KeyPrivatePEM], s.Data[KeyPublicPEM]}, Retired: map[string]RetiredJWTKey{}}
	a := s.Annotations
	var err error
	if k.SigningSince, err = parseTime(a[AnnotationJWTSigningSince]); err != nil {
		return k, fmt.Errorf("annotation %s: %w", AnnotationJWTSigningSince, err)
	}
	if np, ok := s.Data[KeyNextPrivatePEM]; ok {
		k.Next = &JWTKeyPair{np, s.Data[KeyNextPublicPEM]}
		if err := ValidateRSAKeyPair(k.Next.PrivatePEM, k.Next.PublicPEM); err != nil {
			return k, fmt.Errorf("next key: %w", err)
		}
		if k.NextPublishedAt, err = parseTime(a[AnnotationJWTNextPublishedAt]); err != nil {
			return k, fmt.Errorf("annotation %s: %w", AnnotationJWTNextPublishedAt, err)
		}
	}
	until := map[string]string{}
	if v := a[AnnotationJWTRetiredUntil]; v != "" {
		if err := json.Unmarshal([]byte(v), &until); err != nil {
			return k, fmt.Errorf("annotation %s: %w", AnnotationJWTRetiredUntil, err)
		}
	}
	for name, pub := range s.Data {
		kid, ok := strings.CutPrefix(name, retiredKeyPrefix)
		if !ok {
			continue
		}
		kid = strings.TrimSuffix(kid, ".pem")
		t, err := parseTime(until[kid])
		if err != nil {
			return k, fmt.Errorf("annotation %s[%s]: %w", AnnotationJWTRetiredUntil, kid, err)
		}
		k.Retired[kid] = RetiredJWTKey{PublicPEM: pub, Until: t}
	}
	return k, nil
}

// WriteTo puts the state into s, removing rotation keys the state no longer holds.
func (k JWTKeys) WriteTo(s *corev1.Secret) {
	for name := range s.Data {
		if strings.HasPrefix(name, retiredKeyPrefix) || name == KeyNextPrivatePEM || name == KeyNextPublicPEM {
			delete(s.Data, name)
		}
	}
	if s.Data == nil {
		s.Data = map[string][]byte{}
	}
	if s.Annotations == nil {
		s.Annotations = map[string]string{}
	}
	s.Data[KeyPrivatePEM], s.Data[KeyPublicPEM] = k.Signing.PrivatePEM, k.Signing.PublicPEM
	setOrDelete(s.Annotations, AnnotationJWTSigningSince, formatTime(k.SigningSince))
	setOrDelete(s.Annotations, AnnotationJWTNextPublishedAt, "")
	if k.Next != nil {
		s.Data[KeyNextPrivatePEM], s.Data[KeyNextPublicPEM] = k.Next.PrivatePEM, k.Next.PublicPEM
		setOrDelete(s.Annotations, AnnotationJWTNextPublishedAt, formatTime(k.NextPublishedAt))
	}
	until := map[string]string{}
	for kid, r := range k.Retired {
		s.Data[retiredKeyPrefix+kid+".pem"] = r.PublicPEM
		until[kid] = formatTime(r.Until)
	}
	setOrDelete(s.Annotations, AnnotationJWTRetiredUntil, "")
	if len(until) > 0 {
		b, _ := json.Marshal(until) // map[string]string always marshals, with sorted keys
		s.Annotations[AnnotationJWTRetiredUntil] = string(b)
	}
}

// VerifyKeys are the public keys pods must verify with beside their signing key, as the
// <kid>.pem files of JWT_ADDITIONAL_PUBLIC_KEYS_DIR. Nil means there are none and no rotation
// is configured: no verification Secret and no mount.
func (k JWTKeys) VerifyKeys(rotating bool) (map[string][]byte, error) {
	if !rotating && k.Next == nil && len(k.Retired) == 0 {
		return nil, nil
	}
	out := map[string][]byte{}
	for kid, r := range k.Retired {
		out[kid+".pem"] = r.PublicPEM
	}
	if k.Next != nil {
		kid, err := JWTKeyID(k.Next.PublicPEM)
		if err != nil {
			return nil, err
		}
		out[kid+".pem"] = k.Next.PublicPEM
	}
	return out, nil
}

// kidOf is JWTKeyID for keys already validated.
func kidOf(publicPEM []byte) string {
	id, _ := JWTKeyID(publicPEM)
	return id
}

// JWTKeyID is the RFC 7638 SHA-256 thumbprint of a PEM RSA public key, base64url: the "kid" the
// server computes for the same key.
func JWTKeyID(publicPEM []byte) (string, error) {
	b, _ := pem.Decode(publicPEM)
	if b == nil {
		return "", errors.New("public key is not PEM")
	}
	k, err := x509.ParsePKIXPublicKey(b.Bytes)
	if err != nil {
		return "", fmt.Errorf("parse public key: %w", err)
	}
	rk, ok := k.(*rsa.PublicKey)
	if !ok {
		return "", errors.New("public key is not RSA")
	}
	return rsaThumbprint(rk), nil
}

func rsaThumbprint(k *rsa.PublicKey) string {
	enc := base64.RawURLEncoding.EncodeToString
	// Required members in lexicographic order, no whitespace (RFC 7638 §3.2).
	doc := `{"e":"` + enc(big.NewInt(int64(k.E)).Bytes()) + `","kty":"RSA","n":"` + enc(k.N.Bytes()) + `"}`
	sum := sha256.Sum256([]byte(doc))
	return enc(sum[:])
}

// JWTVerifySecretName is the Secret of extra verification keys, mounted into the server pods.
func JWTVerifySecretName(hi *heimdallv1.HeimdallInstance) string {
	return ComponentName(hi, ComponentJWT) + "-verify"
}

// JWTVerifySecret holds one <kid>.pem per public key the pods verify with beside their signing
// key. It carries public keys only.
func JWTVerifySecret(hi *heimdallv1.HeimdallInstance, keys map[string][]byte) *corev1.Secret {
	return &corev1.Secret{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"},
		ObjectMeta: metav1.ObjectMeta{Name: JWTVerifySecretName(hi), Namespace: hi.Namespace, Labels: Labels(hi, ComponentJWT, "")},
		Type:       corev1.SecretTypeOpaque,
		Data:       keys,
	}
}

// mountJWTVerifyKeys mounts the verification Secret at JWT_ADDITIONAL_PUBLIC_KEYS_DIR and folds
// its data into the config hash, so publishing or dropping a key rolls the pods.
func mountJWTVerifyKeys(hi *heimdallv1.HeimdallInstance, t *corev1.PodTemplateSpec, keys map[string][]byte) {
	if keys == nil {
		return
	}
	spec := &t.Spec
	// Optional: the Secret is deleted when no key is left to publish, in the same reconcile that
	// drops this mount, so a pod of the old ReplicaSet created during that rollout would otherwise
	// hang in ContainerCreating. The kubelet then mounts an empty directory, which the server
	// reads as "no additional keys" — exactly what a deleted Secret means.
	spec.Volumes = append(spec.Volumes, corev1.Volume{Name: "jwt-verify-keys", VolumeSource: corev1.VolumeSource{
		Secret: &corev1.SecretVolumeSource{SecretName: JWTVerifySecretName(hi), DefaultMode: ptr.To[int32](0o440), Optional: ptr.To(true)},
	}})
	c := &spec.Containers[0]
	c.VolumeMounts = append(c.VolumeMounts, corev1.VolumeMount{Name: "jwt-verify-keys", MountPath: jwtVerifyMountPath, ReadOnly: true})
	c.Env = append(c.Env, corev1.EnvVar{Name: "JWT_ADDITIONAL_PUBLIC_KEYS_DIR", Value: jwtVerifyMountPath})
	h := sha256.New()
	h.Write([]byte(t.Annotations[ConfigHashAnnotation]))
	for _, name := range slices.Sorted(maps.Keys(keys)) {
		fmt.Fprintf(h, "|%s=%d:", name, len(keys[name]))
		h.Write(keys[name])
	}
	t.Annotations[ConfigHashAnnotation] = fmt.Sprintf("%x", h.Sum(nil))
	t.Annotations[AnnotationJWTVerifyKeyIDs] = verifyKeyIDs(keys)
}

func verifyKeyIDs(keys map[string][]byte) string {
	ids := make([]string, 0, len(keys))
	for name := range keys {
		ids = append(ids, strings.TrimSuffix(name, ".pem"))
	}
	slices.Sort(ids)
	return strings.Join(ids, ",")
}

// JWTVerifyKeysRolledOut says whether every pod of the live server Deployment runs a template
// that loaded exactly these verification keys, and at least one such pod is ready: with no pod
// serving JWKS (a server scaled to 0) no relying party can have learnt a key.
func JWTVerifyKeysRolledOut(d *appsv1.Deployment, keys map[string][]byte) bool {
	if d == nil {
		return false
	}
	got, ok := d.Spec.Template.Annotations[AnnotationJWTVerifyKeyIDs]
	if !ok || got != verifyKeyIDs(keys) {
		return false
	}
	want := max(ptr.Deref(d.Spec.Replicas, 1), 1)
	s := d.Status
	return s.ObservedGeneration >= d.Generation && s.UpdatedReplicas >= want && s.Replicas == s.UpdatedReplicas &&
		s.ReadyReplicas >= s.UpdatedReplicas
}

func parseTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	return time.Parse(time.RFC3339, s)
}

func formatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

func setOrDelete(m map[string]string, k, v string) {
	if v == "" {
		delete(m, k)
		return
	}
	m[k] = v
}
