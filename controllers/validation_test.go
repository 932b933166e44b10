package controllers

import (
	"os"
	"path/filepath"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	heimdallv1 "github.com/heimdall-io/heimdall-operator/api/v1alpha1"
)

var _ = Describe("HeimdallInstance schema", func() {
	var ns string
	BeforeEach(func() { ns = newNamespace() })

	It("fills the seed's defaults into an empty spec", func() {
		hi := createInstance(minimalInstance(ns, "defaults"))
		s := hi.Spec
		Expect(s.Replicas).To(HaveValue(BeEquivalentTo(3)))
		Expect(s.LogLevel).To(Equal("info"))
		Expect(s.Environment).To(Equal("production"))
		Expect(s.Tokens).To(Equal(heimdallv1.TokensSpec{AccessTokenLifetimeSeconds: 900, RefreshTokenLifetimeSeconds: 2592000}))
		Expect(s.RateLimit).To(Equal(heimdallv1.RateLimitSpec{RequestsPerHour: 1000, AnonymousRequestsPerHour: 100}))
		Expect(s.PVCRetentionPolicy).To(Equal(heimdallv1.PVCRetain))
		Expect(s.Postgres.Managed).NotTo(BeNil())
		Expect(s.Postgres.Managed.Version).To(Equal("14"))
		Expect(s.Postgres.Managed.Storage.Size.String()).To(Equal("50Gi"))
		Expect(s.Redis.Managed.Version).To(Equal("7"))
		Expect(s.Redis.Managed.MaxMemory).To(Equal("2gb"))
		Expect(s.FusionAuth.Managed.Version).To(MatchRegexp(`^\d+\.\d+\.\d+$`))
		Expect(s.FusionAuth.Managed.Replicas).To(BeEquivalentTo(1))
		Expect(s.Resources.Requests.Memory().String()).To(Equal("256Mi"))
		Expect(s.Resources.Requests.Cpu().String()).To(Equal("250m"))
		Expect(s.Resources.Limits.Memory().String()).To(Equal("512Mi"))
		Expect(s.Resources.Limits.Cpu().String()).To(Equal("500m"))
		Expect(s.Autoscaling).To(Equal(&heimdallv1.AutoscalingSpec{Enabled: true, MinReplicas: 3, MaxReplicas: 10,
			TargetCPUUtilizationPercentage: 70, TargetMemoryUtilizationPercentage: 80}))
	})

	DescribeTable("refuses invalid specs with a message naming the field",
		func(mutate func(*heimdallv1.HeimdallInstance), want string) {
			hi := minimalInstance(ns, "invalid")
			mutate(hi)
			err := k8s.Create(ctx, hi)
			Expect(err).To(HaveOccurred())
			Expect(err.Error()).To(ContainSubstring(want))
		},
		Entry("missing version", func(hi *heimdallv1.HeimdallInstance) { hi.Spec.Version = "" }, "spec.version"),
		Entry("name too long for its children", func(hi *heimdallv1.HeimdallInstance) { hi.Name = strings.Repeat("a", 41) }, "metadata.name"),
		Entry("issuer not a URL", func(hi *heimdallv1.HeimdallInstance) { hi.Spec.Issuer = "not a url" }, "spec.issuer"),
		Entry("access token outliving the refresh token", func(hi *heimdallv1.HeimdallInstance) {
			hi.Spec.Tokens = heimdallv1.TokensSpec{AccessTokenLifetimeSeconds: 3600, RefreshTokenLifetimeSeconds: 60}
		}, "spec.tokens.accessTokenLifetimeSeconds must be less than spec.tokens.refreshTokenLifetimeSeconds"),
		Entry("negative token lifetime", func(hi *heimdallv1.HeimdallInstance) {
			hi.Spec.Tokens = heimdallv1.TokensSpec{AccessTokenLifetimeSeconds: -1, RefreshTokenLifetimeSeconds: 60}
		}, "spec.tokens.accessTokenLifetimeSeconds"),
		Entry("postgres both managed and external", func(hi *heimdallv1.HeimdallInstance) {
			hi.Spec.Postgres = heimdallv1.PostgresSpec{Managed: &heimdallv1.ManagedPostgres{}, External: &heimdallv1.ExternalPostgres{
				Host: "db", CredentialsSecretRef: heimdallv1.CredentialsSecretRef{Name: "db"}}}
		}, "spec.postgres: exactly one of managed or external must be set"),
		Entry("fusionAuth both", func(hi *heimdallv1.HeimdallInstance) {
			hi.Spec.FusionAuth = heimdallv1.FusionAuthSpec{Managed: &heimdallv1.ManagedFusionAuth{}, External: &heimdallv1.ExternalFusionAuth{
				URL: "https://fa", APIKeySecretRef: heimdallv1.SecretKeyRef{Name: "k", Key: "k"}, ApplicationID: "7f3b2c1e-5d4a-4e8b-9c6f-0a1b2c3d4e5f"}}
		}, "spec.fusionAuth: exactly one of managed or external must be set"),
		Entry("external FusionAuth application id not a UUID", func(hi *heimdallv1.HeimdallInstance) {
			hi.Spec.FusionAuth = heimdallv1.FusionAuthSpec{External: &heimdallv1.ExternalFusionAuth{
				URL: "https://fa", APIKeySecretRef: heimdallv1.SecretKeyRef{Name: "k", Key: "k"}, ApplicationID: "app"}}
		}, "spec.fusionAuth.external.applicationId"),
		Entry("external postgres sslMode unknown", func(hi *heimdallv1.HeimdallInstance) {
			hi.Spec.Postgres = heimdallv1.PostgresSpec{External: &heimdallv1.ExternalPostgres{
				Host: "db", SSLMode: "sometimes", CredentialsSecretRef: heimdallv1.CredentialsSecretRef{Name: "db"}}}
		}, "spec.postgres.external.sslMode"),
		Entry("autoscaling min above max", func(hi *heimdallv1.HeimdallInstance) {
			hi.Spec.Autoscaling = &heimdallv1.AutoscalingSpec{Enabled: true, MinReplicas: 5, MaxReplicas: 2}
		}, "spec.autoscaling.minReplicas must not exceed spec.autoscaling.maxReplicas"),
		Entry("autoscaling target above 100", func(hi *heimdallv1.HeimdallInstance) {
			hi.Spec.Autoscaling = &heimdallv1.AutoscalingSpec{Enabled: true, MinReplicas: 1, MaxReplicas: 2, TargetCPUUtilizationPercentage: 150}
		}, "spec.autoscaling.targetCPUUtilizationPercentage"),
		Entry("replicas outside the autoscaling range", func(hi *heimdallv1.HeimdallInstance) {
			hi.Spec.Replicas = ptr.To[int32](20)
		}, "spec.replicas must lie within spec.autoscaling.minReplicas and spec.autoscaling.maxReplicas"),
		Entry("two TLS issuers", func(hi *heimdallv1.HeimdallInstance) {
			hi.Spec.Ingress = &heimdallv1.IngressSpec{Host: "api.example.com", TLS: &heimdallv1.IngressTLSSpec{Issuer: "ca", ClusterIssuer: "le"}}
		}, "spec.ingress.tls: set at most one of clusterIssuer and issuer"),
		Entry("unknown log level", func(hi *heimdallv1.HeimdallInstance) { hi.Spec.LogLevel = "verbose" }, "spec.logLevel"),
		Entry("SMTP port out of range", func(hi *heimdallv1.HeimdallInstance) {
			hi.Spec.SMTP = &heimdallv1.SMTPSpec{Host: "smtp", Port: 70000}
		}, "spec.smtp.port"),
	)

	It("refuses a component with neither managed nor external", func() {
		u := &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "heimdall.io/v1alpha1", "kind": "HeimdallInstance",
			"metadata": map[string]any{"name": "no-redis", "namespace": ns},
			"spec":     map[string]any{"version": "1.0.0", "issuer": "https://a.example.com", "redis": map[string]any{}},
		}}
		Expect(k8s.Create(ctx, u)).To(MatchError(ContainSubstring("spec.redis: exactly one of managed or external must be set")))
	})

	It("keeps the PostgreSQL storage class and size immutable", func() {
		hi := minimalInstance(ns, "immutable")
		hi.Spec.Postgres.Managed = &heimdallv1.ManagedPostgres{Storage: heimdallv1.StorageSpec{
			Size: resource.MustParse("10Gi"), StorageClassName: ptr.To("fast")}}
		hi = createInstance(hi)

		changed := hi.DeepCopy()
		changed.Spec.Postgres.Managed.Storage.StorageClassName = ptr.To("slow")
		err := k8s.Update(ctx, changed)
		Expect(err).To(MatchError(ContainSubstring("spec.postgres.managed.storage: Invalid value: storageClassName is immutable")))

		changed = hi.DeepCopy()
		changed.Spec.Postgres.Managed.Storage.StorageClassName = nil
		Expect(k8s.Update(ctx, changed)).To(MatchError(ContainSubstring("storageClassName is immutable")))

		changed = hi.DeepCopy()
		changed.Spec.Postgres.Managed.Storage.Size = resource.MustParse("20Gi")
		Expect(k8s.Update(ctx, changed)).To(MatchError(ContainSubstring("spec.postgres.managed.storage: Invalid value: size is immutable")))

		// Unrelated changes still go through.
		changed = hi.DeepCopy()
		changed.Spec.LogLevel = "debug"
		Expect(k8s.Update(ctx, changed)).To(Succeed())
		Expect(k8s.Get(ctx, client.ObjectKeyFromObject(hi), changed)).To(Succeed())
		Expect(changed.Spec.LogLevel).To(Equal("debug"))
	})
})

var _ = Describe("config/samples", func() {
	It("are accepted by the CRD schema", func() {
		files, err := filepath.Glob(filepath.Join("..", "config", "samples", "heimdall_*.yaml"))
		Expect(err).NotTo(HaveOccurred())
		Expect(files).To(HaveLen(2))
		ns := newNamespace()
		for _, f := range files {
			raw, err := os.ReadFile(f)
			Expect(err).NotTo(HaveOccurred())
			u := &unstructured.Unstructured{}
			Expect(yaml.Unmarshal(raw, &u.Object)).To(Succeed(), f)
			u.SetNamespace(ns)
			Expect(k8s.Create(ctx, u, client.DryRunAll, client.FieldValidation("Strict"))).To(Succeed(), f)
		}
	})
})
