package controllers

import (
	"context"
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	heimdallv1 "github.com/heimdall-io/heimdall-operator/api/v1alpha1"
)

// optionalAPIResync is how soon an instance is reconciled again while it waits on something no
// watch reports: an optional CRD the cluster lacks (installing cert-manager or prometheus-operator
// later heals the instance), a TLS Secret, a certificate being issued. Those kinds are not in
// Owns(): a watch on a missing CRD would stop the manager from starting.
const optionalAPIResync = time.Minute

// apiInstalled asks the manager's RESTMapper whether the cluster serves gvk. The mapper looks
// a missing group up again on every call, so a CRD installed later is found.
func (r *HeimdallInstanceReconciler) apiInstalled(gvk schema.GroupVersionKind) (bool, error) {
	_, err := r.RESTMapper().RESTMapping(gvk.GroupKind(), gvk.Version)
	switch {
	case err == nil:
		return true, nil
	case meta.IsNoMatchError(err):
		return false, nil
	default:
		return false, fmt.Errorf("discover %s: %w", gvk.GroupKind(), err)
	}
}

// applyOptional is applyChild for kinds of optional CRDs. They are handled as unstructured
// objects, which bypass the manager's cache (no informer on a CRD that may vanish), and compared
// as maps instead of typed structs.
func (r *HeimdallInstanceReconciler) applyOptional(ctx context.Context, hi *heimdallv1.HeimdallInstance, desired client.Object) error {
	u, err := toApplyObject(desired, desired.GetObjectKind().GroupVersionKind())
	if err != nil {
		return err
	}
	return r.applyChild(ctx, hi, u)
}

// unstructuredDiffers reports whether a field the operator sets has another value live.
func unstructuredDiffers(desired, live *unstructured.Unstructured) bool {
	if !equality.Semantic.DeepDerivative(desired.GetLabels(), live.GetLabels()) ||
		!equality.Semantic.DeepDerivative(desired.GetAnnotations(), live.GetAnnotations()) ||
		!equality.Semantic.DeepDerivative(desired.GetOwnerReferences(), live.GetOwnerReferences()) {
		return true
	}
	for k, v := range desired.Object {
		switch k {
		case "apiVersion", "kind", "metadata", "status":
			continue
		}
		if !equality.Semantic.DeepDerivative(v, live.Object[k]) {
			return true
		}
	}
	return false
}

// deleteOptional deletes a child of an optional kind if the cluster serves the kind.
func (r *HeimdallInstanceReconciler) deleteOptional(ctx context.Context, hi *heimdallv1.HeimdallInstance, gvk schema.GroupVersionKind, name string) error {
	installed, err := r.apiInstalled(gvk)
	if err != nil || !installed {
		return err
	}
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(gvk)
	u.SetNamespace(hi.Namespace)
	u.SetName(name)
	return r.deleteChild(ctx, hi, u)
}

// setCondition records a feature condition; requeue asks for a resync while it waits.
func (s *instanceStatus) setCondition(hi *heimdallv1.HeimdallInstance, t string, ok bool, reason, msg string) {
	st := metav1.ConditionFalse
	if ok {
		st = metav1.ConditionTrue
	}
	meta.SetStatusCondition(&s.next.Conditions, metav1.Condition{Type: t, Status: st, Reason: reason, Message: msg, ObservedGeneration: hi.Generation})
}

// hadCondition reports whether the last written status carries t: the feature was on, so its
// optional objects may exist and need removing. Checking this first spares instances that never
// used a feature a discovery request per reconcile.
func hadCondition(hi *heimdallv1.HeimdallInstance, t string) bool {
	return meta.FindStatusCondition(hi.Status.Conditions, t) != nil
}
