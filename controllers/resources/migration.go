package resources

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strconv"
	"strings"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	heimdallv1 "github.com/heimdall-io/heimdall-operator/api/v1alpha1"
)

// Annotations on a migration Job: the exact version it migrates to (its name may be sanitised) and
// the instance generation that asked for it, which orders Jobs created within the same second.
const (
	MigrationVersionAnnotation    = "heimdall.io/version"
	MigrationGenerationAnnotation = "heimdall.io/instance-generation"
)

// MigrationBackoffLimit retries a failed migration pod six times (about ten minutes with the Job
// controller's exponential back-off): enough for a first install's PostgreSQL to start.
const MigrationBackoffLimit int32 = 6

// migrationJobsKept is how many of the newest migration Jobs stay as the record of past upgrades.
const migrationJobsKept = 2

// maxJobName keeps the name a valid label value: the Job controller labels its pods with it.
const maxJobName = 63

// MigrationJobName is <instance>-migrate-<version> with "." as "-" (pod names, and so hostnames,
// derive from it). When more is lost (case, "_") or the name is too long, a digest of the exact
// version keeps names of different versions apart.
func MigrationJobName(hi *heimdallv1.HeimdallInstance, version string) string {
	s := strings.NewReplacer(".", "-", "_", "-").Replace(strings.ToLower(version))
	name := hi.Name + "-migrate-" + s
	lossy := strings.ToLower(version) != version || strings.Contains(version, "_")
	if !lossy && len(name) <= maxJobName && isAlphanumeric(name[len(name)-1]) {
		return name
	}
	sum := sha256.Sum256([]byte(version))
	suffix := "-" + hex.EncodeToString(sum[:])[:8]
	return strings.TrimRight(name[:min(len(name), maxJobName-len(suffix))], "-.") + suffix
}

func isAlphanumeric(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= '0' && c <= '9'
}

// MigrationJob runs `/heimdall-migrate up` of spec.version's image once, with the server's database
// environment and scheduling. It sets no TTL: the finished Job is the record that this version's
// schema is in place.
func MigrationJob(hi *heimdallv1.HeimdallInstance, img Images) *batchv1.Job {
	version := hi.Spec.Version
	labels := Labels(hi, ComponentMigration, version)
	pod := serverPodSpec(hi)
	// Never: every attempt keeps its own pod and logs for the record.
	pod.RestartPolicy = corev1.RestartPolicyNever
	pod.Containers = []corev1.Container{{
		Name:            "migrate",
		Image:           ServerImage(hi, img),
		Command:         []string{migrateBinary, "up"},
		Env:             databaseEnv(hi),
		Resources:       hi.Spec.Resources,
		SecurityContext: containerSecurityContext(),
	}}
	return &batchv1.Job{
		TypeMeta: metav1.TypeMeta{APIVersion: "batch/v1", Kind: "Job"},
		ObjectMeta: metav1.ObjectMeta{
			Name: MigrationJobName(hi, version), Namespace: hi.Namespace, Labels: labels,
			Annotations: map[string]string{
				MigrationVersionAnnotation:    version,
				MigrationGenerationAnnotation: strconv.FormatInt(hi.Generation, 10),
			},
		},
		Spec: batchv1.JobSpec{
			BackoffLimit: ptr.To(MigrationBackoffLimit),
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       pod,
			},
		},
	}
}

// MigrationState is where a migration Job stands.
type MigrationState int

const (
	MigrationRunning MigrationState = iota
	MigrationSucceeded
	MigrationFailed
)

// JobOutcome reads a Job's terminal conditions; the message of a failure carries the Job
// controller's reason and message.
func JobOutcome(job *batchv1.Job) (MigrationState, string) {
	for _, c := range job.Status.Conditions {
		if c.Status != corev1.ConditionTrue {
			continue
		}
		switch c.Type {
		case batchv1.JobComplete:
			return MigrationSucceeded, ""
		case batchv1.JobFailed:
			return MigrationFailed, fmt.Sprintf("%s: %s", c.Reason, c.Message)
		}
	}
	return MigrationRunning, ""
}

// ServingVersion is the version the server Deployment runs: the target once its migration has
// succeeded (or at first install, when no other version exists), the current one until then.
func ServingVersion(current, target string, state MigrationState) string {
	if current == "" || current == target || state == MigrationSucceeded {
		return target
	}
	return current
}

// StaleMigrationJobs are the migration Jobs to delete. The Jobs of the versions in keep (target
// and serving) and the newest migrationJobsKept Jobs stay; a failed Job of a version not in keep
// goes at once, so asking for that version again retries it.
func StaleMigrationJobs(jobs []batchv1.Job, keep ...string) []*batchv1.Job {
	sorted := make([]*batchv1.Job, 0, len(jobs))
	for i := range jobs {
		sorted = append(sorted, &jobs[i])
	}
	// Newest first: by the generation that created the Job, then creation time, then name.
	slices.SortFunc(sorted, func(a, b *batchv1.Job) int {
		return cmp.Or(
			cmp.Compare(generationOf(b), generationOf(a)),
			b.CreationTimestamp.Compare(a.CreationTimestamp.Time),
			strings.Compare(a.Name, b.Name))
	})
	var stale []*batchv1.Job
	kept := 0
	for _, j := range sorted {
		version := j.Annotations[MigrationVersionAnnotation]
		switch {
		case slices.Contains(keep, version):
		case isFailed(j) || kept >= migrationJobsKept:
			stale = append(stale, j)
			continue
		}
		kept++
	}
	return stale
}

func generationOf(j *batchv1.Job) int64 {
	g, _ := strconv.ParseInt(j.Annotations[MigrationGenerationAnnotation], 10, 64) // absent: oldest
	return g
}

func isFailed(j *batchv1.Job) bool {
	s, _ := JobOutcome(j)
	return s == MigrationFailed
}

// serverImage is the server image of a version: spec.image when set (it pins one image whatever
// the version), otherwise the default repository at that tag.
func serverImage(hi *heimdallv1.HeimdallInstance, version string, img Images) string {
	if hi.Spec.Image != "" {
		return hi.Spec.Image
	}
	return img.Server + ":" + version
}
