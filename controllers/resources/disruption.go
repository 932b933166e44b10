package resources

import (
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	heimdallv1 "github.com/heimdall-io/heimdall-operator/api/v1alpha1"
)

// PodDisruptionBudgetsEnabled reports whether spec.podDisruptionBudget asks for budgets.
func PodDisruptionBudgetsEnabled(hi *heimdallv1.HeimdallInstance) bool {
	return hi.Spec.PodDisruptionBudget != nil && hi.Spec.PodDisruptionBudget.Enabled
}

// FusionAuthNeedsPDB: a single FusionAuth pod gains nothing from a budget, which would only block drains.
func FusionAuthNeedsPDB(hi *heimdallv1.HeimdallInstance) bool {
	return PodDisruptionBudgetsEnabled(hi) && hi.Spec.FusionAuth.Managed != nil && hi.Spec.FusionAuth.Managed.Replicas > 1
}

// ServerPDB keeps all but maxUnavailable server pods up during voluntary disruptions.
func ServerPDB(hi *heimdallv1.HeimdallInstance) *policyv1.PodDisruptionBudget {
	return podDisruptionBudget(hi, ServerName(hi), ComponentServer)
}

// FusionAuthPDB is the same budget for a replicated FusionAuth.
func FusionAuthPDB(hi *heimdallv1.HeimdallInstance) *policyv1.PodDisruptionBudget {
	return podDisruptionBudget(hi, ComponentName(hi, ComponentFusionAuth), ComponentFusionAuth)
}

func podDisruptionBudget(hi *heimdallv1.HeimdallInstance, name, component string) *policyv1.PodDisruptionBudget {
	maxUnavailable := intstr.FromInt32(1)
	if p := hi.Spec.PodDisruptionBudget; p != nil && p.MaxUnavailable != nil {
		maxUnavailable = *p.MaxUnavailable
	}
	return &policyv1.PodDisruptionBudget{
		TypeMeta:   metav1.TypeMeta{APIVersion: "policy/v1", Kind: "PodDisruptionBudget"},
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: hi.Namespace, Labels: Labels(hi, component, "")},
		Spec: policyv1.PodDisruptionBudgetSpec{
			MaxUnavailable: &maxUnavailable,
			Selector:       &metav1.LabelSelector{MatchLabels: SelectorLabels(hi, component)},
			// Pods that never became ready may be evicted: a broken rollout must not block a drain.
			UnhealthyPodEvictionPolicy: ptr.To(policyv1.AlwaysAllow),
		},
	}
}
