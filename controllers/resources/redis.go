package resources

import (
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	heimdallv1 "github.com/heimdall-io/heimdall-operator/api/v1alpha1"
)

// redisCommand is the seed's `redis-server --appendonly yes` with its "Redis Optimization"
// settings, plus AUTH from the generated Secret.
const redisCommand = `exec redis-server --appendonly yes --dir /data ` +
	`--maxmemory "$REDIS_MAXMEMORY" --maxmemory-policy allkeys-lru ` +
	`--save "900 1 300 10 60 10000" --requirepass "$REDIS_PASSWORD"`

const redisPing = `REDISCLI_AUTH="$REDIS_PASSWORD" redis-cli -h 127.0.0.1 ping | grep -q PONG`

// RedisStatefulSet runs the managed Redis.
func RedisStatefulSet(hi *heimdallv1.HeimdallInstance, img Images) *appsv1.StatefulSet {
	m := hi.Spec.Redis.Managed
	pod := corev1.PodSpec{
		Containers: []corev1.Container{{
			Name:    "redis",
			Image:   redisImage(m, img),
			Command: []string{"sh", "-c", redisCommand},
			Ports:   []corev1.ContainerPort{{Name: "redis", ContainerPort: RedisPort, Protocol: corev1.ProtocolTCP}},
			Env: []corev1.EnvVar{
				{Name: "REDIS_MAXMEMORY", Value: m.MaxMemory},
				secretEnv("REDIS_PASSWORD", ComponentName(hi, ComponentRedis), KeyPassword),
			},
			VolumeMounts: []corev1.VolumeMount{
				{Name: dataVolume, MountPath: "/data"},
				{Name: "tmp", MountPath: "/tmp"},
			},
			Resources:       m.Resources,
			ReadinessProbe:  execProbe([]string{"sh", "-c", redisPing}, 5, 10, 3),
			LivenessProbe:   execProbe([]string{"sh", "-c", redisPing}, 30, 10, 6),
			SecurityContext: containerSecurityContext(),
		}},
		Volumes: []corev1.Volume{emptyDir("tmp")},
	}
	return singleReplicaStatefulSet(hi, ComponentRedis, m.Version, HeadlessName(hi, ComponentRedis), m.Storage, redisUID, pod)
}

// RedisServices are the client Service and the StatefulSet's headless Service.
func RedisServices(hi *heimdallv1.HeimdallInstance) []*corev1.Service {
	return statefulServices(hi, ComponentRedis, "redis", RedisPort)
}
