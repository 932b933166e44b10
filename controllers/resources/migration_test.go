package resources

import (
	"regexp"
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// jobNameRE is a DNS-1123 label (at most 63 characters): pod names and hostnames derive from it.
var jobNameRE = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)

func TestMigrationJobName(t *testing.T) {
	long := defaulted()
	long.Name = strings.Repeat("a", 60)
	tests := []struct {
		name, instance, version string
		want                    string // empty: only check validity and distinctness
	}{
		{"plain semver", "auth", "1.5.0", "auth-migrate-1-5-0"},
		{"pre-release", "auth", "1.5.0-rc.1", "auth-migrate-1-5-0-rc-1"},
		{"upper case is digested", "auth", "1.5.0-RC1", ""},
		{"underscore is digested", "auth", "1_5", ""},
		{"trailing dot", "auth", "1.5.", ""},
		{"long instance name", long.Name, "1.5.0", ""},
	}
	seen := map[string]string{}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hi := defaulted()
			hi.Name = tt.instance
			got := MigrationJobName(hi, tt.version)
			if tt.want != "" && got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
			if len(got) > 63 || !jobNameRE.MatchString(got) {
				t.Errorf("%q is not a valid Job name", got)
			}
			if other, ok := seen[got]; ok {
				t.Errorf("%q and %q share the name %q", other, tt.version, got)
			}
			seen[got] = tt.version
		})
	}
	// Versions that sanitise alike must not share a Job.
	hi := defaulted()
	if MigrationJobName(hi, "1.5.0-rc1") == MigrationJobName(hi, "1.5.0-RC1") {
		t.Error("1.5.0-rc1 and 1.5.0-RC1 share a Job name")
	}
}

func TestMigrationJob(t *testing.T) {
	hi := defaulted()
	hi.Spec.Version = "1.5.0"
	hi.Generation = 4
	hi.Spec.PodTemplate.ImagePullSecrets = []corev1.LocalObjectReference{{Name: "pull"}}
	hi.Spec.PodTemplate.NodeSelector = map[string]string{"pool": "auth"}
	j := MigrationJob(hi, DefaultImages)

	if j.Name != "auth-migrate-1-5-0" || j.Namespace != "prod" {
		t.Errorf("name %s/%s", j.Namespace, j.Name)
	}
	if j.Spec.TTLSecondsAfterFinished != nil {
		t.Error("the finished Job is the record; it must not expire")
	}
	if j.Spec.BackoffLimit == nil || *j.Spec.BackoffLimit != MigrationBackoffLimit {
		t.Errorf("backoffLimit = %v", j.Spec.BackoffLimit)
	}
	if got := j.Annotations; got[MigrationVersionAnnotation] != "1.5.0" || got[MigrationGenerationAnnotation] != "4" {
		t.Errorf("annotations %v", got)
	}
	if got := j.Spec.Template.Labels["app.kubernetes.io/component"]; got != ComponentMigration {
		t.Errorf("pod component label %q", got)
	}
	pod := j.Spec.Template.Spec
	if pod.RestartPolicy != corev1.RestartPolicyNever || pod.ServiceAccountName != "auth" || *pod.AutomountServiceAccountToken {
		t.Errorf("pod: restart %s, sa %s", pod.RestartPolicy, pod.ServiceAccountName)
	}
	if pod.ImagePullSecrets[0].Name != "pull" || pod.NodeSelector["pool"] != "auth" {
		t.Error("the migration pod is scheduled and pulled unlike the server")
	}
	if !*pod.SecurityContext.RunAsNonRoot || pod.SecurityContext.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Error("pod security context is not restricted")
	}
	c := pod.Containers[0]
	if c.Image != "ghcr.io/heimdall-io/heimdall-server:1.5.0" || strings.Join(c.Command, " ") != "/heimdall-migrate up" {
		t.Errorf("container runs %s %v", c.Image, c.Command)
	}
	if *c.SecurityContext.AllowPrivilegeEscalation || !*c.SecurityContext.ReadOnlyRootFilesystem || c.SecurityContext.Capabilities.Drop[0] != "ALL" {
		t.Error("container security context is not restricted")
	}
	// The database environment is the server's, not a copy that can drift.
	if !equality.Semantic.DeepEqual(c.Env, databaseEnv(hi)) {
		t.Errorf("env %v", c.Env)
	}
	server := ServerDeployment(hi, Inputs{Images: DefaultImages}).Spec.Template.Spec.Containers[0].Env
	for _, e := range c.Env {
		if !containsEnv(server, e) {
			t.Errorf("%s differs from the server's", e.Name)
		}
	}

	hi.Spec.Image = "mirror.local/heimdall@sha256:abc"
	if got := MigrationJob(hi, DefaultImages).Spec.Template.Spec.Containers[0].Image; got != hi.Spec.Image {
		t.Errorf("spec.image not honoured: %s", got)
	}
}

func containsEnv(env []corev1.EnvVar, e corev1.EnvVar) bool {
	for _, x := range env {
		if equality.Semantic.DeepEqual(x, e) {
			return true
		}
	}
	return false
}

