package resources

import (
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	heimdallv1 "github.com/heimdall-io/heimdall-operator/api/v1alpha1"
)

// postgresTuning is the seed's "Configure PostgreSQL" section, passed as server flags.
var postgresTuning = []string{
	"-c", "shared_buffers=256MB",
	"-c", "effective_cache_size=1GB",
	"-c", "maintenance_work_mem=64MB",
	"-c", "max_connections=200",
}

// postgresInitScript creates, on the first start only (the image runs /docker-entrypoint-initdb.d
// on an empty data directory), the server's and FusionAuth's users and databases. Passwords reach
// SQL as psql variables, never through the shell.
const postgresInitScript = `#!/bin/sh
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
  -v app_user="$HEIMDALL_DB_USERNAME" -v app_password="$HEIMDALL_DB_PASSWORD" <<'EOSQL'
CREATE ROLE :"app_user" LOGIN PASSWORD :'app_password';
CREATE DATABASE heimdall OWNER :"app_user";
EOSQL
# Only a managed FusionAuth gets its database here (its variables are set only then).
if [ -n "${FUSIONAUTH_DB_USERNAME:-}" ]; then
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
  -v fa_user="$FUSIONAUTH_DB_USERNAME" -v fa_password="$FUSIONAUTH_DB_PASSWORD" <<'EOSQL'
CREATE ROLE :"fa_user" LOGIN PASSWORD :'fa_password';
CREATE DATABASE fusionauth OWNER :"fa_user";
EOSQL
fi
`

// PostgresInitConfigMap holds the first-start script.
func PostgresInitConfigMap(hi *heimdallv1.HeimdallInstance) *corev1.ConfigMap {
	return &corev1.ConfigMap{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
		ObjectMeta: metav1.ObjectMeta{Name: PostgresInitName(hi), Namespace: hi.Namespace, Labels: Labels(hi, ComponentPostgres, "")},
		Data:       map[string]string{"01-heimdall.sh": postgresInitScript},
	}
}

// PostgresStatefulSet runs the managed PostgreSQL.
func PostgresStatefulSet(hi *heimdallv1.HeimdallInstance, img Images) *appsv1.StatefulSet {
	m := hi.Spec.Postgres.Managed
	pgSecret := ComponentName(hi, ComponentPostgres)
	faSecret := ComponentName(hi, ComponentFusionAuth)
	ready := []string{"pg_isready", "-h", "127.0.0.1", "-p", "5432", "-U", "postgres"}
	env := []corev1.EnvVar{
		{Name: "POSTGRES_USER", Value: "postgres"},
		secretEnv("POSTGRES_PASSWORD", pgSecret, KeySuperuserPassword),
		{Name: "PGDATA", Value: "/var/lib/postgresql/data/pgdata"},
		secretEnv("HEIMDALL_DB_USERNAME", pgSecret, KeyUsername),
		secretEnv("HEIMDALL_DB_PASSWORD", pgSecret, KeyPassword),
	}
	if hi.Spec.FusionAuth.Managed != nil {
		env = append(env,
			secretEnv("FUSIONAUTH_DB_USERNAME", faSecret, KeyDBUsername),
			secretEnv("FUSIONAUTH_DB_PASSWORD", faSecret, KeyDBPassword))
	}
	pod := corev1.PodSpec{
		Containers: []corev1.Container{{
			Name:  "postgres",
			Image: postgresImage(m, img),
			Args:  postgresTuning,
			Ports: []corev1.ContainerPort{{Name: "postgres", ContainerPort: PostgresPort, Protocol: corev1.ProtocolTCP}},
			Env:   env,
			VolumeMounts: []corev1.VolumeMount{
				{Name: dataVolume, MountPath: "/var/lib/postgresql/data"},
				{Name: "init", MountPath: "/docker-entrypoint-initdb.d", ReadOnly: true},
				{Name: "run", MountPath: "/var/run/postgresql"},
				{Name: "tmp", MountPath: "/tmp"},
			},
			Resources:       m.Resources,
			ReadinessProbe:  execProbe(ready, 5, 10, 3),
			LivenessProbe:   execProbe(ready, 30, 10, 6),
			SecurityContext: containerSecurityContext(),
		}},
		Volumes: []corev1.Volume{
			{Name: "init", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
				LocalObjectReference: corev1.LocalObjectReference{Name: PostgresInitName(hi)},
				DefaultMode:          ptr.To[int32](0o555),
			}}},
			emptyDir("run"),
			emptyDir("tmp"),
		},
	}
	return singleReplicaStatefulSet(hi, ComponentPostgres, m.Version, HeadlessName(hi, ComponentPostgres), m.Storage, postgresUID, pod)
}

// PostgresServices are the client Service and the StatefulSet's headless Service.
func PostgresServices(hi *heimdallv1.HeimdallInstance) []*corev1.Service {
	return statefulServices(hi, ComponentPostgres, "postgres", PostgresPort)
}
