package controllers

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	heimdallv1 "github.com/heimdall-io/heimdall-operator/api/v1alpha1"
	"github.com/heimdall-io/heimdall-operator/controllers/resources"
)

// Condition reasons for secrets.
const (
	ReasonSecretNotFound = "SecretNotFound"
	ReasonSecretInvalid  = "SecretInvalid"
)

// problem is a user-fixable state that stops the reconcile without being an error to retry: the
// watch on the cause brings the instance back.
type problem struct {
	Reason  string
	Message string
}

// reconcileSecrets creates the generated Secrets that do not exist yet (never touching existing
// data), then checks that every Secret key the children consume is present and returns a digest of
// that data for the pod template hash.
func (r *HeimdallInstanceReconciler) reconcileSecrets(ctx context.Context, hi *heimdallv1.HeimdallInstance) (string, *problem, error) {
	created := map[string]*corev1.Secret{}
	for _, g := range resources.GeneratedSecrets(hi) {
		s, err := r.ensureGeneratedSecret(ctx, hi, g)
		if err != nil {
			return "", nil, err
		}
		if s != nil {
			created[s.Name] = s
		}
	}
	refs := resources.Refs(hi)
	required := refs.Required()
	names := make([]string, 0, len(required))
	for name := range required {
		names = append(names, name)
	}
	slices.Sort(names)
	h := sha256.New()
	for _, name := range names {
		s, err := created[name], error(nil)
		if s == nil {
			// A Secret created in this pass may not be in the cache yet; the others are read from it.
			s = &corev1.Secret{}
			err = r.Get(ctx, client.ObjectKey{Namespace: hi.Namespace, Name: name}, s)
		}
		if apierrors.IsNotFound(err) {
			return "", &problem{ReasonSecretNotFound, fmt.Sprintf("Secret %s/%s not found", hi.Namespace, name)}, nil
		}
		if err != nil {
			return "", nil, fmt.Errorf("get secret %s: %w", name, err)
		}
		keys := slices.Clone(required[name])
		slices.Sort(keys)
		keys = slices.Compact(keys)
		for _, k := range keys {
			v, ok := s.Data[k]
			if !ok || len(v) == 0 {
				return "", &problem{ReasonSecretInvalid, fmt.Sprintf("Secret %s/%s has no key %q", hi.Namespace, name, k)}, nil
			}
			fmt.Fprintf(h, "%s/%s=%d:", name, k, len(v))
			h.Write(v)
		}
		if name == refs.JWT {
			if err := resources.ValidateRSAKeyPair(s.Data[resources.KeyPrivatePEM], s.Data[resources.KeyPublicPEM]); err != nil {
				return "", &problem{ReasonSecretInvalid, fmt.Sprintf("Secret %s/%s: %v", hi.Namespace, name, err)}, nil
			}
		}
	}
	return hex.EncodeToString(h.Sum(nil)), nil, nil
}

// ensureGeneratedSecret creates a generated Secret once. An existing Secret is left alone even
// when damaged: its data may be what a live database was initialised with, so regenerating it
// would lock the server out. The key check after this reports the damage instead.
// It returns the Secret when it created it.
func (r *HeimdallInstanceReconciler) ensureGeneratedSecret(ctx context.Context, hi *heimdallv1.HeimdallInstance, g resources.GeneratedSecret) (*corev1.Secret, error) {
	existing := &corev1.Secret{}
	err := r.Get(ctx, client.ObjectKey{Namespace: hi.Namespace, Name: g.Name}, existing)
	if err == nil {
		return nil, nil
	}
	if !apierrors.IsNotFound(err) {
		return nil, fmt.Errorf("get secret %s: %w", g.Name, err)
	}
	// The cache may lag behind a Secret created moments ago; the API server's AlreadyExists below
	// is the real guard against generating twice.
	s, err := g.NewSecret(hi)
	if err != nil {
		return nil, err
	}
	// The credentials must live as long as the data they open: with retained volumes a deleted
	// and recreated instance must find its old passwords, so the Secret gets no owner then.
	if hi.Spec.PVCRetentionPolicy == heimdallv1.PVCDelete {
		if err := controllerutil.SetControllerReference(hi, s, r.Scheme); err != nil {
			return nil, fmt.Errorf("set owner of secret %s: %w", g.Name, err)
		}
	}
	if err := r.Create(ctx, s, client.FieldOwner(resources.FieldManager)); err != nil {
		if apierrors.IsAlreadyExists(err) {
			return nil, ErrNextLoop
		}
		return nil, fmt.Errorf("create secret %s: %w", g.Name, err)
	}
	r.Recorder.Eventf(hi, s, corev1.EventTypeNormal, "Created", "Create", "Generated Secret %s", g.Name)
	return s, nil
}
