package resources

import (
	"sigs.k8s.io/controller-runtime/pkg/client"

	heimdallv1 "github.com/heimdall-io/heimdall-operator/api/v1alpha1"
)

// Inputs are what the builders need beyond the spec, resolved by the reconciler.
type Inputs = ServerInputs

// Desired lists every child object the instance wants, in the order they should be applied:
// configuration first, then data stores, then FusionAuth, then the server.
func Desired(hi *heimdallv1.HeimdallInstance, in Inputs) []client.Object {
	var objs []client.Object
	if hi.Spec.Postgres.Managed != nil {
		objs = append(objs,
			ServiceAccount(hi, ComponentName(hi, ComponentPostgres), ComponentPostgres),
			PostgresInitConfigMap(hi))
		for _, s := range PostgresServices(hi) {
			objs = append(objs, s)
		}
		objs = append(objs, PostgresStatefulSet(hi, in.Images))
	}
	if hi.Spec.Redis.Managed != nil {
		objs = append(objs, ServiceAccount(hi, ComponentName(hi, ComponentRedis), ComponentRedis))
		for _, s := range RedisServices(hi) {
			objs = append(objs, s)
		}
		objs = append(objs, RedisStatefulSet(hi, in.Images))
	}
	if hi.Spec.FusionAuth.Managed != nil {
		objs = append(objs,
			ServiceAccount(hi, ComponentName(hi, ComponentFusionAuth), ComponentFusionAuth),
			KickstartConfigMap(hi), FusionAuthService(hi), FusionAuthDeployment(hi, in.Images))
	}
	if hi.Spec.PodTemplate.ServiceAccountName == "" {
		objs = append(objs, ServiceAccount(hi, ServerName(hi), ComponentServer))
	}
	if in.JWTVerifyKeys != nil {
		// Before the Deployment: a pod must never start with an older key set than its template names.
		objs = append(objs, JWTVerifySecret(hi, in.JWTVerifyKeys))
	}
	objs = append(objs, ServerService(hi), ServerDeployment(hi, in))
	if AutoscalingEnabled(hi) && !in.Paused { // a paused server's HPA is deleted (controllers/backup.go)
		objs = append(objs, ServerHPA(hi))
	}
	objs = append(objs, DesiredBackupObjects(hi, in)...)
	if hi.Spec.Ingress != nil {
		objs = append(objs, ServerIngress(hi))
	}
	if PodDisruptionBudgetsEnabled(hi) {
		objs = append(objs, ServerPDB(hi))
	}
	if FusionAuthNeedsPDB(hi) {
		objs = append(objs, FusionAuthPDB(hi))
	}
	if NetworkPoliciesEnabled(hi) {
		for _, np := range NetworkPolicies(hi) {
			objs = append(objs, np)
		}
	}
	return objs
}

// Absent lists child objects this spec no longer wants (a component switched to external,
// autoscaling turned off). The reconciler deletes them when they exist and the instance controls
// them. Persistent volume claims are never listed: they follow spec.pvcRetentionPolicy.
func Absent(hi *heimdallv1.HeimdallInstance) []client.Object {
	var objs []client.Object
	if hi.Spec.Postgres.Managed == nil {
		objs = append(objs, PostgresStatefulSet(withManagedDefaults(hi), DefaultImages), PostgresInitConfigMap(hi))
		for _, s := range PostgresServices(hi) {
			objs = append(objs, s)
		}
		objs = append(objs, ServiceAccount(hi, ComponentName(hi, ComponentPostgres), ComponentPostgres))
	}
	if hi.Spec.Redis.Managed == nil {
		objs = append(objs, RedisStatefulSet(withManagedDefaults(hi), DefaultImages))
		for _, s := range RedisServices(hi) {
			objs = append(objs, s)
		}
		objs = append(objs, ServiceAccount(hi, ComponentName(hi, ComponentRedis), ComponentRedis))
	}
	if hi.Spec.FusionAuth.Managed == nil {
		objs = append(objs, FusionAuthDeployment(withManagedDefaults(hi), DefaultImages), FusionAuthService(hi),
			KickstartConfigMap(hi), ServiceAccount(hi, ComponentName(hi, ComponentFusionAuth), ComponentFusionAuth))
	}
	if hi.Spec.PodTemplate.ServiceAccountName != "" {
		objs = append(objs, ServiceAccount(hi, ServerName(hi), ComponentServer))
	}
	if !AutoscalingEnabled(hi) {
		objs = append(objs, ServerHPA(withManagedDefaults(hi)))
	}
	objs = append(objs, AbsentBackupObjects(hi)...)
	if hi.Spec.Ingress == nil {
		objs = append(objs, AbsentIngress(hi))
	}
	if !PodDisruptionBudgetsEnabled(hi) {
		objs = append(objs, ServerPDB(hi))
	}
	if !FusionAuthNeedsPDB(hi) {
		objs = append(objs, FusionAuthPDB(hi))
	}
	if !NetworkPoliciesEnabled(hi) {
		for _, np := range AbsentNetworkPolicies(hi) {
			objs = append(objs, np)
		}
	} else {
		objs = append(objs, absentComponentPolicies(hi)...)
	}
	return objs
}

// withManagedDefaults returns a copy whose optional sections are non-nil, so builders can name
// objects of components the spec does not run.
func withManagedDefaults(hi *heimdallv1.HeimdallInstance) *heimdallv1.HeimdallInstance {
	c := hi.DeepCopy()
	if c.Spec.Postgres.Managed == nil {
		c.Spec.Postgres = heimdallv1.PostgresSpec{Managed: &heimdallv1.ManagedPostgres{}}
	}
	if c.Spec.Redis.Managed == nil {
		c.Spec.Redis = heimdallv1.RedisSpec{Managed: &heimdallv1.ManagedRedis{}}
	}
	if c.Spec.FusionAuth.Managed == nil {
		c.Spec.FusionAuth = heimdallv1.FusionAuthSpec{Managed: &heimdallv1.ManagedFusionAuth{}}
	}
	if c.Spec.Autoscaling == nil {
		c.Spec.Autoscaling = &heimdallv1.AutoscalingSpec{}
	}
	return c
}

// absentComponentPolicies are the policies of components that are external now.
func absentComponentPolicies(hi *heimdallv1.HeimdallInstance) []client.Object {
	var objs []client.Object
	if hi.Spec.Postgres.Managed == nil {
		objs = append(objs, componentPolicy(hi, ComponentPostgres, PostgresPort))
	}
	if hi.Spec.Redis.Managed == nil {
		objs = append(objs, componentPolicy(hi, ComponentRedis, RedisPort))
	}
	if hi.Spec.FusionAuth.Managed == nil {
		objs = append(objs, componentPolicy(hi, ComponentFusionAuth, FusionAuthPort))
	}
	return objs
}
