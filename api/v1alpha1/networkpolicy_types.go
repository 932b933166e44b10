package v1alpha1

import (
	networkingv1 "k8s.io/api/networking/v1"
)

// NetworkPolicySpec restricts which pods may reach each component. PostgreSQL accepts the server,
// FusionAuth and the operator's Jobs (migration, backup, restore); Redis and FusionAuth accept only
// the server. The policies take effect only where the cluster's network plugin enforces them.
type NetworkPolicySpec struct {
	// Enabled creates the NetworkPolicies.
	// +kubebuilder:default=true
	// +optional
	Enabled bool `json:"enabled"`

	// ServerFrom lists the peers allowed to reach the server's HTTP port. Empty means every pod in
	// the cluster; set it to the ingress controller's namespace (and Prometheus') to narrow it.
	// +listType=atomic
	// +optional
	ServerFrom []networkingv1.NetworkPolicyPeer `json:"serverFrom,omitempty"`
}
