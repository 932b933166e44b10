package resources

import (
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	heimdallv1 "github.com/heimdall-io/heimdall-operator/api/v1alpha1"
)

// NetworkPoliciesEnabled reports whether spec.networkPolicy asks for policies.
func NetworkPoliciesEnabled(hi *heimdallv1.HeimdallInstance) bool {
	return hi.Spec.NetworkPolicy != nil && hi.Spec.NetworkPolicy.Enabled
}

// NetworkPolicies admit, per managed component, only the pods of this instance that need it.
// They restrict ingress only: egress to external databases, FusionAuth and DNS stays open.
func NetworkPolicies(hi *heimdallv1.HeimdallInstance) []*networkingv1.NetworkPolicy {
	policies := []*networkingv1.NetworkPolicy{ServerNetworkPolicy(hi)}
	if hi.Spec.Postgres.Managed != nil {
		policies = append(policies, componentPolicy(hi, ComponentPostgres, PostgresPort,
			ComponentServer, ComponentFusionAuth, ComponentMigration, ComponentBackup, ComponentRestore))
	}
	if hi.Spec.Redis.Managed != nil {
		policies = append(policies, componentPolicy(hi, ComponentRedis, RedisPort, ComponentServer))
	}
	if hi.Spec.FusionAuth.Managed != nil {
		policies = append(policies, componentPolicy(hi, ComponentFusionAuth, FusionAuthPort, ComponentServer))
	}
	return policies
}

// AbsentNetworkPolicies names every policy this instance may have, for removal.
func AbsentNetworkPolicies(hi *heimdallv1.HeimdallInstance) []*networkingv1.NetworkPolicy {
	return []*networkingv1.NetworkPolicy{
		ServerNetworkPolicy(hi),
		componentPolicy(hi, ComponentPostgres, PostgresPort),
		componentPolicy(hi, ComponentRedis, RedisPort),
		componentPolicy(hi, ComponentFusionAuth, FusionAuthPort),
	}
}

// ServerNetworkPolicy admits spec.networkPolicy.serverFrom, or every pod in the cluster, to the
// server's HTTP port.
func ServerNetworkPolicy(hi *heimdallv1.HeimdallInstance) *networkingv1.NetworkPolicy {
	from := []networkingv1.NetworkPolicyPeer{{NamespaceSelector: &metav1.LabelSelector{}}}
	if np := hi.Spec.NetworkPolicy; np != nil && len(np.ServerFrom) > 0 {
		from = np.ServerFrom
	}
	return networkPolicy(hi, ServerName(hi), ComponentServer, ServerPort, from)
}

// componentPolicy admits the given components of the same instance, in the same namespace.
func componentPolicy(hi *heimdallv1.HeimdallInstance, component string, port int32, clients ...string) *networkingv1.NetworkPolicy {
	peer := networkingv1.NetworkPolicyPeer{PodSelector: &metav1.LabelSelector{
		MatchLabels: map[string]string{"app.kubernetes.io/name": "heimdall", "app.kubernetes.io/instance": hi.Name},
		MatchExpressions: []metav1.LabelSelectorRequirement{{
			Key: "app.kubernetes.io/component", Operator: metav1.LabelSelectorOpIn, Values: clients,
		}},
	}}
	return networkPolicy(hi, ComponentName(hi, component), component, port, []networkingv1.NetworkPolicyPeer{peer})
}

func networkPolicy(hi *heimdallv1.HeimdallInstance, name, component string, port int32, from []networkingv1.NetworkPolicyPeer) *networkingv1.NetworkPolicy {
	tcp := corev1.ProtocolTCP
	p := intstr.FromInt32(port)
	return &networkingv1.NetworkPolicy{
		TypeMeta:   metav1.TypeMeta{APIVersion: "networking.k8s.io/v1", Kind: "NetworkPolicy"},
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: hi.Namespace, Labels: Labels(hi, component, "")},
		Spec: networkingv1.NetworkPolicySpec{
			PodSelector: metav1.LabelSelector{MatchLabels: SelectorLabels(hi, component)},
			PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress},
			Ingress: []networkingv1.NetworkPolicyIngressRule{{
				From:  from,
				Ports: []networkingv1.NetworkPolicyPort{{Protocol: &tcp, Port: &p}},
			}},
		},
	}
}
