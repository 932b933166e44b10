package controllers

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"reflect"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	heimdallv1 "github.com/heimdall-io/heimdall-operator/api/v1alpha1"
	"github.com/heimdall-io/heimdall-operator/controllers/resources"
)

// applyChild makes the live child match the desired one. It reads the live object (from the
// cache) and sends a server-side apply only when a field the operator sets differs, so an
// unchanged instance reconciles without a single mutating request, while a user's edit to a field
// the operator owns is put back.
func (r *HeimdallInstanceReconciler) applyChild(ctx context.Context, hi *heimdallv1.HeimdallInstance, desired client.Object) error {
	gvk := desired.GetObjectKind().GroupVersionKind()
	if err := controllerutil.SetControllerReference(hi, desired, r.Scheme); err != nil {
		return fmt.Errorf("set owner of %s %s: %w", gvk.Kind, desired.GetName(), err)
	}
	u, err := toApplyObject(desired, gvk)
	if err != nil {
		return err
	}
	// Field-by-field comparison cannot see a field the spec stopped setting (a removed
	// toleration, say); a digest of the whole apply configuration can, and applying it lets
	// server-side apply remove what this manager no longer sets.
	stamp(desired, u)
	live := emptyLike(desired)
	err = r.Get(ctx, client.ObjectKeyFromObject(desired), live)
	switch {
	case apierrors.IsNotFound(err):
		live = nil
	case err != nil:
		return fmt.Errorf("get %s %s: %w", gvk.Kind, desired.GetName(), err)
	case !metav1.IsControlledBy(live, hi):
		return fmt.Errorf("%s %s exists and is not controlled by this instance; refusing to take it over", gvk.Kind, desired.GetName())
	case !differs(desired, live):
		return nil
	}

	if err := r.Apply(ctx, client.ApplyConfigurationFromUnstructured(u), client.FieldOwner(resources.FieldManager), client.ForceOwnership); err != nil {
		r.Recorder.Eventf(hi, desired, corev1.EventTypeWarning, "ApplyFailed", "Apply", "apply %s %s: %v", gvk.Kind, desired.GetName(), err)
		return fmt.Errorf("apply %s %s: %w", gvk.Kind, desired.GetName(), err)
	}
	reason, action := "Updated", "Update"
	if live == nil {
		reason, action = "Created", "Create"
	}
	r.Recorder.Eventf(hi, desired, corev1.EventTypeNormal, reason, action, "%s %s %s", reason, gvk.Kind, desired.GetName())
	return nil
}

// deleteChild removes a child the spec no longer wants, if this instance controls it.
func (r *HeimdallInstanceReconciler) deleteChild(ctx context.Context, hi *heimdallv1.HeimdallInstance, obj client.Object) error {
	live := obj.DeepCopyObject().(client.Object)
	if err := r.Get(ctx, client.ObjectKeyFromObject(obj), live); err != nil {
		return client.IgnoreNotFound(err)
	}
	if !metav1.IsControlledBy(live, hi) {
		return nil
	}
	if err := r.Delete(ctx, live, client.PropagationPolicy(metav1.DeletePropagationBackground)); client.IgnoreNotFound(err) != nil {
		return fmt.Errorf("delete %s %s: %w", obj.GetObjectKind().GroupVersionKind().Kind, obj.GetName(), err)
	}
	r.Recorder.Eventf(hi, live, corev1.EventTypeNormal, "Deleted", "Delete", "Deleted %s %s", obj.GetObjectKind().GroupVersionKind().Kind, obj.GetName())
	return nil
}

// differs reports whether any field set in desired has another value in live. Fields desired
// leaves empty (server defaults, other managers' fields, status) are ignored.
func differs(desired, live client.Object) bool {
	if u, ok := desired.(*unstructured.Unstructured); ok {
		return unstructuredDiffers(u, live.(*unstructured.Unstructured))
	}
	return !equality.Semantic.DeepDerivative(ownedFields(desired), ownedFields(live))
}

// emptyLike is an object of desired's kind to read the live one into. An unstructured read
// must start empty: it fills only what the response holds.
func emptyLike(desired client.Object) client.Object {
	if _, ok := desired.(*unstructured.Unstructured); ok {
		u := &unstructured.Unstructured{}
		u.SetGroupVersionKind(desired.GetObjectKind().GroupVersionKind())
		return u
	}
	return desired.DeepCopyObject().(client.Object)
}

// ownedFields strips what the operator does not own from a copy: server-set metadata, type
// metadata and status.
func ownedFields(obj client.Object) client.Object {
	c := obj.DeepCopyObject().(client.Object)
	meta := metav1.ObjectMeta{Labels: c.GetLabels(), Annotations: c.GetAnnotations(), OwnerReferences: c.GetOwnerReferences()}
	v := reflect.ValueOf(c).Elem()
	v.FieldByName("ObjectMeta").Set(reflect.ValueOf(meta))
	v.FieldByName("TypeMeta").Set(reflect.ValueOf(metav1.TypeMeta{}))
	if s := v.FieldByName("Status"); s.IsValid() && s.CanSet() {
		s.Set(reflect.Zero(s.Type()))
	}
	return c
}

// AppliedHashAnnotation digests the configuration last applied to a child.
const AppliedHashAnnotation = "heimdall.io/applied-hash"

// stamp records the digest of the apply configuration u on both u and desired.
func stamp(desired client.Object, u *unstructured.Unstructured) {
	b, _ := json.Marshal(u.Object) // built from a typed object: always marshals
	sum := sha256.Sum256(b)
	digest := hex.EncodeToString(sum[:])
	for _, o := range []client.Object{desired, u} {
		a := o.GetAnnotations()
		if a == nil {
			a = map[string]string{}
		}
		a[AppliedHashAnnotation] = digest
		o.SetAnnotations(a)
	}
}

// toApplyObject turns a typed object into an apply configuration without status or
// server-managed metadata.
func toApplyObject(obj client.Object, gvk schema.GroupVersionKind) (*unstructured.Unstructured, error) {
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		return nil, fmt.Errorf("convert %s %s: %w", gvk.Kind, obj.GetName(), err)
	}
	u := &unstructured.Unstructured{Object: m}
	delete(u.Object, "status")
	unstructured.RemoveNestedField(u.Object, "metadata", "creationTimestamp")
	u.SetGroupVersionKind(gvk)
	return u, nil
}
