package resources

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	heimdallv1 "github.com/heimdall-io/heimdall-operator/api/v1alpha1"
)

// ConfigHashAnnotation on the server pod template digests the environment and the Secret data the
// pods consume, so changing either rolls the pods.
const ConfigHashAnnotation = "heimdall.io/config-hash"

const (
	keysMountPath = "/keys"
	migrateBinary = "/heimdall-migrate" // as Dockerfile.server lays the image out
)

// ServerInputs are what the server Deployment needs beyond the spec.
type ServerInputs struct {
	Images Images
	// SecretsHash digests the data of every Secret the pods consume.
	SecretsHash string
	// JWTVerifyKeys are extra verification public keys (<kid>.pem → PEM) during JWT key
	// rotation; nil: no verification Secret and no mount. See controllers/jwtrotation.go.
	JWTVerifyKeys map[string][]byte
	// HandoffReplicas, with autoscaling on, is the replica count the operator keeps setting until
	// the HPA has taken spec.replicas over (nil: leave the field to the HPA). See
	// controllers.handoffReplicas.
	HandoffReplicas *int32
	// ServingVersion is the version the server runs: spec.version once its migration Job has
	// succeeded, the previous version until then (see controllers/upgrade.go). Empty means
	// spec.version.
	ServingVersion string
	// ServingImage, when set, is the image of a held-back ServingVersion that spec.image no
	// longer names.
	ServingImage string
	// Paused stops the server while a restore replaces its database: 0 replicas and no HPA
	// (see controllers/restore.go).
	Paused bool
}

// ServerDeployment is the Heimdall API Deployment, shaped after the seed's heimdall-deployment.yaml.
func ServerDeployment(hi *heimdallv1.HeimdallInstance, in ServerInputs) *appsv1.Deployment {
	env := ServerEnv(hi)
	version := cmp.Or(in.ServingVersion, hi.Spec.Version)
	labels := Labels(hi, ComponentServer, version)
	annotations := map[string]string{ConfigHashAnnotation: configHash(env, in.SecretsHash)}
	for k, v := range hi.Spec.PodTemplate.Annotations {
		annotations[k] = v
	}
	image := cmp.Or(in.ServingImage, serverImage(hi, version, in.Images))
	pt := hi.Spec.PodTemplate

	pod := serverPodSpec(hi)
	pod.TopologySpreadConstraints = pt.TopologySpreadConstraints
	pod.Containers = []corev1.Container{{
		Name:  "heimdall",
		Image: image,
		Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: ServerPort, Protocol: corev1.ProtocolTCP}},
		Env:   env,
		VolumeMounts: []corev1.VolumeMount{
			{Name: "jwt-keys", MountPath: keysMountPath, ReadOnly: true},
			{Name: "tmp", MountPath: "/tmp"},
		},
		Resources:       hi.Spec.Resources,
		LivenessProbe:   httpProbe("/health/live", ServerPort, 30, 10, 3),
		ReadinessProbe:  httpProbe("/health/ready", ServerPort, 5, 5, 3),
		SecurityContext: containerSecurityContext(),
	}}
	pod.Volumes = []corev1.Volume{
		{Name: "jwt-keys", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{
			SecretName:  Refs(hi).JWT,
			Items:       []corev1.KeyToPath{{Key: KeyPrivatePEM, Path: KeyPrivatePEM}, {Key: KeyPublicPEM, Path: KeyPublicPEM}},
			DefaultMode: ptr.To[int32](0o440),
		}}},
		emptyDir("tmp"),
	}

	d := &appsv1.Deployment{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
		ObjectMeta: metav1.ObjectMeta{Name: ServerName(hi), Namespace: hi.Namespace, Labels: labels},
		Spec: appsv1.DeploymentSpec{
			Selector: &metav1.LabelSelector{MatchLabels: SelectorLabels(hi, ComponentServer)},
			Strategy: appsv1.DeploymentStrategy{
				Type: appsv1.RollingUpdateDeploymentStrategyType,
				RollingUpdate: &appsv1.RollingUpdateDeployment{
					MaxUnavailable: ptr.To(intstr.FromInt32(0)),
					MaxSurge:       ptr.To(intstr.FromInt32(1)),
				},
			},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels, Annotations: annotations},
				Spec:       pod,
			},
		},
	}
	if AutoscalingEnabled(hi) {
		// While the HPA is on it owns replicas; the operator only holds the current count until
		// the HPA has written the field once, so dropping it does not reset the Deployment to 1.
		d.Spec.Replicas = in.HandoffReplicas
	} else {
		d.Spec.Replicas = ptr.To(ptr.Deref(hi.Spec.Replicas, 3))
	}
	switch {
	case in.Paused:
		d.Spec.Replicas = ptr.To[int32](0)
	case AutoscalingEnabled(hi) && ptr.Deref(d.Spec.Replicas, 1) == 0:
		// Leaving a pause: an HPA never scales a Deployment up from zero.
		d.Spec.Replicas = ptr.To(hi.Spec.Autoscaling.MinReplicas)
	}
	mountJWTVerifyKeys(hi, &d.Spec.Template, in.JWTVerifyKeys)
	return d
}

