package controllers

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	heimdallv1 "github.com/heimdall-io/heimdall-operator/api/v1alpha1"
	"github.com/heimdall-io/heimdall-operator/controllers/resources"
)

func get[T client.Object](ns, name string, obj T) T {
	GinkgoHelper()
	Expect(k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, obj)).To(Succeed())
	return obj
}

func envMap(env []corev1.EnvVar) map[string]string {
	m := map[string]string{}
	for _, e := range env {
		switch {
		case e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil:
			m[e.Name] = "secret:" + e.ValueFrom.SecretKeyRef.Name + "/" + e.ValueFrom.SecretKeyRef.Key
		default:
			m[e.Name] = e.Value
		}
	}
	return m
}

func expectOwned(hi *heimdallv1.HeimdallInstance, obj client.Object, component string) {
	GinkgoHelper()
	Expect(metav1.IsControlledBy(obj, hi)).To(BeTrue(), "%T %s is not controlled by the instance", obj, obj.GetName())
	Expect(obj.GetLabels()).To(HaveKeyWithValue("app.kubernetes.io/name", "heimdall"))
	Expect(obj.GetLabels()).To(HaveKeyWithValue("app.kubernetes.io/instance", hi.Name))
	Expect(obj.GetLabels()).To(HaveKeyWithValue("app.kubernetes.io/component", component))
	Expect(obj.GetLabels()).To(HaveKeyWithValue("app.kubernetes.io/part-of", "heimdall"))
	Expect(obj.GetLabels()).To(HaveKeyWithValue("app.kubernetes.io/managed-by", "heimdall-operator"))
}

// markReady writes the status a healthy cluster's controllers would write.
func markReady(ns, name string, sts bool) {
	GinkgoHelper()
	if sts {
		s := get(ns, name, &appsv1.StatefulSet{})
		s.Status = appsv1.StatefulSetStatus{ObservedGeneration: s.Generation, Replicas: *s.Spec.Replicas,
			ReadyReplicas: *s.Spec.Replicas, UpdatedReplicas: *s.Spec.Replicas, AvailableReplicas: *s.Spec.Replicas, CurrentReplicas: *s.Spec.Replicas}
		Expect(k8s.Status().Update(ctx, s)).To(Succeed())
		return
	}
	d := get(ns, name, &appsv1.Deployment{})
	n := ptr.Deref(d.Spec.Replicas, 1)
	d.Status = appsv1.DeploymentStatus{ObservedGeneration: d.Generation, Replicas: n, ReadyReplicas: n, UpdatedReplicas: n, AvailableReplicas: n}
	Expect(k8s.Status().Update(ctx, d)).To(Succeed())
}

func markAllReady(hi *heimdallv1.HeimdallInstance) {
	GinkgoHelper()
	markReady(hi.Namespace, hi.Name+"-postgres", true)
	markReady(hi.Namespace, hi.Name+"-redis", true)
	markReady(hi.Namespace, hi.Name+"-fusionauth", false)
	markReady(hi.Namespace, hi.Name, false)
}

func condition(hi *heimdallv1.HeimdallInstance, t string) *metav1.Condition {
	return meta.FindStatusCondition(hi.Status.Conditions, t)
}

