package v1alpha1

// BackupSpec configures scheduled pg_dump backups of the Heimdall database.
type BackupSpec struct {
	// Enabled schedules the backups.
	// +kubebuilder:default=true
	// +optional
	Enabled bool `json:"enabled"`

	// Schedule in cron format.
	// +kubebuilder:default="0 2 * * *"
	// +kubebuilder:validation:MinLength=9
	// +optional
	Schedule string `json:"schedule,omitempty"`

	// RetentionDays deletes dumps older than this many days.
	// +kubebuilder:default=30
	// +kubebuilder:validation:Minimum=1
	// +optional
	RetentionDays int32 `json:"retentionDays,omitempty"`

	// Storage of the backup volume.
	// +kubebuilder:default={size:"50Gi"}
	// +optional
	Storage StorageSpec `json:"storage,omitzero"`
}
