package controllers

import (
	"context"
	"strings"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	heimdallv1 "github.com/heimdall-io/heimdall-operator/api/v1alpha1"
	"github.com/heimdall-io/heimdall-operator/controllers/resources"
)

// MonitoringReady says whether the prometheus-operator objects the spec asks for are in place.
const (
	ConditionMonitoringReady = "MonitoringReady"

	ReasonPrometheusOperatorNotInstalled = "PrometheusOperatorNotInstalled"
)

// reconcileMonitoring applies the ServiceMonitor and PrometheusRule the spec asks for when their
// CRDs exist, removes the ones it no longer asks for, and reports MonitoringReady.
func (r *HeimdallInstanceReconciler) reconcileMonitoring(ctx context.Context, hi *heimdallv1.HeimdallInstance, st *instanceStatus) error {
	kinds := []struct {
		gvk   schema.GroupVersionKind
		want  bool
		build func(*heimdallv1.HeimdallInstance) client.Object
	}{
		{resources.ServiceMonitorGVK, resources.ServiceMonitorEnabled(hi), func(hi *heimdallv1.HeimdallInstance) client.Object { return resources.ServiceMonitor(hi) }},
		{resources.PrometheusRuleGVK, resources.PrometheusRuleEnabled(hi), func(hi *heimdallv1.HeimdallInstance) client.Object { return resources.PrometheusRule(hi) }},
	}
	var applied, missing []string
	for _, k := range kinds {
		if !k.want {
			if hadCondition(hi, ConditionMonitoringReady) {
				if err := r.deleteOptional(ctx, hi, k.gvk, resources.ServerName(hi)); err != nil {
					return err
				}
			}
			continue
		}
		installed, err := r.apiInstalled(k.gvk)
		if err != nil {
			return err
		}
		if !installed {
			missing = append(missing, k.gvk.Kind)
			continue
		}
		if err := r.applyOptional(ctx, hi, k.build(hi)); err != nil {
			return err
		}
		applied = append(applied, k.gvk.Kind)
	}
	switch {
	case len(applied) == 0 && len(missing) == 0:
		meta.RemoveStatusCondition(&st.next.Conditions, ConditionMonitoringReady)
	case len(missing) > 0:
		st.setCondition(hi, ConditionMonitoringReady, false, ReasonPrometheusOperatorNotInstalled,
			"prometheus-operator is not installed (no monitoring.coreos.com/v1 "+strings.Join(missing, ", ")+" API)")
		st.requeueWithin(optionalAPIResync)
	default:
		st.setCondition(hi, ConditionMonitoringReady, true, ReasonReconciled, strings.Join(applied, " and ")+" in place")
	}
	return nil
}