// serverPodSpec is what every pod running the server image shares (the server's and the
// migration Job's): identity, security context and placement.
func serverPodSpec(hi *heimdallv1.HeimdallInstance) corev1.PodSpec {
	pt := hi.Spec.PodTemplate
	return corev1.PodSpec{
		ServiceAccountName:           ServerServiceAccountName(hi),
		AutomountServiceAccountToken: ptr.To(false),
		SecurityContext:              podSecurityContext(serverUID),
		ImagePullSecrets:             pt.ImagePullSecrets,
		NodeSelector:                 pt.NodeSelector,
		Tolerations:                  pt.Tolerations,
		Affinity:                     pt.Affinity,
	}
}

// ServerServiceAccountName is the user's ServiceAccount, or the one the operator creates.
func ServerServiceAccountName(hi *heimdallv1.HeimdallInstance) string {
	if n := hi.Spec.PodTemplate.ServiceAccountName; n != "" {
		return n
	}
	return ServerName(hi)
}

// ServerService is the API Service: port 80 named http to the pods' 8080.
func ServerService(hi *heimdallv1.HeimdallInstance) *corev1.Service {
	return clusterService(hi, ServerName(hi), ComponentServer, hi.Spec.Version,
		corev1.ServicePort{Name: "http", Port: ServerServicePort, TargetPort: intstr.FromString("http"), Protocol: corev1.ProtocolTCP})
}

// ServerEnv is the server container's environment, named as the seed's "Environment Variables
// Reference". Secret-backed variables come first so $(VAR) references can expand them.
func ServerEnv(hi *heimdallv1.HeimdallInstance) []corev1.EnvVar {
	refs := Refs(hi)
	s := hi.Spec
	env := []corev1.EnvVar{
		{Name: "PORT", Value: strconv.Itoa(ServerPort)},
		{Name: "ENV", Value: s.Environment},
		{Name: "LOG_LEVEL", Value: s.LogLevel},
	}
	env = append(env, databaseEnv(hi)...)
	env = append(env, redisEnv(hi)...)
	env = append(env,
		corev1.EnvVar{Name: "FUSIONAUTH_URL", Value: fusionAuthURL(hi)},
		secretEnv("FUSIONAUTH_API_KEY", refs.FusionAuthAPIKey.Name, refs.FusionAuthAPIKey.Key),
		corev1.EnvVar{Name: "FUSIONAUTH_TENANT_ID", Value: fusionAuthTenantID(hi)},
		corev1.EnvVar{Name: "FUSIONAUTH_APPLICATION_ID", Value: fusionAuthApplicationID(hi)},
		corev1.EnvVar{Name: "JWT_PRIVATE_KEY_PATH", Value: keysMountPath + "/" + KeyPrivatePEM},
		corev1.EnvVar{Name: "JWT_PUBLIC_KEY_PATH", Value: keysMountPath + "/" + KeyPublicPEM},
		corev1.EnvVar{Name: "JWT_ISSUER", Value: Issuer(hi)},
		corev1.EnvVar{Name: "ACCESS_TOKEN_LIFETIME", Value: strconv.Itoa(int(s.Tokens.AccessTokenLifetimeSeconds))},
		corev1.EnvVar{Name: "REFRESH_TOKEN_LIFETIME", Value: strconv.Itoa(int(s.Tokens.RefreshTokenLifetimeSeconds))},
		corev1.EnvVar{Name: "RATE_LIMIT_REQUESTS_PER_HOUR", Value: strconv.Itoa(int(s.RateLimit.RequestsPerHour))},
		corev1.EnvVar{Name: "RATE_LIMIT_ANONYMOUS_REQUESTS_PER_HOUR", Value: strconv.Itoa(int(s.RateLimit.AnonymousRequestsPerHour))},
	)
	if len(s.CORSAllowedOrigins) > 0 {
		env = append(env, corev1.EnvVar{Name: "CORS_ALLOWED_ORIGINS", Value: strings.Join(s.CORSAllowedOrigins, ",")})
	}
	if smtp := s.SMTP; smtp != nil {
		env = append(env,
			corev1.EnvVar{Name: "SMTP_HOST", Value: smtp.Host},
			corev1.EnvVar{Name: "SMTP_PORT", Value: strconv.Itoa(int(smtp.Port))},
		)
		if smtp.From != "" {
			env = append(env, corev1.EnvVar{Name: "SMTP_FROM", Value: smtp.From})
		}
		if c := refs.SMTP; c != nil {
			env = append(env, secretEnv("SMTP_USERNAME", c.Name, c.UsernameKey), secretEnv("SMTP_PASSWORD", c.Name, c.PasswordKey))
		}
	}
	return env
}

