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
	// KeyNextPrivatePEM / KeyNextPublicPEM hold the published, not yet signing, key pair.
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

	// JWTPublishGrace is how long a published key waits before it signs: longer than the JWKS
	// Cache-Control max-age (300 s), so relying parties have refetched it. It is also added to
	// a retired key's lifetime to cover pods still draining after the switch.
	JWTPublishGrace = 10 * time.Minute
	// jwtRolloutPoll rechecks a rollout the Deployment watch has not reported yet.
	jwtRolloutPoll = time.Minute

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
	NextPublishedAt time.Time // zero until every pod has loaded Next
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

// JWTRotationInput is everything the rotation timeline depends on.
type JWTRotationInput struct {
	Keys JWTKeys
	// Interval between rotations; 0 means rotation is off (retired keys still expire).
	Interval time.Duration
	// TokenLifetime is how long after its last signature a key must still verify: the refresh
	// plus the access token lifetime.
	TokenLifetime time.Duration
	// RolledOut says every server pod runs a template that loaded Keys' verification keys.
	RolledOut bool
	Now       time.Time
	// NewKeyPair makes the next key pair (crypto/rand in production, fixed keys in tests).
	NewKeyPair func() (JWTKeyPair, error)
}

// JWTRotationPlan is what the Secret should hold next and what happened.
type JWTRotationPlan struct {
	Keys    JWTKeys
	Changed bool
	// Events name each step taken: Scheduled, Generated, Published, Rotated, Retired, Expired,
	// Discarded.
	Events []JWTRotationEvent
	// RequeueAfter is when the timeline next needs a look (0: never).
	RequeueAfter time.Duration
}

// JWTRotationEvent is one step of the timeline, for an Event and the log.
type JWTRotationEvent struct{ Reason, Message string }

// PlanJWTRotation advances the rotation timeline by every step that is due at in.Now. It never
// lets a key sign before every pod verifies it, and keeps a key verifying until its last token
// has expired, so no token in flight is ever rejected.
func PlanJWTRotation(in JWTRotationInput) (JWTRotationPlan, error) {
	in.Now = in.Now.UTC().Truncate(time.Second) // what RFC 3339 annotations keep
	p := JWTRotationPlan{Keys: in.Keys}
	k := &p.Keys
	k.Retired = maps.Clone(in.Keys.Retired)
	if k.Retired == nil {
		k.Retired = map[string]RetiredJWTKey{}
	}
	step := func(reason, format string, a ...any) {
		p.Changed = true
		if reason != "" {
			p.Events = append(p.Events, JWTRotationEvent{reason, fmt.Sprintf(format, a...)})
		}
	}
	if in.Interval > 0 && k.SigningSince.IsZero() {
		k.SigningSince = in.Now
		step("Scheduled", "JWT key rotation every %s, first at %s", in.Interval, formatTime(in.Now.Add(in.Interval)))
	}
	// Retired keys first, against the state the rollout check was made for.
	for _, kid := range slices.Sorted(maps.Keys(k.Retired)) {
		r := k.Retired[kid]
		switch {
		case r.Until.IsZero() && in.RolledOut:
			r.Until = in.Now.Add(in.TokenLifetime + JWTPublishGrace)
			k.Retired[kid] = r
			step("Retired", "JWT key %s no longer signs; it verifies until %s", kid, formatTime(r.Until))
		case !r.Until.IsZero() && !in.Now.Before(r.Until):
			delete(k.Retired, kid)
			step("Expired", "JWT key %s dropped: every token it signed has expired", kid)
		}
	}
	switch {
	case k.Next != nil && in.Interval == 0:
		// Rotation turned off mid-way: the next key never signed, so dropping it is safe.
		k.Next, k.NextPublishedAt = nil, time.Time{}
		step("Discarded", "JWT rotation turned off; the unused next key is discarded")
	case k.Next != nil && k.NextPublishedAt.IsZero() && in.RolledOut:
		// Only now does every JWKS response list the key; relying parties' caches start to learn it.
		k.NextPublishedAt = in.Now
		step("Published", "Every server pod publishes JWT key %s; it signs from %s", kidOf(k.Next.PublicPEM),
			formatTime(in.Now.Add(JWTPublishGrace)))
	case k.Next != nil && !k.NextPublishedAt.IsZero() && in.RolledOut && !in.Now.Before(k.NextPublishedAt.Add(JWTPublishGrace)):
		oldKID, err := JWTKeyID(k.Signing.PublicPEM)
		if err != nil {
			return p, fmt.Errorf("current key: %w", err)
		}
		newKID, err := JWTKeyID(k.Next.PublicPEM)
		if err != nil {
			return p, fmt.Errorf("next key: %w", err)
		}
		k.Retired[oldKID] = RetiredJWTKey{PublicPEM: k.Signing.PublicPEM}
		k.Signing, k.Next = *k.Next, nil
		k.SigningSince, k.NextPublishedAt = in.Now, time.Time{}
		step("Rotated", "JWT signing switched from key %s to %s", oldKID, newKID)
	case k.Next == nil && in.Interval > 0 && !in.Now.Before(k.SigningSince.Add(in.Interval)):
		pair, err := in.NewKeyPair()
		if err != nil {
			return p, fmt.Errorf("generate next JWT key: %w", err)
		}
		kid, err := JWTKeyID(pair.PublicPEM)
		if err != nil {
			return p, fmt.Errorf("next key: %w", err)
		}
		k.Next = &pair
		step("Generated", "JWT key %s generated; it is being published to every server pod", kid)
	}
	p.RequeueAfter = nextDue(*k, in)
	return p, nil
}

