package v1alpha1

import (
	"k8s.io/apimachinery/pkg/util/intstr"
)

// PodDisruptionBudgetSpec bounds voluntary disruptions (node drains, cluster upgrades) of the
// server, and of FusionAuth when it runs more than one replica.
type PodDisruptionBudgetSpec struct {
	// Enabled creates the PodDisruptionBudgets.
	// +kubebuilder:default=true
	// +optional
	Enabled bool `json:"enabled"`

	// MaxUnavailable pods during a voluntary disruption: a number or a percentage.
	// +kubebuilder:default=1
	// +kubebuilder:validation:XIntOrString
	// +kubebuilder:validation:XValidation:rule="type(self) == int ? self >= 1 : self.matches('^[1-9][0-9]?%$|^100%$')",message="spec.podDisruptionBudget.maxUnavailable must be at least 1 or a percentage between 1% and 100%"
	// +optional
	MaxUnavailable *intstr.IntOrString `json:"maxUnavailable,omitempty"`
}
