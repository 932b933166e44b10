// Package resources builds the desired child objects of a HeimdallInstance. Every function here is
// pure: it takes the instance and resolved inputs and returns an object, with no client calls, so
// the reconciler can diff and apply the result and tests can check it with plain tables.
package resources

import (
	"fmt"

	heimdallv1 "github.com/heimdall-io/heimdall-operator/api/v1alpha1"
)

// Component names, used in object names and the app.kubernetes.io/component label.
const (
	ComponentServer     = "server"
	ComponentPostgres   = "postgres"
	ComponentRedis      = "redis"
	ComponentFusionAuth = "fusionauth"
	ComponentJWT        = "jwt"
	// The operator's Jobs, which talk to PostgreSQL.
	ComponentMigration = "migration"
	ComponentBackup    = "backup"
	ComponentRestore   = "restore"
)

// FieldManager is the server-side apply field manager of every object the operator writes.
const FieldManager = "heimdall-operator"

// Well-known ports.
const (
	ServerPort         = 8080
	ServerServicePort  = 80
	PostgresPort       = 5432
	RedisPort          = 6379
	FusionAuthPort     = 9011
	heimdallDatabase   = "heimdall"
	fusionAuthDatabase = "fusionauth"
)

// Secret keys the operator writes into the Secrets it generates.
const (
	KeyUsername          = "username"
	KeyPassword          = "password"
	KeySuperuserPassword = "superuser-password"
	KeyAPIKey            = "api-key"
	KeyDBUsername        = "database-username"
	KeyDBPassword        = "database-password"
	KeyPrivatePEM        = "private.pem"
	KeyPublicPEM         = "public.pem"
)

// ServerName is the name of the server Deployment and Service (as the seed names them after the app).
func ServerName(hi *heimdallv1.HeimdallInstance) string { return hi.Name }

// ComponentName is <instance>-<component>, the name of a component's objects.
func ComponentName(hi *heimdallv1.HeimdallInstance, component string) string {
	return hi.Name + "-" + component
}

// HeadlessName is the governing Service of a stateful component's StatefulSet.
func HeadlessName(hi *heimdallv1.HeimdallInstance, component string) string {
	return ComponentName(hi, component) + "-hl"
}

// KickstartName is the FusionAuth kickstart ConfigMap.
func KickstartName(hi *heimdallv1.HeimdallInstance) string {
	return ComponentName(hi, ComponentFusionAuth) + "-kickstart"
}

// PostgresInitName is the ConfigMap of PostgreSQL's first-start script.
func PostgresInitName(hi *heimdallv1.HeimdallInstance) string {
	return ComponentName(hi, ComponentPostgres) + "-init"
}

// Endpoint is the in-cluster URL of the Heimdall API.
func Endpoint(hi *heimdallv1.HeimdallInstance) string {
	return fmt.Sprintf("http://%s.%s.svc:%d", ServerName(hi), hi.Namespace, ServerServicePort)
}

// Labels are the recommended app.kubernetes.io labels of a component's objects.
func Labels(hi *heimdallv1.HeimdallInstance, component, version string) map[string]string {
	l := SelectorLabels(hi, component)
	l["app.kubernetes.io/part-of"] = "heimdall"
	l["app.kubernetes.io/managed-by"] = FieldManager
	if version != "" {
		l["app.kubernetes.io/version"] = version
	}
	return l
}

// SelectorLabels are the stable subset of Labels used in selectors (never the version).
func SelectorLabels(hi *heimdallv1.HeimdallInstance, component string) map[string]string {
	return map[string]string{
		"app.kubernetes.io/name":      "heimdall",
		"app.kubernetes.io/instance":  hi.Name,
		"app.kubernetes.io/component": component,
	}
}