var _ = Describe("HeimdallInstance reconciler", func() {
	var (
		ns string
		r  *HeimdallInstanceReconciler
		w  *writeCounter
	)
	BeforeEach(func() {
		ns = newNamespace()
		r, w = directReconciler()
	})

	It("creates every child of a default instance, owned and labelled", func() {
		hi := createInstance(minimalInstance(ns, "auth"))
		reconcileOnce(r, hi)

		for _, c := range []struct {
			obj       client.Object
			name      string
			component string
		}{
			{&corev1.ConfigMap{}, "auth-postgres-init", "postgres"},
			{&corev1.ConfigMap{}, "auth-fusionauth-kickstart", "fusionauth"},
			{&corev1.Service{}, "auth-postgres", "postgres"},
			{&corev1.Service{}, "auth-postgres-hl", "postgres"},
			{&corev1.Service{}, "auth-redis", "redis"},
			{&corev1.Service{}, "auth-redis-hl", "redis"},
			{&corev1.Service{}, "auth-fusionauth", "fusionauth"},
			{&corev1.Service{}, "auth", "server"},
			{&corev1.ServiceAccount{}, "auth", "server"},
			{&corev1.ServiceAccount{}, "auth-postgres", "postgres"},
			{&appsv1.StatefulSet{}, "auth-postgres", "postgres"},
			{&appsv1.StatefulSet{}, "auth-redis", "redis"},
			{&appsv1.Deployment{}, "auth-fusionauth", "fusionauth"},
			{&appsv1.Deployment{}, "auth", "server"},
			{&autoscalingv2.HorizontalPodAutoscaler{}, "auth", "server"},
		} {
			expectOwned(hi, get(ns, c.name, c.obj), c.component)
		}
		// Generated credentials outlive the instance while its volumes are retained (the
		// default), so a recreated instance can still open its old data.
		for _, name := range []string{"auth-postgres", "auth-redis", "auth-fusionauth", "auth-jwt"} {
			s := get(ns, name, &corev1.Secret{})
			Expect(s.OwnerReferences).To(BeEmpty(), name)
			Expect(s.Labels).To(HaveKeyWithValue("app.kubernetes.io/instance", "auth"))
		}
	})

	It("lets generated secrets go with the instance when its volumes do", func() {
		hi := minimalInstance(ns, "gone")
		hi.Spec.PVCRetentionPolicy = heimdallv1.PVCDelete
		hi = createInstance(hi)
		reconcileOnce(r, hi)
		for _, name := range []string{"gone-postgres", "gone-redis", "gone-fusionauth", "gone-jwt"} {
			Expect(metav1.IsControlledBy(get(ns, name, &corev1.Secret{}), hi)).To(BeTrue(), name)
		}
		Expect(get(ns, "gone-postgres", &appsv1.StatefulSet{}).Spec.PersistentVolumeClaimRetentionPolicy.WhenDeleted).
			To(Equal(appsv1.DeletePersistentVolumeClaimRetentionPolicyType))
	})

	It("gives PostgreSQL no FusionAuth database when FusionAuth is external", func() {
		Expect(k8s.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "fa", Namespace: ns},
			StringData: map[string]string{"key": "k"}})).To(Succeed())
		hi := minimalInstance(ns, "mixed")
		hi.Spec.FusionAuth = heimdallv1.FusionAuthSpec{External: &heimdallv1.ExternalFusionAuth{URL: "https://fa.example.com",
			APIKeySecretRef: heimdallv1.SecretKeyRef{Name: "fa", Key: "key"}, ApplicationID: "a1f1c1e2-0000-4000-8000-000000000002"}}
		hi = createInstance(hi)
		reconcileOnce(r, hi)
		env := envMap(get(ns, "mixed-postgres", &appsv1.StatefulSet{}).Spec.Template.Spec.Containers[0].Env)
		Expect(env).NotTo(HaveKey("FUSIONAUTH_DB_USERNAME"))
		for _, v := range env {
			Expect(v).NotTo(HavePrefix("secret:mixed-fusionauth/"), "PostgreSQL must not consume a Secret that is never generated")
		}
		Expect(condition(get(ns, "mixed", &heimdallv1.HeimdallInstance{}), ConditionDegraded)).To(HaveField("Status", metav1.ConditionFalse))
	})

	It("renders the server Deployment exactly as the seed's heimdall-deployment.yaml", func() {
		hi := minimalInstance(ns, "auth")
		hi.Spec.CORSAllowedOrigins = []string{"https://app.example.com", "https://admin.example.com"}
		hi.Spec.SMTP = &heimdallv1.SMTPSpec{Host: "smtp.example.com", From: "noreply@example.com",
			CredentialsSecretRef: &heimdallv1.CredentialsSecretRef{Name: "smtp"}}
		hi.Spec.PodTemplate.NodeSelector = map[string]string{"pool": "auth"}
		Expect(k8s.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "smtp", Namespace: ns},
			StringData: map[string]string{"username": "u", "password": "p"}})).To(Succeed())
		hi = createInstance(hi)
		reconcileOnce(r, hi)

		d := get(ns, "auth", &appsv1.Deployment{})
		Expect(d.Spec.Selector.MatchLabels).To(Equal(map[string]string{
			"app.kubernetes.io/name": "heimdall", "app.kubernetes.io/instance": "auth", "app.kubernetes.io/component": "server"}))
		pod := d.Spec.Template.Spec
		Expect(pod.NodeSelector).To(Equal(map[string]string{"pool": "auth"}))
		Expect(pod.AutomountServiceAccountToken).To(HaveValue(BeFalse()))
		Expect(pod.SecurityContext.RunAsNonRoot).To(HaveValue(BeTrue()))
		Expect(d.Spec.Template.Annotations).To(HaveKey(resources.ConfigHashAnnotation))
		Expect(pod.Containers).To(HaveLen(1))
		c := pod.Containers[0]
		Expect(c.Image).To(Equal("registry.test/heimdall:1.4.0"))
		Expect(c.Ports).To(ConsistOf(corev1.ContainerPort{Name: "http", ContainerPort: 8080, Protocol: corev1.ProtocolTCP}))
		Expect(envMap(c.Env)).To(Equal(map[string]string{
			"PORT":                                   "8080",
			"ENV":                                    "production",
			"LOG_LEVEL":                              "info",
			"DB_USERNAME":                            "secret:auth-postgres/username",
			"DB_PASSWORD":                            "secret:auth-postgres/password",
			"DATABASE_URL":                           "postgresql://$(DB_USERNAME):$(DB_PASSWORD)@auth-postgres:5432/heimdall?sslmode=disable",
			"REDIS_PASSWORD":                         "secret:auth-redis/password",
			"REDIS_URL":                              "redis://:$(REDIS_PASSWORD)@auth-redis:6379/0",
			"FUSIONAUTH_URL":                         "http://auth-fusionauth:9011",
			"FUSIONAUTH_API_KEY":                     "secret:auth-fusionauth/api-key",
			"FUSIONAUTH_TENANT_ID":                   "default",
			"FUSIONAUTH_APPLICATION_ID":              resources.ManagedApplicationID,
			"JWT_PRIVATE_KEY_PATH":                   "/keys/private.pem",
			"JWT_PUBLIC_KEY_PATH":                    "/keys/public.pem",
			"JWT_ISSUER":                             "https://auth.example.com",
			"ACCESS_TOKEN_LIFETIME":                  "900",
			"REFRESH_TOKEN_LIFETIME":                 "2592000",
			"RATE_LIMIT_REQUESTS_PER_HOUR":           "1000",
			"RATE_LIMIT_ANONYMOUS_REQUESTS_PER_HOUR": "100",
			"CORS_ALLOWED_ORIGINS":                   "https://app.example.com,https://admin.example.com",
			"SMTP_HOST":                              "smtp.example.com",
			"SMTP_PORT":                              "587",
			"SMTP_FROM":                              "noreply@example.com",
			"SMTP_USERNAME":                          "secret:smtp/username",
			"SMTP_PASSWORD":                          "secret:smtp/password",
		}))
		// $(VAR) references only expand when the variable is declared earlier.
		names := []string{}
		for _, e := range c.Env {
			names = append(names, e.Name)
		}
		Expect(names).To(ContainElements("DB_USERNAME", "DB_PASSWORD", "DATABASE_URL"))
		Expect(indexOf(names, "DB_PASSWORD")).To(BeNumerically("<", indexOf(names, "DATABASE_URL")))
		Expect(indexOf(names, "REDIS_PASSWORD")).To(BeNumerically("<", indexOf(names, "REDIS_URL")))

		Expect(c.LivenessProbe.HTTPGet.Path).To(Equal("/health/live"))
		Expect(c.LivenessProbe.HTTPGet.Port.IntValue()).To(Equal(8080))
		Expect(c.LivenessProbe.InitialDelaySeconds).To(BeEquivalentTo(30))
		Expect(c.LivenessProbe.PeriodSeconds).To(BeEquivalentTo(10))
		Expect(c.ReadinessProbe.HTTPGet.Path).To(Equal("/health/ready"))
		Expect(c.ReadinessProbe.InitialDelaySeconds).To(BeEquivalentTo(5))
		Expect(c.ReadinessProbe.PeriodSeconds).To(BeEquivalentTo(5))
		Expect(c.Resources.Requests.Memory().String()).To(Equal("256Mi"))
		Expect(c.Resources.Requests.Cpu().String()).To(Equal("250m"))
		Expect(c.Resources.Limits.Memory().String()).To(Equal("512Mi"))
		Expect(c.Resources.Limits.Cpu().String()).To(Equal("500m"))
		Expect(c.VolumeMounts).To(ContainElement(corev1.VolumeMount{Name: "jwt-keys", MountPath: "/keys", ReadOnly: true}))
		Expect(c.SecurityContext.ReadOnlyRootFilesystem).To(HaveValue(BeTrue()))
		Expect(c.SecurityContext.AllowPrivilegeEscalation).To(HaveValue(BeFalse()))
		Expect(c.SecurityContext.Capabilities.Drop).To(ConsistOf(corev1.Capability("ALL")))
		Expect(pod.Volumes).To(ContainElement(HaveField("Secret.SecretName", "auth-jwt")))

		Expect(pod.InitContainers).To(BeEmpty(), "migrations run once per version in a Job (upgrade_test.go)")
		mc := get(ns, "auth-migrate-1-4-0", &batchv1.Job{}).Spec.Template.Spec.Containers[0]
		Expect(mc.Command).To(Equal([]string{"/heimdall-migrate", "up"}))
		Expect(envMap(mc.Env)).To(HaveKeyWithValue("DATABASE_URL", envMap(c.Env)["DATABASE_URL"]))

		svc := get(ns, "auth", &corev1.Service{})
		Expect(svc.Spec.Ports).To(HaveLen(1))
		Expect(svc.Spec.Ports[0].Name).To(Equal("http"))
		Expect(svc.Spec.Ports[0].Port).To(BeEquivalentTo(80))
		Expect(svc.Spec.Ports[0].TargetPort.String()).To(Equal("http"))
		Expect(svc.Spec.Selector).To(Equal(d.Spec.Selector.MatchLabels))

		hpa := get(ns, "auth", &autoscalingv2.HorizontalPodAutoscaler{})
		Expect(hpa.Spec.MinReplicas).To(HaveValue(BeEquivalentTo(3)))
		Expect(hpa.Spec.MaxReplicas).To(BeEquivalentTo(10))
		Expect(hpa.Spec.ScaleTargetRef.Name).To(Equal("auth"))
		Expect(hpa.Spec.Metrics).To(HaveLen(2))
		Expect(hpa.Spec.Metrics[0].Resource.Target.AverageUtilization).To(HaveValue(BeEquivalentTo(70)))
		Expect(hpa.Spec.Metrics[1].Resource.Target.AverageUtilization).To(HaveValue(BeEquivalentTo(80)))
	})

	It("renders PostgreSQL, Redis and FusionAuth with the seed's settings", func() {
		hi := createInstance(minimalInstance(ns, "auth"))
		reconcileOnce(r, hi)

		pg := get(ns, "auth-postgres", &appsv1.StatefulSet{})
		Expect(pg.Spec.ServiceName).To(Equal("auth-postgres-hl"))
		Expect(pg.Spec.PersistentVolumeClaimRetentionPolicy.WhenDeleted).To(Equal(appsv1.RetainPersistentVolumeClaimRetentionPolicyType))
		Expect(pg.Spec.VolumeClaimTemplates).To(HaveLen(1))
		Expect(pg.Spec.VolumeClaimTemplates[0].Spec.Resources.Requests.Storage().String()).To(Equal("50Gi"))
		c := pg.Spec.Template.Spec.Containers[0]
		Expect(c.Image).To(Equal("registry.test/postgres:14"))
		Expect(c.Args).To(Equal([]string{"-c", "shared_buffers=256MB", "-c", "effective_cache_size=1GB",
			"-c", "maintenance_work_mem=64MB", "-c", "max_connections=200"}))
		Expect(c.ReadinessProbe.Exec.Command).To(ContainElement("pg_isready"))
		Expect(envMap(c.Env)).To(HaveKeyWithValue("POSTGRES_PASSWORD", "secret:auth-postgres/superuser-password"))
		Expect(envMap(c.Env)).To(HaveKeyWithValue("HEIMDALL_DB_PASSWORD", "secret:auth-postgres/password"))
		init := get(ns, "auth-postgres-init", &corev1.ConfigMap{})
		Expect(init.Data["01-heimdall.sh"]).To(ContainSubstring("CREATE DATABASE heimdall"))
		Expect(init.Data["01-heimdall.sh"]).To(ContainSubstring("CREATE DATABASE fusionauth"))

		rd := get(ns, "auth-redis", &appsv1.StatefulSet{})
		rc := rd.Spec.Template.Spec.Containers[0]
		Expect(rc.Image).To(Equal("registry.test/redis:7-alpine"))
		Expect(rc.Command[2]).To(ContainSubstring("redis-server --appendonly yes"))
		Expect(rc.Command[2]).To(ContainSubstring("--maxmemory-policy allkeys-lru"))
		Expect(rc.Command[2]).To(ContainSubstring(`--save "900 1 300 10 60 10000"`))
		Expect(envMap(rc.Env)).To(HaveKeyWithValue("REDIS_MAXMEMORY", "2gb"))
		Expect(rd.Spec.VolumeClaimTemplates).To(HaveLen(1))

		fa := get(ns, "auth-fusionauth", &appsv1.Deployment{})
		fc := fa.Spec.Template.Spec.Containers[0]
		Expect(fc.Image).To(MatchRegexp(`^registry.test/fusionauth-app:\d+\.\d+\.\d+$`))
		Expect(envMap(fc.Env)).To(Equal(map[string]string{
			"DATABASE_URL":                  "jdbc:postgresql://auth-postgres:5432/fusionauth?sslmode=disable",
			"DATABASE_ROOT_USERNAME":        "postgres",
			"DATABASE_ROOT_PASSWORD":        "secret:auth-postgres/superuser-password",
			"DATABASE_USERNAME":             "secret:auth-fusionauth/database-username",
			"DATABASE_PASSWORD":             "secret:auth-fusionauth/database-password",
			"SEARCH_TYPE":                   "database",
			"FUSIONAUTH_APP_MEMORY":         "512M",
			"FUSIONAUTH_APP_RUNTIME_MODE":   "production",
			"FUSIONAUTH_APP_SILENT_MODE":    "true",
			"FUSIONAUTH_APP_URL":            "http://auth-fusionauth:9011",
			"FUSIONAUTH_APP_KICKSTART_FILE": "/usr/local/fusionauth/kickstart/kickstart.json",
			"HEIMDALL_FUSIONAUTH_API_KEY":   "secret:auth-fusionauth/api-key",
		}))
		ks := get(ns, "auth-fusionauth-kickstart", &corev1.ConfigMap{})
		Expect(ks.Data["kickstart.json"]).To(ContainSubstring(`"key": "#{apiKey}"`))
		Expect(ks.Data["kickstart.json"]).To(ContainSubstring("/api/application/#{applicationId}"))
		Expect(get(ns, "auth-fusionauth", &corev1.Service{}).Spec.Ports[0].Port).To(BeEquivalentTo(9011))
	})

	It("uses external services and brought secrets without generating their secrets", func() {
		for name, data := range map[string]map[string]string{
			"rds":     {"username": "app", "password": "s3cret"},
			"cache":   {"auth": "r3dis"},
			"fa":      {"key": "fa-key"},
			"my-keys": jwtKeyPair(),
		} {
			Expect(k8s.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}, StringData: data})).To(Succeed())
		}
		hi := minimalInstance(ns, "ext")
		hi.Spec.Postgres = heimdallv1.PostgresSpec{External: &heimdallv1.ExternalPostgres{Host: "db.rds.amazonaws.com",
			CredentialsSecretRef: heimdallv1.CredentialsSecretRef{Name: "rds"}}}
		hi.Spec.Redis = heimdallv1.RedisSpec{External: &heimdallv1.ExternalRedis{Host: "cache.aws", TLS: true,
			PasswordSecretRef: &heimdallv1.SecretKeyRef{Name: "cache", Key: "auth"}}}
		hi.Spec.FusionAuth = heimdallv1.FusionAuthSpec{External: &heimdallv1.ExternalFusionAuth{URL: "https://fa.example.com/",
			APIKeySecretRef: heimdallv1.SecretKeyRef{Name: "fa", Key: "key"}, TenantID: "b1f1c1e2-0000-4000-8000-000000000001",
			ApplicationID: "a1f1c1e2-0000-4000-8000-000000000002"}}
		hi.Spec.JWT.SecretRef = &corev1.LocalObjectReference{Name: "my-keys"}
		hi = createInstance(hi)
		reconcileOnce(r, hi)

		env := envMap(get(ns, "ext", &appsv1.Deployment{}).Spec.Template.Spec.Containers[0].Env)
		Expect(env).To(HaveKeyWithValue("DATABASE_URL", "postgresql://$(DB_USERNAME):$(DB_PASSWORD)@db.rds.amazonaws.com:5432/heimdall?sslmode=require"))
		Expect(env).To(HaveKeyWithValue("DB_PASSWORD", "secret:rds/password"))
		Expect(env).To(HaveKeyWithValue("REDIS_URL", "rediss://:$(REDIS_PASSWORD)@cache.aws:6379/0"))
		Expect(env).To(HaveKeyWithValue("REDIS_PASSWORD", "secret:cache/auth"))
		Expect(env).To(HaveKeyWithValue("FUSIONAUTH_URL", "https://fa.example.com"))
		Expect(env).To(HaveKeyWithValue("FUSIONAUTH_API_KEY", "secret:fa/key"))
		Expect(env).To(HaveKeyWithValue("FUSIONAUTH_TENANT_ID", "b1f1c1e2-0000-4000-8000-000000000001"))
		Expect(get(ns, "ext", &appsv1.Deployment{}).Spec.Template.Spec.Volumes).To(ContainElement(HaveField("Secret.SecretName", "my-keys")))

		for _, name := range []string{"ext-postgres", "ext-redis", "ext-fusionauth", "ext-jwt"} {
			Expect(apierrors.IsNotFound(k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &corev1.Secret{}))).To(BeTrue(), name)
		}
		Expect(apierrors.IsNotFound(k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "ext-postgres"}, &appsv1.StatefulSet{}))).To(BeTrue())
		Expect(apierrors.IsNotFound(k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "ext-fusionauth"}, &appsv1.Deployment{}))).To(BeTrue())

		markReady(ns, "ext", false)
		reconcileOnce(r, hi)
		hi = get(ns, "ext", &heimdallv1.HeimdallInstance{})
		Expect(hi.Status.Components.Postgres).To(HaveField("Mode", "External"))
		Expect(condition(hi, ConditionReady)).To(HaveField("Status", metav1.ConditionTrue))
	})

	It("makes zero writes when reconciling an unchanged instance", func() {
		hi := createInstance(minimalInstance(ns, "idle"))
		reconcileOnce(r, hi)
		markAllReady(hi)
		reconcileOnce(r, hi) // status catches up with the children
		Expect(w.Load()).To(BeNumerically(">", 0))

		before := w.Load()
		for range 3 {
			reconcileOnce(r, hi)
		}
		Expect(w.Load()).To(Equal(before), "an idle reconcile must not send a single mutating request")
	})

	It("keeps generated secrets across reconciles and operator restarts", func() {
		hi := createInstance(minimalInstance(ns, "stable"))
		reconcileOnce(r, hi)
		first := map[string]map[string][]byte{}
		for _, name := range []string{"stable-postgres", "stable-redis", "stable-fusionauth", "stable-jwt"} {
			first[name] = get(ns, name, &corev1.Secret{}).Data
		}
		Expect(resources.ValidateRSAKeyPair(first["stable-jwt"]["private.pem"], first["stable-jwt"]["public.pem"])).To(Succeed())
		Expect(string(first["stable-jwt"]["private.pem"])).To(HavePrefix("-----BEGIN PRIVATE KEY-----"))
		Expect(string(first["stable-jwt"]["public.pem"])).To(HavePrefix("-----BEGIN PUBLIC KEY-----"))

		restarted, _ := directReconciler() // a new process knows nothing but the cluster
		reconcileOnce(restarted, hi)
		reconcileOnce(r, hi)
		for name, data := range first {
			Expect(get(ns, name, &corev1.Secret{}).Data).To(Equal(data), name)
		}
	})

	It("reports a damaged generated secret and never regenerates it", func() {
		hi := createInstance(minimalInstance(ns, "damaged"))
		reconcileOnce(r, hi)
		s := get(ns, "damaged-jwt", &corev1.Secret{})
		s.Data = map[string][]byte{"public.pem": s.Data["public.pem"]}
		Expect(k8s.Update(ctx, s)).To(Succeed())

		reconcileOnce(r, hi)
		hi = get(ns, "damaged", &heimdallv1.HeimdallInstance{})
		Expect(condition(hi, ConditionDegraded)).To(And(HaveField("Status", metav1.ConditionTrue), HaveField("Reason", ReasonSecretInvalid),
			HaveField("Message", ContainSubstring(`damaged-jwt has no key "private.pem"`))))
		Expect(condition(hi, ConditionReady)).To(HaveField("Status", metav1.ConditionFalse))
		Expect(get(ns, "damaged-jwt", &corev1.Secret{}).Data).NotTo(HaveKey("private.pem"))
	})

	It("reports status from the children: Progressing, then Ready with the running version", func() {
		hi := createInstance(minimalInstance(ns, "status"))
		reconcileOnce(r, hi)
		hi = get(ns, "status", &heimdallv1.HeimdallInstance{})
		Expect(hi.Status.ObservedGeneration).To(Equal(hi.Generation))
		Expect(condition(hi, ConditionReady)).To(And(HaveField("Status", metav1.ConditionFalse), HaveField("Reason", ReasonComponentsNotReady)))
		Expect(condition(hi, ConditionProgressing)).To(HaveField("Status", metav1.ConditionTrue))
		Expect(condition(hi, ConditionDegraded)).To(HaveField("Status", metav1.ConditionFalse))
		Expect(hi.Status.Version).To(BeEmpty(), "nothing serves yet")
		Expect(hi.Status.Endpoint).To(Equal("http://status." + ns + ".svc:80"))

		markReady(ns, "status-postgres", true)
		markReady(ns, "status-redis", true)
		reconcileOnce(r, hi)
		hi = get(ns, "status", &heimdallv1.HeimdallInstance{})
		Expect(hi.Status.Components.Postgres.Ready).To(BeTrue())
		Expect(hi.Status.Components.Server.Ready).To(BeFalse())
		Expect(condition(hi, ConditionReady).Message).To(Equal("Waiting for fusionAuth, server"))

		markReady(ns, "status-fusionauth", false)
		markReady(ns, "status", false)
		completeJob(ns, "status-migrate-1-4-0")
		reconcileOnce(r, hi)
		hi = get(ns, "status", &heimdallv1.HeimdallInstance{})
		Expect(condition(hi, ConditionReady)).To(And(HaveField("Status", metav1.ConditionTrue), HaveField("ObservedGeneration", hi.Generation)))
		Expect(condition(hi, ConditionProgressing)).To(HaveField("Status", metav1.ConditionFalse))
		Expect(hi.Status.Version).To(Equal("1.4.0"))
		Expect(hi.Status.Selector).To(ContainSubstring("app.kubernetes.io/component=server"))

		// A new version is not reported until its pods are updated and ready.
		updateSpec(hi, func(s *heimdallv1.HeimdallInstanceSpec) { s.Version = "1.5.0" })
		reconcileOnce(r, hi)
		completeJob(ns, "status-migrate-1-5-0") // the Deployment rolls once the migration succeeded
		reconcileOnce(r, hi)
		hi = get(ns, "status", &heimdallv1.HeimdallInstance{})
		Expect(hi.Status.ObservedGeneration).To(Equal(hi.Generation))
		Expect(hi.Status.Version).To(Equal("1.4.0"))
		Expect(condition(hi, ConditionReady)).To(HaveField("Status", metav1.ConditionFalse))
		markReady(ns, "status", false)
		reconcileOnce(r, hi)
		Expect(get(ns, "status", &heimdallv1.HeimdallInstance{}).Status.Version).To(Equal("1.5.0"))
	})

	It("rolls the server pods when configuration or a consumed secret changes, not otherwise", func() {
		hi := minimalInstance(ns, "roll")
		hi.Spec.SMTP = &heimdallv1.SMTPSpec{Host: "smtp", CredentialsSecretRef: &heimdallv1.CredentialsSecretRef{Name: "smtp"}}
		Expect(k8s.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "smtp", Namespace: ns},
			StringData: map[string]string{"username": "u", "password": "one"}})).To(Succeed())
		hi = createInstance(hi)
		reconcileOnce(r, hi)
		hash := func() string {
			return get(ns, "roll", &appsv1.Deployment{}).Spec.Template.Annotations[resources.ConfigHashAnnotation]
		}
		h0 := hash()

		updateSpec(hi, func(s *heimdallv1.HeimdallInstanceSpec) { s.Version = "1.5.0" })
		reconcileOnce(r, hi)
		completeJob(ns, "roll-migrate-1-5-0")
		reconcileOnce(r, hi)
		Expect(get(ns, "roll", &appsv1.Deployment{}).Spec.Template.Spec.Containers[0].Image).To(Equal("registry.test/heimdall:1.5.0"))
		Expect(hash()).To(Equal(h0), "a version bump changes the image, not the configuration")

		updateSpec(hi, func(s *heimdallv1.HeimdallInstanceSpec) { s.Tokens.AccessTokenLifetimeSeconds = 600 })
		reconcileOnce(r, hi)
		d := get(ns, "roll", &appsv1.Deployment{})
		Expect(envMap(d.Spec.Template.Spec.Containers[0].Env)).To(HaveKeyWithValue("ACCESS_TOKEN_LIFETIME", "600"))
		h1 := hash()
		Expect(h1).NotTo(Equal(h0))

		s := get(ns, "smtp", &corev1.Secret{})
		s.Data["password"] = []byte("two")
		Expect(k8s.Update(ctx, s)).To(Succeed())
		reconcileOnce(r, hi)
		Expect(hash()).NotTo(Equal(h1), "a changed SMTP password must roll the pods")
	})

	It("puts back children that are deleted or edited", func() {
		hi := createInstance(minimalInstance(ns, "heal"))
		reconcileOnce(r, hi)
		Expect(k8s.Delete(ctx, get(ns, "heal", &corev1.Service{}))).To(Succeed())
		d := get(ns, "heal", &appsv1.Deployment{})
		d.Spec.Template.Spec.Containers[0].Image = "evil/image:latest"
		Expect(k8s.Update(ctx, d)).To(Succeed())

		reconcileOnce(r, hi)
		Expect(get(ns, "heal", &corev1.Service{}).Spec.Ports[0].Port).To(BeEquivalentTo(80))
		Expect(get(ns, "heal", &appsv1.Deployment{}).Spec.Template.Spec.Containers[0].Image).To(Equal("registry.test/heimdall:1.4.0"))
	})

	It("removes from a child what the spec no longer asks for", func() {
		hi := minimalInstance(ns, "shrink")
		hi.Spec.PodTemplate.Tolerations = []corev1.Toleration{{Key: "dedicated", Operator: corev1.TolerationOpEqual, Value: "auth", Effect: corev1.TaintEffectNoSchedule}}
		hi = createInstance(hi)
		reconcileOnce(r, hi)
		Expect(get(ns, "shrink", &appsv1.Deployment{}).Spec.Template.Spec.Tolerations).To(HaveLen(1))

		updateSpec(hi, func(s *heimdallv1.HeimdallInstanceSpec) { s.PodTemplate.Tolerations = nil })
		reconcileOnce(r, hi)
		Expect(get(ns, "shrink", &appsv1.Deployment{}).Spec.Template.Spec.Tolerations).To(BeEmpty())
	})

	It("hands replicas to spec.replicas when autoscaling is turned off, and removes the HPA", func() {
		hi := createInstance(minimalInstance(ns, "scale"))
		reconcileOnce(r, hi)
		// The HPA scales through the scale subresource; the operator must leave that alone.
		d := get(ns, "scale", &appsv1.Deployment{})
		scale := &autoscalingv1.Scale{}
		Expect(k8s.SubResource("scale").Get(ctx, d, scale)).To(Succeed())
		scale.Spec.Replicas = 7
		Expect(k8s.SubResource("scale").Update(ctx, d, client.WithSubResourceBody(scale))).To(Succeed())
		reconcileOnce(r, hi)
		Expect(get(ns, "scale", &appsv1.Deployment{}).Spec.Replicas).To(HaveValue(BeEquivalentTo(7)))

		updateSpec(hi, func(s *heimdallv1.HeimdallInstanceSpec) {
			s.Autoscaling.Enabled = false
			s.Replicas = ptr.To[int32](5)
		})
		reconcileOnce(r, hi)
		Expect(get(ns, "scale", &appsv1.Deployment{}).Spec.Replicas).To(HaveValue(BeEquivalentTo(5)))
		Expect(apierrors.IsNotFound(k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "scale"}, &autoscalingv2.HorizontalPodAutoscaler{}))).To(BeTrue())
	})

	It("refuses to take over an object it does not own", func() {
		Expect(k8s.Create(ctx, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "taken", Namespace: ns},
			Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 1234}}}})).To(Succeed())
		hi := createInstance(minimalInstance(ns, "taken"))
		_, err := r.Reconcile(ctx, reqFor(hi))
		Expect(err).To(MatchError(ContainSubstring("Service taken exists and is not controlled by this instance")))
		hi = get(ns, "taken", &heimdallv1.HeimdallInstance{})
		Expect(condition(hi, ConditionDegraded)).To(And(HaveField("Status", metav1.ConditionTrue), HaveField("Reason", "ReconcileError")))
		Expect(get(ns, "taken", &corev1.Service{}).Spec.Ports[0].Port).To(BeEquivalentTo(1234))
	})
})

