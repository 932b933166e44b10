package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// BackupSpec configures scheduled pg_dump backups of the Heimdall database into a volume.
type BackupSpec struct {
	// Enabled schedules the backups.
	// +kubebuilder:default=true
	// +optional
	Enabled bool `json:"enabled"`

	// Schedule in cron format (five fields, or a macro such as @daily), in the controller
	// manager's time zone (usually UTC).
	// +kubebuilder:default="0 2 * * *"
	// +kubebuilder:validation:MaxLength=128
	// +kubebuilder:validation:XValidation:rule="self.matches('^(@(yearly|annually|monthly|weekly|daily|midnight|hourly)|[0-9A-Za-z*?,/-]+( +[0-9A-Za-z*?,/-]+){4})$')",message="spec.backup.schedule must be a cron expression of five fields (e.g. \"0 2 * * *\") or a macro such as @daily"
	// +optional
	Schedule string `json:"schedule,omitempty"`

	// RetentionDays deletes dumps older than this many days.
	// +kubebuilder:default=30
	// +kubebuilder:validation:XValidation:rule="self >= 1 && self <= 3650",message="spec.backup.retentionDays must be between 1 and 3650"
	// +optional
	RetentionDays int32 `json:"retentionDays,omitempty"`

	// Storage of the backup volume, the PersistentVolumeClaim <name>-backups. It follows
	// spec.pvcRetentionPolicy.
	// +kubebuilder:default={size:"50Gi"}
	// +optional
	Storage StorageSpec `json:"storage,omitzero"`

	// Image runs pg_dump (and psql for restores); it must be compatible with the official postgres
	// image. By default: the managed PostgreSQL's image, or postgres:14 (the deployment guide's)
	// for an external server — set it to the external server's major version.
	// +kubebuilder:validation:MaxLength=512
	// +optional
	Image string `json:"image,omitempty"`
}

// BackupStatus is what the operator last learnt from the backup CronJob and its Jobs.
type BackupStatus struct {
	// LastScheduleTime is when the CronJob last started a backup.
	// +optional
	LastScheduleTime *metav1.Time `json:"lastScheduleTime,omitempty"`

	// LastSuccessfulTime is when a backup last completed.
	// +optional
	LastSuccessfulTime *metav1.Time `json:"lastSuccessfulTime,omitempty"`

	// LastBackupFile is the file the newest successful scheduled backup wrote, the name to put
	// in spec.restore.backupFile.
	// +optional
	LastBackupFile string `json:"lastBackupFile,omitempty"`

	// LastFailure describes the newest finished backup Job when it failed (the Job's name, reason
	// and message; `kubectl logs job/<name>` shows why). Empty once a later backup succeeds.
	// +optional
	LastFailure string `json:"lastFailure,omitempty"`
}