// nextDue is how long until the next step of k's timeline can happen.
func nextDue(k JWTKeys, in JWTRotationInput) time.Duration {
	var due []time.Time
	if k.Next == nil && in.Interval > 0 {
		due = append(due, k.SigningSince.Add(in.Interval))
	}
	waitingForRollout := k.Next != nil && (k.NextPublishedAt.IsZero() || !in.RolledOut)
	if k.Next != nil && !k.NextPublishedAt.IsZero() {
		due = append(due, k.NextPublishedAt.Add(JWTPublishGrace))
	}
	for _, r := range k.Retired {
		if r.Until.IsZero() {
			waitingForRollout = true
		} else {
			due = append(due, r.Until)
		}
	}
	if waitingForRollout {
		// The Deployment watch usually reports the rollout first; this is the fallback.
		due = append(due, in.Now.Add(jwtRolloutPoll))
	}
	// A time already past is not what holds the step up (the rollout is), so it is no due time.
	due = slices.DeleteFunc(due, func(t time.Time) bool { return !t.After(in.Now) })
	if len(due) == 0 {
		return 0
	}
	return slices.MinFunc(due, time.Time.Compare).Sub(in.Now)
}

// JWTStatus reports the state for status.jwt.
func JWTStatus(k JWTKeys, interval time.Duration) (*heimdallv1.JWTStatus, error) {
	st := &heimdallv1.JWTStatus{}
	var err error
	if st.CurrentKeyID, err = JWTKeyID(k.Signing.PublicPEM); err != nil {
		return nil, err
	}
	ids := []string{st.CurrentKeyID}
	if k.Next != nil {
		if st.PendingKeyID, err = JWTKeyID(k.Next.PublicPEM); err != nil {
			return nil, err
		}
		ids = append(ids, st.PendingKeyID)
	}
	st.PublishedKeyIDs = append(ids, slices.Sorted(maps.Keys(k.Retired))...)
	if !k.SigningSince.IsZero() {
		st.LastRotationTime = &metav1.Time{Time: k.SigningSince}
		if interval > 0 {
			st.NextRotationTime = &metav1.Time{Time: k.SigningSince.Add(interval)}
		}
	}
	return st, nil
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
	spec.Volumes = append(spec.Volumes, corev1.Volume{Name: "jwt-verify-keys", VolumeSource: corev1.VolumeSource{
		Secret: &corev1.SecretVolumeSource{SecretName: JWTVerifySecretName(hi), DefaultMode: ptr.To[int32](0o440)},
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
// that loaded exactly these verification keys.
func JWTVerifyKeysRolledOut(d *appsv1.Deployment, keys map[string][]byte) bool {
	if d == nil {
		return false
	}
	got, ok := d.Spec.Template.Annotations[AnnotationJWTVerifyKeyIDs]
	if !ok || got != verifyKeyIDs(keys) {
		return false
	}
	want := int32(1)
	if d.Spec.Replicas != nil {
		want = *d.Spec.Replicas
	}
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