func TestServerDeploymentRunsServingVersion(t *testing.T) {
	hi := defaulted()
	hi.Spec.Version = "1.5.0"
	tests := []struct {
		name                   string
		in                     Inputs
		wantImage, wantVersion string
	}{
		{"no serving version: spec.version", Inputs{Images: DefaultImages}, "ghcr.io/heimdall-io/heimdall-server:1.5.0", "1.5.0"},
		{"held back", Inputs{Images: DefaultImages, ServingVersion: "1.4.0"}, "ghcr.io/heimdall-io/heimdall-server:1.4.0", "1.4.0"},
		{"held back with a pinned image", Inputs{Images: DefaultImages, ServingVersion: "1.4.0", ServingImage: "old/image:x"}, "old/image:x", "1.4.0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := ServerDeployment(hi, tt.in)
			if got := d.Spec.Template.Spec.Containers[0].Image; got != tt.wantImage {
				t.Errorf("image %s, want %s", got, tt.wantImage)
			}
			for _, l := range []map[string]string{d.Labels, d.Spec.Template.Labels} {
				if got := l["app.kubernetes.io/version"]; got != tt.wantVersion {
					t.Errorf("version label %s, want %s", got, tt.wantVersion)
				}
			}
			if len(d.Spec.Template.Spec.InitContainers) != 0 {
				t.Error("migrations run in a Job, not in an init container of every pod")
			}
		})
	}
}

func finishedJob(version string, generation string, cond batchv1.JobConditionType, reason, message string) batchv1.Job {
	j := batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: "auth-migrate-" + version,
		Annotations: map[string]string{MigrationVersionAnnotation: version, MigrationGenerationAnnotation: generation}}}
	if cond != "" {
		j.Status.Conditions = []batchv1.JobCondition{{Type: cond, Status: corev1.ConditionTrue, Reason: reason, Message: message}}
	}
	return j
}

func TestJobOutcome(t *testing.T) {
	running := finishedJob("1.5.0", "1", "", "", "")
	running.Status.Conditions = []batchv1.JobCondition{{Type: batchv1.JobFailureTarget, Status: corev1.ConditionTrue}}
	notYet := finishedJob("1.5.0", "1", batchv1.JobComplete, "", "")
	notYet.Status.Conditions[0].Status = corev1.ConditionFalse
	tests := []struct {
		name    string
		job     batchv1.Job
		want    MigrationState
		wantMsg string
	}{
		{"no conditions", finishedJob("1.5.0", "1", "", "", ""), MigrationRunning, ""},
		{"failure target only: pods still terminating", running, MigrationRunning, ""},
		{"complete false", notYet, MigrationRunning, ""},
		{"complete", finishedJob("1.5.0", "1", batchv1.JobComplete, "CompletionsReached", ""), MigrationSucceeded, ""},
		{"failed", finishedJob("1.5.0", "1", batchv1.JobFailed, "BackoffLimitExceeded", "Job has reached the specified backoff limit"),
			MigrationFailed, "BackoffLimitExceeded: Job has reached the specified backoff limit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, msg := JobOutcome(&tt.job)
			if got != tt.want || msg != tt.wantMsg {
				t.Errorf("got %v %q, want %v %q", got, msg, tt.want, tt.wantMsg)
			}
		})
	}
}

func TestServingVersion(t *testing.T) {
	tests := []struct {
		name, current, target string
		state                 MigrationState
		want                  string
	}{
		{"first install runs the target at once", "", "1.4.0", MigrationRunning, "1.4.0"},
		{"unchanged", "1.4.0", "1.4.0", MigrationRunning, "1.4.0"},
		{"upgrade waits for the migration", "1.4.0", "1.5.0", MigrationRunning, "1.4.0"},
		{"failed migration holds the old version", "1.4.0", "1.5.0", MigrationFailed, "1.4.0"},
		{"succeeded migration rolls", "1.4.0", "1.5.0", MigrationSucceeded, "1.5.0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ServingVersion(tt.current, tt.target, tt.state); got != tt.want {
				t.Errorf("got %s, want %s", got, tt.want)
			}
		})
	}
}

func TestStaleMigrationJobs(t *testing.T) {
	ok := func(v, gen string) batchv1.Job { return finishedJob(v, gen, batchv1.JobComplete, "", "") }
	failed := func(v, gen string) batchv1.Job {
		return finishedJob(v, gen, batchv1.JobFailed, "BackoffLimitExceeded", "")
	}
	sameSecond := func(j batchv1.Job, ts time.Time) batchv1.Job { j.CreationTimestamp = metav1.NewTime(ts); return j }
	now := time.Now()
	tests := []struct {
		name string
		jobs []batchv1.Job
		keep []string
		want []string
	}{
		{"two are kept", []batchv1.Job{ok("1.4.0", "1"), ok("1.5.0", "2")}, []string{"1.5.0"}, nil},
		{"the oldest beyond two goes", []batchv1.Job{ok("1.4.0", "1"), ok("1.6.0", "9"), ok("1.5.0", "3")}, []string{"1.6.0"}, []string{"1.4.0"}},
		{"generation orders jobs of the same second",
			[]batchv1.Job{sameSecond(ok("1.6.0", "10"), now), sameSecond(ok("1.5.0", "9"), now), sameSecond(ok("1.4.0", "2"), now)},
			[]string{"1.6.0"}, []string{"1.4.0"}},
		{"serving and target versions stay whatever their age",
			[]batchv1.Job{ok("1.4.0", "1"), ok("1.5.0", "2"), ok("1.6.0", "3"), finishedJob("1.7.0", "4", "", "", "")},
			[]string{"1.7.0", "1.4.0"}, []string{"1.5.0"}},
		{"a failed job of a version no longer asked for goes, so asking again retries",
			[]batchv1.Job{ok("1.4.0", "1"), failed("1.5.0", "2")}, []string{"1.4.0"}, []string{"1.5.0"}},
		{"the target's failed job stays: it is the current verdict",
			[]batchv1.Job{ok("1.4.0", "1"), failed("1.5.0", "2")}, []string{"1.5.0", "1.4.0"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, j := range StaleMigrationJobs(tt.jobs, tt.keep...) {
				got = append(got, j.Annotations[MigrationVersionAnnotation])
			}
			if strings.Join(got, ",") != strings.Join(tt.want, ",") {
				t.Errorf("stale %v, want %v", got, tt.want)
			}
		})
	}
}
