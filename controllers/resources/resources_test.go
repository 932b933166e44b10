package resources

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	heimdallv1 "github.com/heimdall-io/heimdall-operator/api/v1alpha1"
)

// defaulted is an instance as the API server returns it after applying the schema defaults.
func defaulted() *heimdallv1.HeimdallInstance {
	return &heimdallv1.HeimdallInstance{
		ObjectMeta: metav1.ObjectMeta{Name: "auth", Namespace: "prod"},
		Spec: heimdallv1.HeimdallInstanceSpec{
			Version: "1.2.3", Issuer: "https://auth.example.com", Replicas: ptr.To[int32](3),
			LogLevel: "info", Environment: "production",
			Tokens:    heimdallv1.TokensSpec{AccessTokenLifetimeSeconds: 900, RefreshTokenLifetimeSeconds: 2592000},
			RateLimit: heimdallv1.RateLimitSpec{RequestsPerHour: 1000, AnonymousRequestsPerHour: 100},
			Postgres: heimdallv1.PostgresSpec{Managed: &heimdallv1.ManagedPostgres{Version: "14",
				Storage: heimdallv1.StorageSpec{Size: resource.MustParse("50Gi")}}},
			Redis: heimdallv1.RedisSpec{Managed: &heimdallv1.ManagedRedis{Version: "7", MaxMemory: "2gb",
				Storage: heimdallv1.StorageSpec{Size: resource.MustParse("8Gi")}}},
			FusionAuth:  heimdallv1.FusionAuthSpec{Managed: &heimdallv1.ManagedFusionAuth{Version: "1.60.1", Replicas: 1, Memory: "512M"}},
			Autoscaling: &heimdallv1.AutoscalingSpec{Enabled: true, MinReplicas: 3, MaxReplicas: 10, TargetCPUUtilizationPercentage: 70, TargetMemoryUtilizationPercentage: 80},
		},
	}
}

func names(objs []client.Object) []string {
	var out []string
	for _, o := range objs {
		out = append(out, o.GetObjectKind().GroupVersionKind().Kind+"/"+o.GetName())
	}
	return out
}

func TestDesiredAndAbsent(t *testing.T) {
	external := defaulted()
	external.Spec.Postgres = heimdallv1.PostgresSpec{External: &heimdallv1.ExternalPostgres{Host: "db", Port: 5432, Database: "heimdall", SSLMode: "require",
		CredentialsSecretRef: heimdallv1.CredentialsSecretRef{Name: "db"}}}
	external.Spec.Autoscaling.Enabled = false

	tests := []struct {
		name        string
		hi          *heimdallv1.HeimdallInstance
		wantDesired []string
		wantAbsent  []string
		notDesired  []string
	}{
		{
			name:        "all managed, autoscaled",
			hi:          defaulted(),
			wantDesired: []string{"StatefulSet/auth-postgres", "StatefulSet/auth-redis", "Deployment/auth-fusionauth", "Deployment/auth", "HorizontalPodAutoscaler/auth", "Service/auth"},
			notDesired:  []string{},
		},
		{
			name:        "external postgres, fixed replicas",
			hi:          external,
			wantDesired: []string{"StatefulSet/auth-redis", "Deployment/auth"},
			wantAbsent:  []string{"StatefulSet/auth-postgres", "Service/auth-postgres", "ConfigMap/auth-postgres-init", "HorizontalPodAutoscaler/auth"},
			notDesired:  []string{"StatefulSet/auth-postgres", "HorizontalPodAutoscaler/auth"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			desired := strings.Join(names(Desired(tt.hi, Inputs{Images: DefaultImages})), ",")
			absent := strings.Join(names(Absent(tt.hi)), ",")
			for _, w := range tt.wantDesired {
				if !strings.Contains(desired, w) {
					t.Errorf("desired lacks %s: %s", w, desired)
				}
			}
			for _, w := range tt.notDesired {
				if strings.Contains(desired, w) {
					t.Errorf("desired has %s", w)
				}
			}
			for _, w := range tt.wantAbsent {
				if !strings.Contains(absent, w) {
					t.Errorf("absent lacks %s: %s", w, absent)
				}
			}
			for _, d := range Desired(tt.hi, Inputs{Images: DefaultImages}) {
				if strings.Contains(absent, d.GetObjectKind().GroupVersionKind().Kind+"/"+d.GetName()+",") {
					t.Errorf("%s is both desired and absent", d.GetName())
				}
			}
		})
	}
}

