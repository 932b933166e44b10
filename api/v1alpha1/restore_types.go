package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// RestoreSpec asks for one backup file to be restored into the Heimdall database. The operator
// runs it once per request: the server is scaled to zero, a Job replaces the database's content
// with the dump and migrates it to the serving version, then the server starts again. A failed
// restore keeps the server stopped until the request is changed or removed.
type RestoreSpec struct {
	// BackupFile is the dump to restore, a file name in the backup volume such as
	// heimdall_20261204_020000.sql.gz (status.backup.lastBackupFile names the newest).
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=255
	// +kubebuilder:validation:XValidation:rule="self.matches('^[A-Za-z0-9][A-Za-z0-9._-]*[.]sql[.]gz$')",message="spec.restore.backupFile must be a file name ending in .sql.gz, without a directory"
	// +required
	BackupFile string `json:"backupFile"`

	// ClaimName is the PersistentVolumeClaim holding the file; <name>-backups when empty.
	// +kubebuilder:validation:MaxLength=253
	// +optional
	ClaimName string `json:"claimName,omitempty"`
}

// RestorePhase is where a restore request stands.
// +kubebuilder:validation:Enum=Pending;Running;Succeeded;Failed
type RestorePhase string

const (
	// RestorePending: accepted, waiting for the server to stop and PostgreSQL to be ready.
	RestorePending RestorePhase = "Pending"
	// RestoreRunning: the restore Job runs.
	RestoreRunning RestorePhase = "Running"
	// RestoreSucceeded: the database holds the backup's data; the server serves again.
	RestoreSucceeded RestorePhase = "Succeeded"
	// RestoreFailed: the Job failed; the server stays stopped until the request changes.
	RestoreFailed RestorePhase = "Failed"
)

// RestoreStatus reports the current restore request.
type RestoreStatus struct {
	// BackupFile is the file of the request this status describes.
	BackupFile string `json:"backupFile"`

	// Request is a digest of the request; the restore Job is named after it, so each request
	// runs once.
	Request string `json:"request"`

	// JobName is the restore Job.
	// +optional
	JobName string `json:"jobName,omitempty"`

	// Phase: Pending, Running, Succeeded or Failed.
	Phase RestorePhase `json:"phase"`

	// StartTime is when the restore Job was created.
	// +optional
	StartTime *metav1.Time `json:"startTime,omitempty"`

	// CompletionTime is when the Job succeeded or failed.
	// +optional
	CompletionTime *metav1.Time `json:"completionTime,omitempty"`

	// Message explains the phase.
	// +optional
	Message string `json:"message,omitempty"`
}
