package resources

import (
	"encoding/json"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	heimdallv1 "github.com/heimdall-io/heimdall-operator/api/v1alpha1"
)

const (
	kickstartDir  = "/usr/local/fusionauth/kickstart"
	kickstartFile = "kickstart.json"
	// kickstartAPIKeyEnv carries the generated API key into the kickstart file (#{ENV.…}).
	kickstartAPIKeyEnv = "HEIMDALL_FUSIONAUTH_API_KEY"
)

// kickstart is FusionAuth's kickstart document: on the first start of an empty FusionAuth it
// creates the API key the server uses and the Heimdall application users register with.
func kickstart() string {
	doc := map[string]any{
		"variables": map[string]string{
			"apiKey":        "#{ENV." + kickstartAPIKeyEnv + "}",
			"applicationId": ManagedApplicationID,
		},
		"apiKeys": []map[string]string{{
			"key":         "#{apiKey}",
			"description": "Heimdall server (managed by heimdall-operator)",
		}},
		"requests": []map[string]any{{
			"method": "POST",
			"url":    "/api/application/#{applicationId}",
			"body":   map[string]any{"application": map[string]any{"name": "Heimdall"}},
		}},
	}
	b, _ := json.MarshalIndent(doc, "", "  ") // static maps always marshal
	return string(b)
}

// KickstartConfigMap holds FusionAuth's kickstart file.
func KickstartConfigMap(hi *heimdallv1.HeimdallInstance) *corev1.ConfigMap {
	return &corev1.ConfigMap{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
		ObjectMeta: metav1.ObjectMeta{Name: KickstartName(hi), Namespace: hi.Namespace, Labels: Labels(hi, ComponentFusionAuth, "")},
		Data:       map[string]string{kickstartFile: kickstart()},
	}
}

// FusionAuthDeployment runs the managed FusionAuth against PostgreSQL with database search (no
// Elasticsearch/OpenSearch is deployed).
func FusionAuthDeployment(hi *heimdallv1.HeimdallInstance, img Images) *appsv1.Deployment {
	m := hi.Spec.FusionAuth.Managed
	name := ComponentName(hi, ComponentFusionAuth)
	labels := Labels(hi, ComponentFusionAuth, m.Version)
	sc := containerSecurityContext()
	// FusionAuth writes below its install directory at run time, so its root filesystem stays
	// writable; everything else of the restricted profile applies.
	sc.ReadOnlyRootFilesystem = ptr.To(false)
	return &appsv1.Deployment{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: hi.Namespace, Labels: labels},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(m.Replicas),
			Selector: &metav1.LabelSelector{MatchLabels: SelectorLabels(hi, ComponentFusionAuth)},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					ServiceAccountName:           name,
					AutomountServiceAccountToken: ptr.To(false),
					SecurityContext:              podSecurityContext(fusionAuthUID),
					Containers: []corev1.Container{{
						Name:  "fusionauth",
						Image: fusionAuthImage(m, img),
						Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: FusionAuthPort, Protocol: corev1.ProtocolTCP}},
						Env:   fusionAuthEnv(hi),
						VolumeMounts: []corev1.VolumeMount{
							{Name: "kickstart", MountPath: kickstartDir, ReadOnly: true},
							{Name: "config", MountPath: "/usr/local/fusionauth/config"},
							{Name: "tmp", MountPath: "/tmp"},
						},
						Resources:       m.Resources,
						StartupProbe:    httpProbe("/api/status", FusionAuthPort, 10, 10, 30),
						ReadinessProbe:  httpProbe("/api/health", FusionAuthPort, 0, 10, 3),
						LivenessProbe:   httpProbe("/api/status", FusionAuthPort, 0, 20, 6),
						SecurityContext: sc,
					}},
					Volumes: []corev1.Volume{
						{Name: "kickstart", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
							LocalObjectReference: corev1.LocalObjectReference{Name: KickstartName(hi)},
							DefaultMode:          ptr.To[int32](0o444),
						}}},
						emptyDir("config"),
						emptyDir("tmp"),
					},
				},
			},
		},
	}
}

func fusionAuthEnv(hi *heimdallv1.HeimdallInstance) []corev1.EnvVar {
	m := hi.Spec.FusionAuth.Managed
	faSecret := ComponentName(hi, ComponentFusionAuth)
	pg := heimdallPostgres(hi) // the same server, FusionAuth's own database
	root := heimdallv1.CredentialsSecretRef{Name: ComponentName(hi, ComponentPostgres), UsernameKey: "", PasswordKey: KeySuperuserPassword}
	rootUser := corev1.EnvVar{Name: "DATABASE_ROOT_USERNAME", Value: "postgres"}
	if ext := hi.Spec.Postgres.External; ext != nil {
		root = withCredentialDefaults(ext.CredentialsSecretRef)
		rootUser = secretEnv("DATABASE_ROOT_USERNAME", root.Name, root.UsernameKey)
	}
	return []corev1.EnvVar{
		{Name: "DATABASE_URL", Value: fmt.Sprintf("jdbc:postgresql://%s:%d/%s?sslmode=%s", pg.Host, pg.Port, fusionAuthDatabase, pg.SSLMode)},
		rootUser,
		secretEnv("DATABASE_ROOT_PASSWORD", root.Name, root.PasswordKey),
		secretEnv("DATABASE_USERNAME", faSecret, KeyDBUsername),
		secretEnv("DATABASE_PASSWORD", faSecret, KeyDBPassword),
		{Name: "SEARCH_TYPE", Value: "database"},
		{Name: "FUSIONAUTH_APP_MEMORY", Value: m.Memory},
		{Name: "FUSIONAUTH_APP_RUNTIME_MODE", Value: "production"},
		// Production mode applies schema migrations only in silent mode.
		{Name: "FUSIONAUTH_APP_SILENT_MODE", Value: "true"},
		{Name: "FUSIONAUTH_APP_URL", Value: fusionAuthURL(hi)},
		{Name: "FUSIONAUTH_APP_KICKSTART_FILE", Value: kickstartDir + "/" + kickstartFile},
		secretEnv(kickstartAPIKeyEnv, faSecret, KeyAPIKey),
	}
}

// FusionAuthService exposes FusionAuth on 9011 inside the cluster.
func FusionAuthService(hi *heimdallv1.HeimdallInstance) *corev1.Service {
	return clusterService(hi, ComponentName(hi, ComponentFusionAuth), ComponentFusionAuth, "",
		corev1.ServicePort{Name: "http", Port: FusionAuthPort, TargetPort: intstr.FromString("http"), Protocol: corev1.ProtocolTCP})
}