var _ = Describe("HeimdallInstance controller in a manager", func() {
	It("heals an instance when the missing Secret it references is created", func() {
		hi := minimalInstance(watchedNamespace, "byo")
		hi.Spec.JWT.SecretRef = &corev1.LocalObjectReference{Name: "byo-keys"}
		hi = createInstance(hi)
		Eventually(func(g Gomega) {
			g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(hi), hi)).To(Succeed())
			g.Expect(condition(hi, ConditionDegraded)).To(And(HaveField("Status", metav1.ConditionTrue),
				HaveField("Reason", ReasonSecretNotFound), HaveField("Message", ContainSubstring("byo-keys"))))
		}).WithTimeout(20 * time.Second).Should(Succeed())
		Expect(apierrors.IsNotFound(k8s.Get(ctx, client.ObjectKey{Namespace: watchedNamespace, Name: "byo"}, &appsv1.Deployment{}))).To(BeTrue())

		Expect(k8s.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "byo-keys", Namespace: watchedNamespace},
			StringData: jwtKeyPair()})).To(Succeed())
		Eventually(func(g Gomega) {
			g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(hi), hi)).To(Succeed())
			g.Expect(condition(hi, ConditionDegraded)).To(HaveField("Status", metav1.ConditionFalse))
			g.Expect(k8s.Get(ctx, client.ObjectKey{Namespace: watchedNamespace, Name: "byo"}, &appsv1.Deployment{})).To(Succeed())
		}).WithTimeout(20 * time.Second).Should(Succeed())
	})
})

func indexOf(s []string, v string) int {
	for i, x := range s {
		if x == v {
			return i
		}
	}
	return -1
}

func jwtKeyPair() map[string]string {
	GinkgoHelper()
	priv, pub, err := resources.NewRSAKeyPair(2048)
	Expect(err).NotTo(HaveOccurred())
	return map[string]string{"private.pem": string(priv), "public.pem": string(pub)}
}

// updateSpec changes the live instance's spec, retrying on conflicts with status writes.
func updateSpec(hi *heimdallv1.HeimdallInstance, mutate func(*heimdallv1.HeimdallInstanceSpec)) {
	GinkgoHelper()
	Eventually(func() error {
		live := &heimdallv1.HeimdallInstance{}
		if err := k8s.Get(ctx, client.ObjectKeyFromObject(hi), live); err != nil {
			return err
		}
		mutate(&live.Spec)
		return k8s.Update(ctx, live)
	}).Should(Succeed())
}
