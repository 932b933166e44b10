package controllers

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	heimdallv1 "github.com/heimdall-io/heimdall-operator/api/v1alpha1"
	"github.com/heimdall-io/heimdall-operator/controllers/resources"
)

// Condition reasons of JWT key rotation.
const (
	// ReasonJWTRotationInvalid: the rotation state in the JWT Secret cannot be read; rotation holds.
	ReasonJWTRotationInvalid = "JWTRotationStateInvalid"
	// ReasonJWTKeyRotation: a next key is on its way to signing (Progressing).
	ReasonJWTKeyRotation = "JWTKeyRotation"
)

// reconcileJWTRotation moves the key rotation timeline of generated JWT keys one step when one is
// due, and sets in.JWTVerifyKeys: the public keys the server pods verify with beside their
// signing key. Each step is one optimistic-concurrency update of the <name>-jwt Secret followed
// by ErrNextLoop, so the rest of the reconcile (config hash, Deployment) sees the new keys.
func (r *HeimdallInstanceReconciler) reconcileJWTRotation(ctx context.Context, hi *heimdallv1.HeimdallInstance, st *instanceStatus, in *resources.Inputs) error {
	st.next.JWT = nil
	if hi.Spec.JWT.SecretRef != nil {
		// Brought keys belong to the user (CEL refuses rotation with them); nothing to publish.
		return r.deleteChild(ctx, hi, resources.JWTVerifySecret(hi, nil))
	}
	s := &corev1.Secret{}
	if err := r.Get(ctx, client.ObjectKey{Namespace: hi.Namespace, Name: resources.Refs(hi).JWT}, s); err != nil {
		if apierrors.IsNotFound(err) {
			return ErrNextLoop // created moments ago by reconcileSecrets; the cache lags
		}
		return fmt.Errorf("get jwt secret: %w", err)
	}
	interval := time.Duration(0)
	if rot := hi.Spec.JWT.Rotation; rot != nil {
		interval = rot.Interval.Duration
	}
	keys, err := resources.ReadJWTKeys(s)
	if err != nil {
		return r.holdJWTRotation(ctx, hi, st, in, fmt.Sprintf("Secret %s/%s: %v", s.Namespace, s.Name, err))
	}
	current, err := keys.VerifyKeys(interval > 0)
	if err != nil {
		return r.holdJWTRotation(ctx, hi, st, in, fmt.Sprintf("Secret %s/%s: %v", s.Namespace, s.Name, err))
	}
	d, err := r.getDeployment(ctx, hi.Namespace, resources.ServerName(hi))
	if err != nil {
		return err
	}
	// A server paused for a restore serves no JWKS: no key is published or switched to until it
	// is back (Retired countdowns wait too; expiry, which needs no pod, goes on).
	rolledOut := !in.Paused && current != nil && resources.JWTVerifyKeysRolledOut(d, current)
	plan, err := resources.PlanJWTRotation(resources.JWTRotationInput{
		Keys:          keys,
		Interval:      interval,
		TokenLifetime: resources.JWTTokenLifetime(hi.Spec.Tokens),
		RolledOut:     rolledOut,
		Now:           r.now(),
		NewKeyPair:    newJWTKeyPair,
	})
	if err != nil {
		return r.holdJWTRotation(ctx, hi, st, in, fmt.Sprintf("Secret %s/%s: %v", s.Namespace, s.Name, err))
	}
	if plan.Changed {
		return r.writeJWTKeys(ctx, hi, s, plan)
	}
	if current == nil {
		return r.deleteChild(ctx, hi, resources.JWTVerifySecret(hi, nil))
	}
	in.JWTVerifyKeys = current
	if plan.RequeueAfter > 0 {
		st.requeueWithin(plan.RequeueAfter)
	}
	if interval > 0 || len(keys.Retired) > 0 {
		if st.next.JWT, err = resources.JWTStatus(keys, interval); err != nil {
			return fmt.Errorf("jwt status: %w", err)
		}
	}
	if keys.Next != nil && st.progress == nil { // another feature's progress (a migration) says more
		st.progressing(ReasonJWTKeyRotation, jwtProgress(keys))
	}
	return nil
}

func jwtProgress(k resources.JWTKeys) string {
	kid, _ := resources.JWTKeyID(k.Next.PublicPEM) // read and validated by ReadJWTKeys
	if k.NextPublishedAt.IsZero() {
		return fmt.Sprintf("JWT key %s is being published to every server pod; the current key signs until then", kid)
	}
	return fmt.Sprintf("JWT key %s is published; it signs from %s", kid,
		k.NextPublishedAt.Add(resources.JWTPublishGrace).UTC().Format(time.RFC3339))
}

// writeJWTKeys stores the planned state. The update carries the resourceVersion read, so a stale
// cache can never run a step twice (generate two keys, say): the conflict just retries.
func (r *HeimdallInstanceReconciler) writeJWTKeys(ctx context.Context, hi *heimdallv1.HeimdallInstance, s *corev1.Secret, plan resources.JWTRotationPlan) error {
	plan.Keys.WriteTo(s)
	if err := r.Update(ctx, s, client.FieldOwner(resources.FieldManager)); err != nil {
		if apierrors.IsConflict(err) {
			return ErrNextLoop
		}
		return fmt.Errorf("update jwt secret %s: %w", s.Name, err)
	}
	for _, e := range plan.Events {
		// Key ids are public thumbprints; no key material reaches events or logs.
		logf.FromContext(ctx).Info(e.Message, "reason", "JWTKey"+e.Reason)
		r.Recorder.Eventf(hi, s, corev1.EventTypeNormal, "JWTKey"+e.Reason, "RotateKey", "%s", e.Message)
	}
	return ErrNextLoop
}

// holdJWTRotation reports unreadable rotation state and keeps the pods on the verification keys
// they have, so nothing rolls and no published key disappears while a human looks.
func (r *HeimdallInstanceReconciler) holdJWTRotation(ctx context.Context, hi *heimdallv1.HeimdallInstance, st *instanceStatus, in *resources.Inputs, msg string) error {
	st.failed(ReasonJWTRotationInvalid, msg)
	live := &corev1.Secret{}
	err := r.Get(ctx, client.ObjectKey{Namespace: hi.Namespace, Name: resources.JWTVerifySecretName(hi)}, live)
	switch {
	case apierrors.IsNotFound(err):
		return nil
	case err != nil:
		return fmt.Errorf("get jwt verify secret: %w", err)
	}
	in.JWTVerifyKeys = live.Data
	if in.JWTVerifyKeys == nil {
		in.JWTVerifyKeys = map[string][]byte{}
	}
	return nil
}

func newJWTKeyPair() (resources.JWTKeyPair, error) {
	priv, pub, err := resources.NewRSAKeyPair(2048)
	return resources.JWTKeyPair{PrivatePEM: priv, PublicPEM: pub}, err
}
