package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// HeimdallInstanceSpec is the desired state of one Heimdall installation: the auth server and the
// PostgreSQL, Redis and FusionAuth it depends on.
// +kubebuilder:validation:XValidation:rule="has(self.issuer) || (has(self.ingress) && !self.ingress.host.startsWith('*.') && (!has(self.ingress.path) || self.ingress.path == '/'))",message="spec.issuer is required unless spec.ingress sets a non-wildcard host served at path /"
// +kubebuilder:validation:XValidation:rule="!has(self.autoscaling) || !self.autoscaling.enabled || !has(self.replicas) || (self.replicas >= self.autoscaling.minReplicas && self.replicas <= self.autoscaling.maxReplicas)",message="spec.replicas must lie within spec.autoscaling.minReplicas and spec.autoscaling.maxReplicas while autoscaling is enabled"
type HeimdallInstanceSpec struct {
	// Version is the Heimdall server version to run; it is the image tag unless image is set.
	// Changing it first runs the new version's database migrations once, in a Job named after the
	// instance and the version; the server keeps running the serving version until that Job
	// succeeds (see docs/upgrades.md).
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=128
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9_][A-Za-z0-9_.-]*$`
	// +required
	Version string `json:"version"`

	// Image overrides the server image reference (repository[:tag][@digest]). When empty the
	// operator runs its default repository at tag spec.version.
	// +kubebuilder:validation:MaxLength=512
	// +optional
	Image string `json:"image,omitempty"`

	// Replicas is the number of server pods when autoscaling is disabled.
	// +kubebuilder:default=3
	// +kubebuilder:validation:Minimum=0
	// +optional
	Replicas *int32 `json:"replicas,omitempty"`

	// Issuer is the JWT issuer claim and the OpenID issuer URL (JWT_ISSUER). When empty, the
	// public URL of spec.ingress is the issuer: https://<host> (http://<host> without TLS), so
	// tokens and discovery name the host clients reach.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=2048
	// +kubebuilder:validation:XValidation:rule="isURL(self) && (self.startsWith('https://') || self.startsWith('http://'))",message="spec.issuer must be an absolute http(s) URL"
	// +optional
	Issuer string `json:"issuer,omitempty"`

	// LogLevel is the server's LOG_LEVEL.
	// +kubebuilder:validation:Enum=debug;info;warn;error
	// +kubebuilder:default=info
	// +optional
	LogLevel string `json:"logLevel,omitempty"`

	// Environment is the server's ENV.
	// +kubebuilder:validation:Enum=development;production
	// +kubebuilder:default=production
	// +optional
	Environment string `json:"environment,omitempty"`

	// Tokens sets access and refresh token lifetimes.
	// +kubebuilder:default={accessTokenLifetimeSeconds:900,refreshTokenLifetimeSeconds:2592000}
	// +optional
	Tokens TokensSpec `json:"tokens,omitzero"`

	// CORSAllowedOrigins lists the origins allowed by CORS (CORS_ALLOWED_ORIGINS). Empty means the
	// server default ("*").
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:MaxLength=2048
	// +listType=set
	// +optional
	CORSAllowedOrigins []string `json:"corsAllowedOrigins,omitempty"`

	// RateLimit sets the per-hour request budgets.
	// +kubebuilder:default={requestsPerHour:1000,anonymousRequestsPerHour:100}
	// +optional
	RateLimit RateLimitSpec `json:"rateLimit,omitzero"`

	// SMTP configures outgoing mail. Without it the server sends no mail.
	// +optional
	SMTP *SMTPSpec `json:"smtp,omitempty"`

	// JWT configures the token signing keys.
	// +optional
	JWT JWTSpec `json:"jwt,omitzero"`

	// Postgres is the database for Heimdall (and, when managed, FusionAuth).
	// +kubebuilder:default={managed:{}}
	// +optional
	Postgres PostgresSpec `json:"postgres,omitzero"`

	// Redis is the cache and rate-limit store.
	// +kubebuilder:default={managed:{}}
	// +optional
	Redis RedisSpec `json:"redis,omitzero"`

	// FusionAuth is the identity engine behind the server.
	// +kubebuilder:default={managed:{}}
	// +optional
	FusionAuth FusionAuthSpec `json:"fusionAuth,omitzero"`

	// PVCRetentionPolicy says what happens to persistent volume claims (database, cache, backups)
	// when the instance is deleted: Retain keeps the data, Delete removes it.
	// +kubebuilder:validation:Enum=Retain;Delete
	// +kubebuilder:default=Retain
	// +optional
	PVCRetentionPolicy PVCRetentionPolicy `json:"pvcRetentionPolicy,omitempty"`

	// Resources of the server container.
	// +kubebuilder:default={requests:{cpu:"250m",memory:"256Mi"},limits:{cpu:"500m",memory:"512Mi"}}
	// +optional
	Resources corev1.ResourceRequirements `json:"resources,omitzero"`

	// PodTemplate holds the scheduling and metadata knobs of the server pods.
	// +optional
	PodTemplate PodTemplateSpec `json:"podTemplate,omitzero"`

	// Autoscaling configures a HorizontalPodAutoscaler for the server.
	// +kubebuilder:default={enabled:true,minReplicas:3,maxReplicas:10,targetCPUUtilizationPercentage:70,targetMemoryUtilizationPercentage:80}
	// +optional
	Autoscaling *AutoscalingSpec `json:"autoscaling,omitempty"`

	// Ingress exposes the server outside the cluster, with TLS from a Secret or cert-manager.
	// +optional
	Ingress *IngressSpec `json:"ingress,omitempty"`

	// Monitoring configures a ServiceMonitor and PrometheusRule when prometheus-operator is installed.
	// +optional
	Monitoring *MonitoringSpec `json:"monitoring,omitempty"`

	// Backup configures scheduled PostgreSQL dumps of the Heimdall database (a CronJob writing
	// into the volume <name>-backups).
	// +optional
	Backup *BackupSpec `json:"backup,omitempty"`

	// Restore, when set, restores one backup file into the Heimdall database, once per request,
	// with the server stopped while it runs. See docs/backup.md.
	// +optional
	Restore *RestoreSpec `json:"restore,omitempty"`

	// PodDisruptionBudget bounds voluntary disruptions of the server (and of FusionAuth when it
	// runs more than one replica).
	// +kubebuilder:default={enabled:true,maxUnavailable:1}
	// +optional
	PodDisruptionBudget *PodDisruptionBudgetSpec `json:"podDisruptionBudget,omitempty"`

	// NetworkPolicy restricts traffic to each component to the pods that need it.
	// +kubebuilder:default={enabled:true}
	// +optional
	NetworkPolicy *NetworkPolicySpec `json:"networkPolicy,omitempty"`
}

// PVCRetentionPolicy says whether persistent volume claims outlive their instance.
type PVCRetentionPolicy string

const (
	// PVCRetain keeps persistent volume claims after the instance is deleted.
	PVCRetain PVCRetentionPolicy = "Retain"
	// PVCDelete deletes persistent volume claims with the instance.
	PVCDelete PVCRetentionPolicy = "Delete"
)

// TokensSpec sets token lifetimes in seconds, as the server's environment does.
// +kubebuilder:validation:XValidation:rule="self.accessTokenLifetimeSeconds < self.refreshTokenLifetimeSeconds",message="spec.tokens.accessTokenLifetimeSeconds must be less than spec.tokens.refreshTokenLifetimeSeconds"
type TokensSpec struct {
	// AccessTokenLifetimeSeconds is the access token TTL (ACCESS_TOKEN_LIFETIME).
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:default=900
	// +optional
	AccessTokenLifetimeSeconds int32 `json:"accessTokenLifetimeSeconds,omitempty"`

	// RefreshTokenLifetimeSeconds is the refresh token TTL (REFRESH_TOKEN_LIFETIME).
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:default=2592000
	// +optional
	RefreshTokenLifetimeSeconds int32 `json:"refreshTokenLifetimeSeconds,omitempty"`
}

// RateLimitSpec sets the per-hour request budgets.
type RateLimitSpec struct {
	// RequestsPerHour is the budget per authenticated user (RATE_LIMIT_REQUESTS_PER_HOUR).
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:default=1000
	// +optional
	RequestsPerHour int32 `json:"requestsPerHour,omitempty"`

	// AnonymousRequestsPerHour is the budget per client IP for unauthenticated calls
	// (RATE_LIMIT_ANONYMOUS_REQUESTS_PER_HOUR).
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:default=100
	// +optional
	AnonymousRequestsPerHour int32 `json:"anonymousRequestsPerHour,omitempty"`
}

// SMTPSpec configures outgoing mail (SMTP_*).
type SMTPSpec struct {
	// Host is the SMTP server host (SMTP_HOST).
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +required
	Host string `json:"host"`

	// Port is the SMTP server port (SMTP_PORT).
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=65535
	// +kubebuilder:default=587
	// +optional
	Port int32 `json:"port,omitempty"`

	// From is the sender address (SMTP_FROM).
	// +kubebuilder:validation:MaxLength=320
	// +optional
	From string `json:"from,omitempty"`

	// CredentialsSecretRef names a Secret with the SMTP username and password.
	// +optional
	CredentialsSecretRef *CredentialsSecretRef `json:"credentialsSecretRef,omitempty"`
}

// CredentialsSecretRef names a Secret in the instance's namespace holding a username and a password.
type CredentialsSecretRef struct {
	// Name of the Secret.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +required
	Name string `json:"name"`

	// UsernameKey is the key holding the username.
	// +kubebuilder:default=username
	// +optional
	UsernameKey string `json:"usernameKey,omitempty"`

	// PasswordKey is the key holding the password.
	// +kubebuilder:default=password
	// +optional
	PasswordKey string `json:"passwordKey,omitempty"`
}

// SecretKeyRef names one key of a Secret in the instance's namespace.
type SecretKeyRef struct {
	// Name of the Secret.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +required
	Name string `json:"name"`

	// Key within the Secret.
	// +kubebuilder:validation:MinLength=1
	// +required
	Key string `json:"key"`
}

// JWTSpec configures the RS256 signing keys.
// +kubebuilder:validation:XValidation:rule="!has(self.rotation) || !has(self.secretRef)",message="spec.jwt.rotation rotates operator-generated keys only: remove spec.jwt.secretRef or spec.jwt.rotation"
type JWTSpec struct {
	// SecretRef names an existing Secret with keys private.pem and public.pem (PEM, RSA). When
	// empty the operator generates an RSA-2048 pair once into the Secret <name>-jwt; only
	// spec.jwt.rotation replaces it.
	// +optional
	SecretRef *corev1.LocalObjectReference `json:"secretRef,omitempty"`

	// Rotation, when set, rotates generated keys on a schedule: the next public key is published
	// to every pod before it signs, and old public keys stay published until every token they
	// signed has expired. Not allowed with secretRef (the user owns brought keys).
	// +optional
	Rotation *JWTRotationSpec `json:"rotation,omitempty"`
}

// JWTRotationSpec configures scheduled key rotation.
type JWTRotationSpec struct {
	// Interval between rotations, e.g. 2160h (90 days).
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('24h')",message="spec.jwt.rotation.interval must be at least 24h"
	// +required
	Interval metav1.Duration `json:"interval"`
}

// JWTStatus reports the signing keys of a rotating instance. Key ids are RFC 7638 thumbprints, the
// "kid" the server puts in token headers and JWKS.
type JWTStatus struct {
	// CurrentKeyID is the key that signs new tokens.
	// +optional
	CurrentKeyID string `json:"currentKeyID,omitempty"`

	// PendingKeyID is the next key: published for verification, signing once every pod knows it.
	// +optional
	PendingKeyID string `json:"pendingKeyID,omitempty"`

	// PublishedKeyIDs are every key the server's JWKS lists: current, pending and retired keys
	// whose tokens may still be live.
	// +listType=set
	// +optional
	PublishedKeyIDs []string `json:"publishedKeyIDs,omitempty"`

	// LastRotationTime is when the current key began signing (or when rotation was enabled, for
	// a key never rotated).
	// +optional
	LastRotationTime *metav1.Time `json:"lastRotationTime,omitempty"`

	// NextRotationTime is when the next key is due to be published.
	// +optional
	NextRotationTime *metav1.Time `json:"nextRotationTime,omitempty"`
}

// PodTemplateSpec holds the scheduling and metadata knobs of the server pods.
type PodTemplateSpec struct {
	// NodeSelector constrains the nodes the pods run on.
	// +optional
	NodeSelector map[string]string `json:"nodeSelector,omitempty"`

	// Tolerations of the pods.
	// +optional
	// +listType=atomic
	Tolerations []corev1.Toleration `json:"tolerations,omitempty"`

	// Affinity of the pods.
	// +optional
	Affinity *corev1.Affinity `json:"affinity,omitempty"`

	// TopologySpreadConstraints of the pods.
	// +optional
	// +listType=atomic
	TopologySpreadConstraints []corev1.TopologySpreadConstraint `json:"topologySpreadConstraints,omitempty"`

	// Annotations added to the pods.
	// +optional
	Annotations map[string]string `json:"annotations,omitempty"`

	// ServiceAccountName runs the pods as an existing ServiceAccount; by default the operator
	// creates one without an API token mounted.
	// +kubebuilder:validation:MaxLength=253
	// +optional
	ServiceAccountName string `json:"serviceAccountName,omitempty"`

	// ImagePullSecrets for the pods.
	// +optional
	// +listType=atomic
	ImagePullSecrets []corev1.LocalObjectReference `json:"imagePullSecrets,omitempty"`
}

// HeimdallInstanceStatus is the observed state of a HeimdallInstance.
type HeimdallInstanceStatus struct {
	// ObservedGeneration is the spec generation this status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// Conditions: Ready, Progressing, Degraded.
	// +listType=map
	// +listMapKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// Components reports the readiness of each part of the installation.
	// +optional
	Components ComponentsStatus `json:"components,omitempty"`

	// Endpoint is the in-cluster URL of the Heimdall API.
	// +optional
	Endpoint string `json:"endpoint,omitempty"`

	// Version is the server version that serves: the one every ready pod runs.
	// +optional
	Version string `json:"version,omitempty"`

	// Replicas is the number of server pods (for the scale subresource).
	// +optional
	Replicas int32 `json:"replicas,omitempty"`

	// Selector is the label selector of the server pods (for the scale subresource).
	// +optional
	Selector string `json:"selector,omitempty"`

	// JWT reports key rotation; empty while spec.jwt.rotation is off.
	// +optional
	JWT *JWTStatus `json:"jwt,omitempty"`

	// Backup reports the scheduled backups.
	// +optional
	Backup *BackupStatus `json:"backup,omitempty"`

	// Restore reports the current restore request.
	// +optional
	Restore *RestoreStatus `json:"restore,omitempty"`
}

// ComponentsStatus reports each component.
type ComponentsStatus struct {
	// +optional
	Postgres *ComponentStatus `json:"postgres,omitzero"`
	// +optional
	Redis *ComponentStatus `json:"redis,omitzero"`
	// +optional
	FusionAuth *ComponentStatus `json:"fusionAuth,omitzero"`
	// +optional
	Server *ComponentStatus `json:"server,omitempty"`
}

// ComponentStatus is the observed state of one component.
type ComponentStatus struct {
	// Ready is true when the component serves.
	Ready bool `json:"ready"`

	// Mode is Managed or External.
	// +optional
	Mode string `json:"mode,omitempty"`

	// ReadyReplicas counts ready pods of a managed component.
	// +optional
	ReadyReplicas int32 `json:"readyReplicas,omitempty"`

	// Replicas is the desired pod count of a managed component.
	// +optional
	Replicas int32 `json:"replicas,omitempty"`

	// Message explains a component that is not ready.
	// +optional
	Message string `json:"message,omitempty"`
}

// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:subresource:scale:specpath=.spec.replicas,statuspath=.status.replicas,selectorpath=.status.selector
// +kubebuilder:resource:shortName=hdi,categories=heimdall
// +kubebuilder:printcolumn:name="Version",type=string,JSONPath=`.status.version`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Endpoint",type=string,JSONPath=`.status.endpoint`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// Child names append up to 20 characters (<name>-postgres-<revision hash> is a label value, at
// most 63), so the instance name is capped where every child name stays valid.
// +kubebuilder:validation:XValidation:rule="self.metadata.name.size() <= 40",message="metadata.name must be at most 40 characters: the operator derives child names from it"

// HeimdallInstance is one Heimdall auth service installation.
type HeimdallInstance struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// +required
	Spec HeimdallInstanceSpec `json:"spec"`

	// +optional
	Status HeimdallInstanceStatus `json:"status,omitempty"`
}

// +kubebuilder:object:root=true

// HeimdallInstanceList contains a list of HeimdallInstance.
type HeimdallInstanceList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []HeimdallInstance `json:"items"`
}

func init() {
	SchemeBuilder.Register(&HeimdallInstance{}, &HeimdallInstanceList{})
}