// postgresEndpoint is where the Heimdall database lives: the managed StatefulSet's Service, or
// spec.postgres.external.
type postgresEndpoint struct {
	Host     string
	Port     int32
	Database string // the Heimdall database
	SSLMode  string
}

func heimdallPostgres(hi *heimdallv1.HeimdallInstance) postgresEndpoint {
	if ext := hi.Spec.Postgres.External; ext != nil {
		return postgresEndpoint{Host: ext.Host, Port: ext.Port, Database: ext.Database, SSLMode: ext.SSLMode}
	}
	return postgresEndpoint{Host: ComponentName(hi, ComponentPostgres), Port: PostgresPort, Database: heimdallDatabase, SSLMode: "disable"}
}

// databaseEnv builds DATABASE_URL from the credential Secret, as the seed does with DB_USERNAME and
// DB_PASSWORD (declared first so Kubernetes expands them).
func databaseEnv(hi *heimdallv1.HeimdallInstance) []corev1.EnvVar {
	c := Refs(hi).Database
	pg := heimdallPostgres(hi)
	return []corev1.EnvVar{
		secretEnv("DB_USERNAME", c.Name, c.UsernameKey),
		secretEnv("DB_PASSWORD", c.Name, c.PasswordKey),
		{Name: "DATABASE_URL", Value: fmt.Sprintf("postgresql://$(DB_USERNAME):$(DB_PASSWORD)@%s:%d/%s?sslmode=%s", pg.Host, pg.Port, pg.Database, pg.SSLMode)},
	}
}

func redisEnv(hi *heimdallv1.HeimdallInstance) []corev1.EnvVar {
	scheme, host, port, db := "redis", ComponentName(hi, ComponentRedis), int32(RedisPort), int32(0)
	if ext := hi.Spec.Redis.External; ext != nil {
		host, port, db = ext.Host, ext.Port, ext.Database
		if ext.TLS {
			scheme = "rediss"
		}
	}
	var env []corev1.EnvVar
	auth := ""
	if p := Refs(hi).RedisPassword; p != nil {
		env = append(env, secretEnv("REDIS_PASSWORD", p.Name, p.Key))
		auth = ":$(REDIS_PASSWORD)@"
	}
	return append(env, corev1.EnvVar{Name: "REDIS_URL", Value: fmt.Sprintf("%s://%s%s:%d/%d", scheme, auth, host, port, db)})
}

func fusionAuthURL(hi *heimdallv1.HeimdallInstance) string {
	if ext := hi.Spec.FusionAuth.External; ext != nil {
		return strings.TrimSuffix(ext.URL, "/")
	}
	return fmt.Sprintf("http://%s:%d", ComponentName(hi, ComponentFusionAuth), FusionAuthPort)
}

func fusionAuthTenantID(hi *heimdallv1.HeimdallInstance) string {
	if ext := hi.Spec.FusionAuth.External; ext != nil && ext.TenantID != "" {
		return ext.TenantID
	}
	// A managed FusionAuth has a single tenant; the server then sends no tenant header.
	return "default"
}

func fusionAuthApplicationID(hi *heimdallv1.HeimdallInstance) string {
	if ext := hi.Spec.FusionAuth.External; ext != nil {
		return ext.ApplicationID
	}
	return ManagedApplicationID
}

func secretEnv(name, secret, key string) corev1.EnvVar {
	return corev1.EnvVar{Name: name, ValueFrom: &corev1.EnvVarSource{
		SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: secret}, Key: key},
	}}
}

// configHash digests the rendered environment with the consumed Secret data.
func configHash(env []corev1.EnvVar, secretsHash string) string {
	b, _ := json.Marshal(env) // []EnvVar always marshals
	sum := sha256.Sum256(append(b, secretsHash...))
	return hex.EncodeToString(sum[:])
}

// clusterService is a ClusterIP Service selecting one component's pods.
func clusterService(hi *heimdallv1.HeimdallInstance, name, component, version string, ports ...corev1.ServicePort) *corev1.Service {
	return &corev1.Service{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Service"},
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: hi.Namespace, Labels: Labels(hi, component, version)},
		Spec: corev1.ServiceSpec{
			Type:     corev1.ServiceTypeClusterIP,
			Selector: SelectorLabels(hi, component),
			Ports:    ports,
		},
	}
}

// ServiceAccount is a ServiceAccount that mounts no API token: no component calls the API server.
func ServiceAccount(hi *heimdallv1.HeimdallInstance, name, component string) *corev1.ServiceAccount {
	return &corev1.ServiceAccount{
		TypeMeta:                     metav1.TypeMeta{APIVersion: "v1", Kind: "ServiceAccount"},
		ObjectMeta:                   metav1.ObjectMeta{Name: name, Namespace: hi.Namespace, Labels: Labels(hi, component, "")},
		AutomountServiceAccountToken: ptr.To(false),
	}
}
