package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// PostgresSpec chooses between a PostgreSQL the operator runs and an existing one.
// +kubebuilder:validation:XValidation:rule="has(self.managed) != has(self.external)",message="spec.postgres: exactly one of managed or external must be set"
type PostgresSpec struct {
	// Managed runs PostgreSQL as a StatefulSet next to the server.
	// +optional
	Managed *ManagedPostgres `json:"managed,omitempty"`

	// External points at an existing PostgreSQL (RDS, Cloud SQL, Azure Database, ...).
	// +optional
	External *ExternalPostgres `json:"external,omitempty"`
}

// ManagedPostgres configures the PostgreSQL the operator runs.
type ManagedPostgres struct {
	// Version is the PostgreSQL major version (image tag) to run.
	// +kubebuilder:default="14"
	// +kubebuilder:validation:Pattern=`^[0-9]+(\.[0-9]+)?$`
	// +optional
	Version string `json:"version,omitempty"`

	// Image overrides the PostgreSQL image; it must be compatible with the official postgres image.
	// +optional
	Image string `json:"image,omitempty"`

	// Storage of the data volume.
	// +kubebuilder:default={size:"50Gi"}
	// +optional
	Storage StorageSpec `json:"storage,omitzero"`

	// Resources of the PostgreSQL container.
	// +kubebuilder:default={requests:{cpu:"250m",memory:"1Gi"},limits:{memory:"2Gi"}}
	// +optional
	Resources corev1.ResourceRequirements `json:"resources,omitzero"`
}

// StorageSpec sizes a persistent volume. Both fields are fixed once the volume exists.
// +kubebuilder:validation:XValidation:rule="has(self.storageClassName) == has(oldSelf.storageClassName) && (!has(self.storageClassName) || self.storageClassName == oldSelf.storageClassName)",message="storageClassName is immutable"
// +kubebuilder:validation:XValidation:rule="self.size == oldSelf.size",message="size is immutable; expand the PersistentVolumeClaim directly"
type StorageSpec struct {
	// Size of the volume.
	// +required
	Size resource.Quantity `json:"size"`

	// StorageClassName of the volume; the cluster default when empty.
	// +optional
	StorageClassName *string `json:"storageClassName,omitempty"`
}

// ExternalPostgres points at an existing PostgreSQL server.
type ExternalPostgres struct {
	// Host name or address of the server.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +required
	Host string `json:"host"`

	// Port of the server.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=65535
	// +kubebuilder:default=5432
	// +optional
	Port int32 `json:"port,omitempty"`

	// Database holding Heimdall's tables.
	// +kubebuilder:default=heimdall
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +optional
	Database string `json:"database,omitempty"`

	// SSLMode as libpq names it.
	// +kubebuilder:validation:Enum=disable;allow;prefer;require;verify-ca;verify-full
	// +kubebuilder:default=require
	// +optional
	SSLMode string `json:"sslMode,omitempty"`

	// CredentialsSecretRef names the Secret with the database username and password.
	// +required
	CredentialsSecretRef CredentialsSecretRef `json:"credentialsSecretRef"`
}

// RedisSpec chooses between a Redis the operator runs and an existing one.
// +kubebuilder:validation:XValidation:rule="has(self.managed) != has(self.external)",message="spec.redis: exactly one of managed or external must be set"
type RedisSpec struct {
	// Managed runs Redis as a StatefulSet next to the server.
	// +optional
	Managed *ManagedRedis `json:"managed,omitempty"`

	// External points at an existing Redis (ElastiCache, Memorystore, Azure Cache, ...).
	// +optional
	External *ExternalRedis `json:"external,omitempty"`
}