func TestImages(t *testing.T) {
	env := map[string]string{"RELATED_IMAGE_HEIMDALL_SERVER": "mirror.local/heimdall", "RELATED_IMAGE_REDIS": " "}
	img := ImagesFromEnv(func(k string) string { return env[k] })
	hi := defaulted()
	tests := []struct{ got, want string }{
		{ServerImage(hi, img), "mirror.local/heimdall:1.2.3"},
		{redisImage(hi.Spec.Redis.Managed, img), "docker.io/library/redis:7-alpine"},
		{postgresImage(hi.Spec.Postgres.Managed, img), "docker.io/library/postgres:14"},
		{fusionAuthImage(hi.Spec.FusionAuth.Managed, img), "docker.io/fusionauth/fusionauth-app:1.60.1"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("got %q, want %q", tt.got, tt.want)
		}
	}
	hi.Spec.Image = "custom/heimdall@sha256:abc"
	if got := ServerImage(hi, img); got != "custom/heimdall@sha256:abc" {
		t.Errorf("spec.image not honoured: %s", got)
	}
}

func TestConfigHashFollowsEnvAndSecrets(t *testing.T) {
	hash := func(hi *heimdallv1.HeimdallInstance, secrets string) string {
		return ServerDeployment(hi, Inputs{Images: DefaultImages, SecretsHash: secrets}).Spec.Template.Annotations[ConfigHashAnnotation]
	}
	base := hash(defaulted(), "s1")
	if base != hash(defaulted(), "s1") {
		t.Fatal("hash is not deterministic")
	}
	if base == hash(defaulted(), "s2") {
		t.Error("secret change does not change the hash")
	}
	changed := defaulted()
	changed.Spec.LogLevel = "debug"
	if base == hash(changed, "s1") {
		t.Error("env change does not change the hash")
	}
	bumped := defaulted()
	bumped.Spec.Version = "9.9.9"
	if base != hash(bumped, "s1") {
		t.Error("a version bump alone should not change the config hash")
	}
}

func TestGeneratedSecrets(t *testing.T) {
	hi := defaulted()
	for _, g := range GeneratedSecrets(hi) {
		s, err := g.NewSecret(hi)
		if err != nil {
			t.Fatalf("%s: %v", g.Name, err)
		}
		for _, k := range g.Keys {
			if len(s.Data[k]) == 0 {
				t.Errorf("%s: key %s empty", g.Name, k)
			}
		}
		if g.Component == ComponentJWT {
			if err := ValidateRSAKeyPair(s.Data[KeyPrivatePEM], s.Data[KeyPublicPEM]); err != nil {
				t.Errorf("generated pair invalid: %v", err)
			}
		}
	}
	hi.Spec.JWT.SecretRef = &corev1.LocalObjectReference{Name: "mine"}
	hi.Spec.Redis = heimdallv1.RedisSpec{External: &heimdallv1.ExternalRedis{Host: "r"}}
	for _, g := range GeneratedSecrets(hi) {
		if g.Component == ComponentJWT || g.Component == ComponentRedis {
			t.Errorf("generates %s although the user brings it", g.Name)
		}
	}
}

func TestValidateRSAKeyPair(t *testing.T) {
	priv, pub, err := NewRSAKeyPair(2048)
	if err != nil {
		t.Fatal(err)
	}
	_, otherPub, _ := NewRSAKeyPair(2048)
	tests := []struct {
		name      string
		priv, pub []byte
		wantErr   string
	}{
		{"matching pair", priv, pub, ""},
		{"mismatched pair", priv, otherPub, "does not match"},
		{"garbage private key", []byte("nope"), pub, "private.pem is not PEM"},
		{"garbage public key", priv, []byte("nope"), "public.pem is not PEM"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ValidateRSAKeyPair(tt.priv, tt.pub)
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Errorf("got %v, want %q", err, tt.wantErr)
			}
		})
	}
}

func TestPVCRetention(t *testing.T) {
	hi := defaulted()
	if got := PostgresStatefulSet(hi, DefaultImages).Spec.PersistentVolumeClaimRetentionPolicy.WhenDeleted; got != "Retain" {
		t.Errorf("default whenDeleted = %s, want Retain", got)
	}
	hi.Spec.PVCRetentionPolicy = heimdallv1.PVCDelete
	if got := RedisStatefulSet(hi, DefaultImages).Spec.PersistentVolumeClaimRetentionPolicy.WhenDeleted; got != "Delete" {
		t.Errorf("whenDeleted = %s, want Delete", got)
	}
}
