package controllers

import (
	"context"
	"encoding/json"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	heimdallv1 "github.com/heimdall-io/heimdall-operator/api/v1alpha1"
	"github.com/heimdall-io/heimdall-operator/controllers/resources"
)

// handoffReplicas decides the server Deployment's replicas while autoscaling is on.
//
// Server-side apply removes a field its last owner stops applying, and the API server then
// defaults replicas to 1. So when the HPA takes over (on create, or when autoscaling is switched
// on) the operator keeps applying the live count, which cannot fight the HPA, until the HPA's
// first scale makes it a co-owner; from then on the operator leaves the field alone.
func (r *HeimdallInstanceReconciler) handoffReplicas(ctx context.Context, hi *heimdallv1.HeimdallInstance) (*int32, error) {
	if !resources.AutoscalingEnabled(hi) {
		return nil, nil
	}
	d := &appsv1.Deployment{}
	err := r.Get(ctx, client.ObjectKey{Namespace: hi.Namespace, Name: resources.ServerName(hi)}, d)
	if apierrors.IsNotFound(err) {
		return ptr.To(hi.Spec.Autoscaling.MinReplicas), nil
	}
	if err != nil {
		return nil, fmt.Errorf("get server deployment: %w", err)
	}
	if d.Spec.Replicas == nil || !soleReplicasOwner(d) {
		return nil, nil
	}
	return ptr.To(*d.Spec.Replicas), nil
}

// soleReplicasOwner reports whether the operator's apply is the only manager of spec.replicas.
func soleReplicasOwner(d *appsv1.Deployment) bool {
	ours, others := false, false
	for _, mf := range d.ManagedFields {
		if mf.FieldsV1 == nil || !ownsReplicas(mf.FieldsV1.Raw) {
			continue
		}
		if mf.Manager == resources.FieldManager && mf.Subresource == "" {
			ours = true
		} else {
			others = true
		}
	}
	return ours && !others
}

func ownsReplicas(raw []byte) bool {
	var fields struct {
		Spec map[string]json.RawMessage `json:"f:spec"`
	}
	if err := json.Unmarshal(raw, &fields); err != nil {
		return false
	}
	_, ok := fields.Spec["f:replicas"]
	return ok
}
