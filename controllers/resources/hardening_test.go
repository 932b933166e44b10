package resources

import (
	"slices"
	"testing"

	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	heimdallv1 "github.com/heimdall-io/heimdall-operator/api/v1alpha1"
)

func hardened() *heimdallv1.HeimdallInstance {
	hi := defaulted()
	hi.Spec.PodDisruptionBudget = &heimdallv1.PodDisruptionBudgetSpec{Enabled: true, MaxUnavailable: ptr.To(intstr.FromInt32(1))}
	hi.Spec.NetworkPolicy = &heimdallv1.NetworkPolicySpec{Enabled: true}
	return hi
}

func TestPodDisruptionBudgets(t *testing.T) {
	replicatedFA := hardened()
	replicatedFA.Spec.FusionAuth.Managed.Replicas = 2
	percent := hardened()
	percent.Spec.PodDisruptionBudget.MaxUnavailable = ptr.To(intstr.FromString("25%"))
	off := hardened()
	off.Spec.PodDisruptionBudget.Enabled = false

	tests := []struct {
		name           string
		hi             *heimdallv1.HeimdallInstance
		want, notWant  []string
		maxUnavailable intstr.IntOrString
	}{
		{"server only while FusionAuth has one replica", hardened(), []string{"PodDisruptionBudget/auth"}, []string{"PodDisruptionBudget/auth-fusionauth"}, intstr.FromInt32(1)},
		{"replicated FusionAuth gets one too", replicatedFA, []string{"PodDisruptionBudget/auth", "PodDisruptionBudget/auth-fusionauth"}, nil, intstr.FromInt32(1)},
		{"percentage passes through", percent, []string{"PodDisruptionBudget/auth"}, nil, intstr.FromString("25%")},
		{"disabled", off, nil, []string{"PodDisruptionBudget/auth", "PodDisruptionBudget/auth-fusionauth"}, intstr.FromInt32(1)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			desired, absent := names(Desired(tt.hi, Inputs{Images: DefaultImages})), names(Absent(tt.hi))
			for _, n := range tt.want {
				if !slices.Contains(desired, n) || slices.Contains(absent, n) {
					t.Errorf("%s: want desired and not absent; desired=%v", n, desired)
				}
			}
			for _, n := range tt.notWant {
				if slices.Contains(desired, n) || !slices.Contains(absent, n) {
					t.Errorf("%s: want absent and not desired; absent=%v", n, absent)
				}
			}
			if PodDisruptionBudgetsEnabled(tt.hi) {
				pdb := ServerPDB(tt.hi)
				if *pdb.Spec.MaxUnavailable != tt.maxUnavailable {
					t.Errorf("maxUnavailable = %v, want %v", pdb.Spec.MaxUnavailable, tt.maxUnavailable)
				}
				sel, _ := metav1.LabelSelectorAsSelector(pdb.Spec.Selector)
				if !sel.Matches(labels.Set(ServerDeployment(tt.hi, Inputs{Images: DefaultImages}).Spec.Template.Labels)) {
					t.Error("server PDB selector does not match the server pods")
				}
			}
		})
	}
}

func TestNetworkPolicies(t *testing.T) {
	hi := hardened()
	pods := map[string]labels.Set{}
	for _, c := range []string{ComponentServer, ComponentPostgres, ComponentRedis, ComponentFusionAuth, ComponentMigration, ComponentBackup, ComponentRestore} {
		pods[c] = labels.Set(Labels(hi, c, "1.2.3"))
	}
	other := hi.DeepCopy()
	other.Name = "other"
	pods["other instance's server"] = labels.Set(Labels(other, ComponentServer, "1.2.3"))

	// who may reach each component, per the issue: PostgreSQL from the server, FusionAuth and the
	// Jobs; Redis and FusionAuth from the server only.
	allowed := map[string][]string{
		ComponentPostgres:   {ComponentServer, ComponentFusionAuth, ComponentMigration, ComponentBackup, ComponentRestore},
		ComponentRedis:      {ComponentServer},
		ComponentFusionAuth: {ComponentServer},
	}
	policies := NetworkPolicies(hi)
	if len(policies) != 4 {
		t.Fatalf("want 4 policies (server, postgres, redis, fusionauth), got %d", len(policies))
	}
	for _, np := range policies {
		target, _ := metav1.LabelSelectorAsSelector(&np.Spec.PodSelector)
		component := ""
		for c, l := range pods {
			if target.Matches(l) {
				if component != "" {
					t.Fatalf("%s selects more than one component", np.Name)
				}
				component = c
			}
		}
		if !slices.Equal(np.Spec.PolicyTypes, []networkingv1.PolicyType{networkingv1.PolicyTypeIngress}) || len(np.Spec.Ingress) != 1 {
			t.Fatalf("%s: want one ingress rule and ingress-only policy", np.Name)
		}
		rule := np.Spec.Ingress[0]
		if component == ComponentServer {
			if rule.From[0].NamespaceSelector == nil || len(rule.From[0].NamespaceSelector.MatchLabels) != 0 || rule.Ports[0].Port.IntValue() != ServerPort {
				t.Errorf("server policy: want every namespace on port %d, got %+v", ServerPort, rule)
			}
			continue
		}
		from, _ := metav1.LabelSelectorAsSelector(rule.From[0].PodSelector)
		for c, l := range pods {
			want := slices.Contains(allowed[component], c)
			if got := from.Matches(l); got != want {
				t.Errorf("%s policy admits %q = %v, want %v", component, c, got, want)
			}
		}
	}

	narrowed := hardened()
	ingressNS := networkingv1.NetworkPolicyPeer{NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"kubernetes.io/metadata.name": "ingress-nginx"}}}
	narrowed.Spec.NetworkPolicy.ServerFrom = []networkingv1.NetworkPolicyPeer{ingressNS}
	if got := ServerNetworkPolicy(narrowed).Spec.Ingress[0].From; len(got) != 1 || got[0].NamespaceSelector.MatchLabels["kubernetes.io/metadata.name"] != "ingress-nginx" {
		t.Errorf("serverFrom not honoured: %+v", got)
	}

	external := hardened()
	external.Spec.Redis = heimdallv1.RedisSpec{External: &heimdallv1.ExternalRedis{Host: "cache"}}
	desired, absent := names(Desired(external, Inputs{Images: DefaultImages})), names(Absent(external))
	if slices.Contains(desired, "NetworkPolicy/auth-redis") || !slices.Contains(absent, "NetworkPolicy/auth-redis") {
		t.Errorf("external Redis must not get a policy and its old one must go: desired=%v absent=%v", desired, absent)
	}
	off := hardened()
	off.Spec.NetworkPolicy.Enabled = false
	if n := names(Absent(off)); !slices.Contains(n, "NetworkPolicy/auth") || !slices.Contains(n, "NetworkPolicy/auth-postgres") {
		t.Errorf("disabled policies must all be absent: %v", n)
	}
}
