package controllers

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	heimdallv1 "github.com/heimdall-io/heimdall-operator/api/v1alpha1"
	"github.com/heimdall-io/heimdall-operator/controllers/resources"
)

// TLSReady says whether the Ingress has its certificate.
const (
	ConditionTLSReady = "TLSReady"

	ReasonCertManagerNotInstalled = "CertManagerNotInstalled"
	ReasonCertificateReady        = "CertificateReady"
	ReasonCertificateNotReady     = "CertificateNotReady"
	ReasonTLSSecretFound          = "TLSSecretFound"
	ReasonTLSSecretNotFound       = "TLSSecretNotFound"
	ReasonTLSSecretInvalid        = "TLSSecretInvalid"
)

// reconcileTLS manages the cert-manager Certificate of the Ingress, when asked for, and reports
// TLSReady. The Ingress itself is an ordinary child (resources.Desired).
func (r *HeimdallInstanceReconciler) reconcileTLS(ctx context.Context, hi *heimdallv1.HeimdallInstance, st *instanceStatus) error {
	if !resources.WantsCertificate(hi) && hadCondition(hi, ConditionTLSReady) {
		if err := r.deleteOptional(ctx, hi, resources.CertificateGVK, resources.ServerName(hi)); err != nil {
			return err
		}
	}
	if hi.Spec.Ingress == nil || hi.Spec.Ingress.TLS == nil {
		meta.RemoveStatusCondition(&st.next.Conditions, ConditionTLSReady)
		return nil
	}
	if !resources.UsesCertManager(hi) {
		return r.observeTLSSecret(ctx, hi, st)
	}
	installed, err := r.apiInstalled(resources.CertificateGVK)
	if err != nil {
		return err
	}
	if !installed {
		st.setCondition(hi, ConditionTLSReady, false, ReasonCertManagerNotInstalled,
			"cert-manager is not installed (no cert-manager.io/v1 Certificate API); the Ingress has no certificate from it")
		st.requeueWithin(optionalAPIResync)
		return nil
	}
	if resources.WantsCertificate(hi) {
		if err := r.applyOptional(ctx, hi, resources.Certificate(hi)); err != nil {
			return err
		}
	}
	return r.observeCertificate(ctx, hi, st)
}

// observeTLSSecret checks the user's TLS Secret. It is not among the watched secret references
// (a missing one must not stop the rest of the instance), so a missing Secret is polled.
func (r *HeimdallInstanceReconciler) observeTLSSecret(ctx context.Context, hi *heimdallv1.HeimdallInstance, st *instanceStatus) error {
	name := resources.TLSSecretName(hi)
	s := &corev1.Secret{}
	err := r.Get(ctx, client.ObjectKey{Namespace: hi.Namespace, Name: name}, s)
	switch {
	case apierrors.IsNotFound(err):
		st.setCondition(hi, ConditionTLSReady, false, ReasonTLSSecretNotFound, fmt.Sprintf("TLS Secret %s not found", name))
		st.requeueWithin(optionalAPIResync)
	case err != nil:
		return fmt.Errorf("get TLS secret %s: %w", name, err)
	case len(s.Data[corev1.TLSCertKey]) == 0 || len(s.Data[corev1.TLSPrivateKeyKey]) == 0:
		st.setCondition(hi, ConditionTLSReady, false, ReasonTLSSecretInvalid,
			fmt.Sprintf("TLS Secret %s lacks %s or %s", name, corev1.TLSCertKey, corev1.TLSPrivateKeyKey))
		st.requeueWithin(optionalAPIResync)
	default:
		st.setCondition(hi, ConditionTLSReady, true, ReasonTLSSecretFound, fmt.Sprintf("TLS Secret %s is present", name))
	}
	return nil
}

// observeCertificate reports the Ready condition of the Certificate cert-manager works on: the
// operator's own, or the one ingress-shim creates after the TLS Secret.
func (r *HeimdallInstanceReconciler) observeCertificate(ctx context.Context, hi *heimdallv1.HeimdallInstance, st *instanceStatus) error {
	name := resources.CertificateName(hi)
	c := &unstructured.Unstructured{}
	c.SetGroupVersionKind(resources.CertificateGVK)
	err := r.Get(ctx, client.ObjectKey{Namespace: hi.Namespace, Name: name}, c)
	if apierrors.IsNotFound(err) {
		st.setCondition(hi, ConditionTLSReady, false, ReasonCertificateNotReady, fmt.Sprintf("waiting for cert-manager to create Certificate %s", name))
		st.requeueWithin(optionalAPIResync)
		return nil
	}
	if err != nil {
		return fmt.Errorf("get certificate %s: %w", name, err)
	}
	ready, msg := certificateReady(c)
	if !ready {
		st.setCondition(hi, ConditionTLSReady, false, ReasonCertificateNotReady, fmt.Sprintf("Certificate %s: %s", name, msg))
		st.requeueWithin(optionalAPIResync)
		return nil
	}
	st.setCondition(hi, ConditionTLSReady, true, ReasonCertificateReady, fmt.Sprintf("Certificate %s is ready", name))
	return nil
}

// certificateReady reads cert-manager's Ready condition from a Certificate's status.
func certificateReady(c *unstructured.Unstructured) (bool, string) {
	conds, _, _ := unstructured.NestedSlice(c.Object, "status", "conditions")
	for _, x := range conds {
		m, ok := x.(map[string]any)
		if !ok || m["type"] != "Ready" {
			continue
		}
		msg, _ := m["message"].(string)
		return m["status"] == "True", msg
	}
	return false, "not issued yet"
}