// ManagedRedis configures the Redis the operator runs.
type ManagedRedis struct {
	// Version is the Redis major version (image tag prefix) to run.
	// +kubebuilder:default="7"
	// +kubebuilder:validation:Pattern=`^[0-9]+(\.[0-9]+){0,2}$`
	// +optional
	Version string `json:"version,omitempty"`

	// Image overrides the Redis image.
	// +optional
	Image string `json:"image,omitempty"`

	// MaxMemory is Redis' maxmemory (evicting with allkeys-lru beyond it).
	// +kubebuilder:default="2gb"
	// +kubebuilder:validation:Pattern=`^[0-9]+(b|kb|mb|gb)?$`
	// +optional
	MaxMemory string `json:"maxMemory,omitempty"`

	// Storage of the append-only data volume.
	// +kubebuilder:default={size:"8Gi"}
	// +optional
	Storage StorageSpec `json:"storage,omitzero"`

	// Resources of the Redis container.
	// +kubebuilder:default={requests:{cpu:"100m",memory:"256Mi"},limits:{memory:"2560Mi"}}
	// +optional
	Resources corev1.ResourceRequirements `json:"resources,omitzero"`
}

// ExternalRedis points at an existing Redis server.
type ExternalRedis struct {
	// Host name or address of the server.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +required
	Host string `json:"host"`

	// Port of the server.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=65535
	// +kubebuilder:default=6379
	// +optional
	Port int32 `json:"port,omitempty"`

	// Database number.
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=15
	// +optional
	Database int32 `json:"database,omitempty"`

	// TLS connects with rediss://.
	// +optional
	TLS bool `json:"tls,omitempty"`

	// PasswordSecretRef names the Secret key holding the Redis password (AUTH), if any.
	// +optional
	PasswordSecretRef *SecretKeyRef `json:"passwordSecretRef,omitempty"`
}

// FusionAuthSpec chooses between a FusionAuth the operator runs and an existing one.
// +kubebuilder:validation:XValidation:rule="has(self.managed) != has(self.external)",message="spec.fusionAuth: exactly one of managed or external must be set"
type FusionAuthSpec struct {
	// Managed runs FusionAuth as a Deployment, configured on first start by a kickstart file.
	// +optional
	Managed *ManagedFusionAuth `json:"managed,omitempty"`

	// External points at an existing FusionAuth.
	// +optional
	External *ExternalFusionAuth `json:"external,omitempty"`
}

// ManagedFusionAuth configures the FusionAuth the operator runs.
type ManagedFusionAuth struct {
	// Version of fusionauth/fusionauth-app to run; pinned, never "latest".
	// +kubebuilder:default="1.60.1"
	// +kubebuilder:validation:Pattern=`^[0-9]+\.[0-9]+\.[0-9]+$`
	// +optional
	Version string `json:"version,omitempty"`

	// Image overrides the FusionAuth image.
	// +optional
	Image string `json:"image,omitempty"`

	// Replicas of FusionAuth.
	// +kubebuilder:default=1
	// +kubebuilder:validation:Minimum=1
	// +optional
	Replicas int32 `json:"replicas,omitempty"`

	// Memory is the JVM heap (FUSIONAUTH_APP_MEMORY).
	// +kubebuilder:default="512M"
	// +kubebuilder:validation:Pattern=`^[0-9]+[MG]$`
	// +optional
	Memory string `json:"memory,omitempty"`

	// Resources of the FusionAuth container.
	// +kubebuilder:default={requests:{cpu:"500m",memory:"1Gi"},limits:{memory:"1536Mi"}}
	// +optional
	Resources corev1.ResourceRequirements `json:"resources,omitzero"`
}

// ExternalFusionAuth points at an existing FusionAuth.
type ExternalFusionAuth struct {
	// URL of the FusionAuth API, e.g. https://auth.example.com.
	// +kubebuilder:validation:XValidation:rule="isURL(self)",message="spec.fusionAuth.external.url must be a URL"
	// +kubebuilder:validation:MaxLength=2048
	// +required
	URL string `json:"url"`

	// APIKeySecretRef names the Secret key holding a FusionAuth API key.
	// +required
	APIKeySecretRef SecretKeyRef `json:"apiKeySecretRef"`

	// TenantID is the FusionAuth tenant (FUSIONAUTH_TENANT_ID); empty for a single-tenant FusionAuth.
	// +optional
	TenantID string `json:"tenantId,omitempty"`

	// ApplicationID is the FusionAuth application users register with.
	// +kubebuilder:validation:Pattern=`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`
	// +required
	ApplicationID string `json:"applicationId"`
}
