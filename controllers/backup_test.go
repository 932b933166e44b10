package controllers

import (
	"context"
	"strconv"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	heimdallv1 "github.com/heimdall-io/heimdall-operator/api/v1alpha1"
	"github.com/heimdall-io/heimdall-operator/controllers/resources"
)

// backupInstance is a minimal instance with backups on and every backup default from the schema.
func backupInstance(ns, name string) *heimdallv1.HeimdallInstance {
	hi := minimalInstance(ns, name)
	hi.Spec.Backup = &heimdallv1.BackupSpec{Enabled: true}
	return hi
}

// finishJob writes the status the Job controller writes when a Job ends.
func finishJob(ns, name string, succeeded bool) {
	GinkgoHelper()
	j := get(ns, name, &batchv1.Job{})
	now := metav1.Now()
	j.Status.StartTime = ptr.To(metav1.NewTime(now.Add(-time.Minute)))
	cond := func(t batchv1.JobConditionType, reason, msg string) batchv1.JobCondition {
		return batchv1.JobCondition{Type: t, Status: corev1.ConditionTrue, Reason: reason, Message: msg, LastProbeTime: now, LastTransitionTime: now}
	}
	if succeeded {
		j.Status.Succeeded = 1
		j.Status.CompletionTime = &now
		j.Status.Conditions = []batchv1.JobCondition{cond(batchv1.JobSuccessCriteriaMet, "CompletionsReached", "Reached expected number of succeeded pods"),
			cond(batchv1.JobComplete, "CompletionsReached", "Reached expected number of succeeded pods")}
	} else {
		j.Status.Failed = 3
		j.Status.Conditions = []batchv1.JobCondition{cond(batchv1.JobFailureTarget, "BackoffLimitExceeded", "Job has reached the specified backoff limit"),
			cond(batchv1.JobFailed, "BackoffLimitExceeded", "Job has reached the specified backoff limit")}
	}
	Expect(k8s.Status().Update(ctx, j)).To(Succeed())
}

var _ = Describe("Backups", func() {
	var (
		ns string
		r  *HeimdallInstanceReconciler
		w  *writeCounter
	)
	BeforeEach(func() {
		ns = newNamespace()
		r, w = directReconciler()
	})

	It("fills the backup defaults of the deployment guide", func() {
		hi := createInstance(backupInstance(ns, "defaults"))
		Expect(*hi.Spec.Backup).To(Equal(heimdallv1.BackupSpec{Enabled: true, Schedule: "0 2 * * *", RetentionDays: 30,
			Storage: heimdallv1.StorageSpec{Size: resource.MustParse("50Gi")}}))
	})

	It("runs the dump as a CronJob into a retained volume, with the credential Secret", func() {
		hi := backupInstance(ns, "auth")
		hi.Spec.Backup.Schedule = "30 3 * * *"
		hi.Spec.Backup.RetentionDays = 14
		hi.Spec.Backup.Storage = heimdallv1.StorageSpec{Size: resource.MustParse("20Gi"), StorageClassName: ptr.To("backup-class")}
		hi = createInstance(hi)
		reconcileOnce(r, hi)

		cj := get(ns, "auth-backup", &batchv1.CronJob{})
		expectOwned(hi, cj, resources.ComponentBackup)
		Expect(cj.Spec.Schedule).To(Equal("30 3 * * *"))
		Expect(cj.Spec.ConcurrencyPolicy).To(Equal(batchv1.ForbidConcurrent))
		Expect(cj.Spec.SuccessfulJobsHistoryLimit).To(HaveValue(BeEquivalentTo(3)))
		Expect(cj.Spec.FailedJobsHistoryLimit).To(HaveValue(BeEquivalentTo(3)))
		Expect(cj.Spec.JobTemplate.Spec.BackoffLimit).To(HaveValue(BeEquivalentTo(2)))
		pod := cj.Spec.JobTemplate.Spec.Template.Spec
		Expect(pod.ServiceAccountName).To(Equal("auth-backup"))
		Expect(pod.AutomountServiceAccountToken).To(HaveValue(BeFalse()))
		Expect(pod.SecurityContext.RunAsNonRoot).To(HaveValue(BeTrue()))
		Expect(pod.Volumes).To(ContainElement(HaveField("PersistentVolumeClaim.ClaimName", "auth-backups")))
		c := pod.Containers[0]
		Expect(c.Image).To(Equal("registry.test/postgres:14"), "pg_dump of the server's major version")
		Expect(c.Command[2]).To(ContainSubstring("pg_dump --no-owner --no-privileges | gzip"))
		Expect(c.Command[2]).To(ContainSubstring(`-mtime "+${RETENTION_DAYS}" -print -delete`))
		env := envMap(c.Env)
		Expect(env).To(HaveKeyWithValue("PGPASSWORD", "secret:auth-postgres/password"))
		Expect(env).To(HaveKeyWithValue("PGUSER", "secret:auth-postgres/username"))
		Expect(env).To(HaveKeyWithValue("PGHOST", "auth-postgres"))
		Expect(env).To(HaveKeyWithValue("RETENTION_DAYS", "14"))
		Expect(c.SecurityContext.ReadOnlyRootFilesystem).To(HaveValue(BeTrue()))

		sa := get(ns, "auth-backup", &corev1.ServiceAccount{})
		expectOwned(hi, sa, resources.ComponentBackup)
		Expect(sa.AutomountServiceAccountToken).To(HaveValue(BeFalse()))

		pvc := get(ns, "auth-backups", &corev1.PersistentVolumeClaim{})
		Expect(pvc.OwnerReferences).To(BeEmpty(), "Retain (the default) keeps the backups after the instance")
		Expect(pvc.Spec.StorageClassName).To(HaveValue(Equal("backup-class")))
		Expect(pvc.Spec.Resources.Requests.Storage().String()).To(Equal("20Gi"))
	})

	It("uses an external server's credentials and the guide's postgres:14 unless told otherwise", func() {
		Expect(k8s.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "rds", Namespace: ns},
			StringData: map[string]string{"username": "app", "password": "s3cret"}})).To(Succeed())
		hi := backupInstance(ns, "ext")
		hi.Spec.Postgres = heimdallv1.PostgresSpec{External: &heimdallv1.ExternalPostgres{Host: "db.rds.amazonaws.com",
			CredentialsSecretRef: heimdallv1.CredentialsSecretRef{Name: "rds"}}}
		hi = createInstance(hi)
		reconcileOnce(r, hi)
		c := get(ns, "ext-backup", &batchv1.CronJob{}).Spec.JobTemplate.Spec.Template.Spec.Containers[0]
		Expect(c.Image).To(Equal("registry.test/postgres:14"))
		Expect(envMap(c.Env)).To(And(HaveKeyWithValue("PGPASSWORD", "secret:rds/password"), HaveKeyWithValue("PGHOST", "db.rds.amazonaws.com"),
			HaveKeyWithValue("PGSSLMODE", "require"), HaveKeyWithValue("PGDATABASE", "heimdall")))

		updateSpec(hi, func(s *heimdallv1.HeimdallInstanceSpec) { s.Backup.Image = "registry.test/postgres:16" })
		reconcileOnce(r, hi)
		Expect(get(ns, "ext-backup", &batchv1.CronJob{}).Spec.JobTemplate.Spec.Template.Spec.Containers[0].Image).To(Equal("registry.test/postgres:16"))
	})

	It("moves the volume's owner reference with pvcRetentionPolicy, both ways", func() {
		hi := backupInstance(ns, "gone")
		hi.Spec.PVCRetentionPolicy = heimdallv1.PVCDelete
		hi = createInstance(hi)
		reconcileOnce(r, hi)
		Expect(metav1.IsControlledBy(get(ns, "gone-backups", &corev1.PersistentVolumeClaim{}), hi)).To(BeTrue(), "Delete: the backups go with the instance")

		updateSpec(hi, func(s *heimdallv1.HeimdallInstanceSpec) { s.PVCRetentionPolicy = heimdallv1.PVCRetain })
		reconcileOnce(r, hi)
		Expect(get(ns, "gone-backups", &corev1.PersistentVolumeClaim{}).OwnerReferences).To(BeEmpty())

		updateSpec(hi, func(s *heimdallv1.HeimdallInstanceSpec) { s.PVCRetentionPolicy = heimdallv1.PVCDelete })
		reconcileOnce(r, hi)
		Expect(metav1.IsControlledBy(get(ns, "gone-backups", &corev1.PersistentVolumeClaim{}), hi)).To(BeTrue())
	})

	It("adopts the retained volume an earlier instance of the same name left behind", func() {
		// What a deleted instance with Retain leaves: the claim, without an owner.
		left := resources.BackupPVC(backupInstance(ns, "again"))
		left.Spec.Resources.Requests = corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("50Gi")}
		Expect(k8s.Create(ctx, left)).To(Succeed())

		hi := createInstance(backupInstance(ns, "again"))
		reconcileOnce(r, hi)
		pvc := get(ns, "again-backups", &corev1.PersistentVolumeClaim{})
		Expect(pvc.UID).To(Equal(left.UID))
		Expect(pvc.OwnerReferences).To(BeEmpty())
		Expect(condition(get(ns, "again", &heimdallv1.HeimdallInstance{}), ConditionDegraded)).To(HaveField("Status", metav1.ConditionFalse))
	})

	It("sends a Created event only for a volume it created, not for one a stale read missed", func() {
		// A reader that never sees claims, as a cache lagging behind an existing one.
		recorder := events.NewFakeRecorder(10)
		stale := &HeimdallInstanceReconciler{
			Client: interceptor.NewClient(k8s, interceptor.Funcs{
				Get: func(ctx context.Context, c client.WithWatch, key client.ObjectKey, o client.Object, opts ...client.GetOption) error {
					if _, ok := o.(*corev1.PersistentVolumeClaim); ok {
						return apierrors.NewNotFound(corev1.Resource("persistentvolumeclaims"), key.Name)
					}
					return c.Get(ctx, key, o, opts...)
				},
			}),
			Scheme: scheme, Recorder: recorder, Images: testImage,
		}

		hi := createInstance(backupInstance(ns, "exists"))
		Expect(k8s.Create(ctx, resources.BackupPVC(hi))).To(Succeed())
		Expect(stale.reconcileBackupVolume(ctx, hi)).To(Succeed())
		Expect(recorder.Events).NotTo(Receive(), "AlreadyExists is no creation")

		fresh := createInstance(backupInstance(ns, "fresh"))
		Expect(stale.reconcileBackupVolume(ctx, fresh)).To(Succeed())
		Expect(recorder.Events).To(Receive(Equal("Normal Created Created PersistentVolumeClaim fresh-backups")))
		get(ns, "fresh-backups", &corev1.PersistentVolumeClaim{})
	})

	It("reports the last schedule, the last success and the newest file from the CronJob and its Jobs", func() {
		hi := createInstance(backupInstance(ns, "st"))
		reconcileOnce(r, hi)
		Expect(get(ns, "st", &heimdallv1.HeimdallInstance{}).Status.Backup).To(Equal(&heimdallv1.BackupStatus{}))

		cj := get(ns, "st-backup", &batchv1.CronJob{})
		// Jobs as the CronJob controller names them: <cronjob>-<scheduled minute since the epoch>.
		job := func(minute int64) {
			j := &batchv1.Job{
				ObjectMeta: metav1.ObjectMeta{Name: "st-backup-" + itoa(minute), Namespace: ns, Labels: cj.Spec.JobTemplate.Labels},
				Spec:       *cj.Spec.JobTemplate.Spec.DeepCopy(),
			}
			Expect(controllerutil.SetControllerReference(cj, j, scheme)).To(Succeed())
			Expect(k8s.Create(ctx, j)).To(Succeed())
		}
		older, newer, newest := int64(29410680), int64(29412120), int64(29413560) // 02:00 UTC on 2, 3 and 4 December 2025
		for _, m := range []int64{older, newer, newest} {
			job(m)
		}
		finishJob(ns, "st-backup-"+itoa(older), true)
		finishJob(ns, "st-backup-"+itoa(newer), true)
		finishJob(ns, "st-backup-"+itoa(newest), false)
		lastSchedule, lastSuccess := metav1.NewTime(time.Unix(newest*60, 0)), metav1.NewTime(time.Unix(newer*60+90, 0))
		cj.Status.LastScheduleTime, cj.Status.LastSuccessfulTime = &lastSchedule, &lastSuccess
		Expect(k8s.Status().Update(ctx, cj)).To(Succeed())

		reconcileOnce(r, hi)
		st := get(ns, "st", &heimdallv1.HeimdallInstance{}).Status.Backup
		want, _, _ := resources.BackupFileForJob("st-backup-" + itoa(newer))
		Expect(want).To(Equal("heimdall_20251203_020000.sql.gz"))
		Expect(st.LastBackupFile).To(Equal(want), "the newest Job that completed, not the failed one after it")
		Expect(st.LastScheduleTime.Time).To(BeTemporally("==", lastSchedule.Time))
		Expect(st.LastSuccessfulTime.Time).To(BeTemporally("==", lastSuccess.Time))
		Expect(st.LastFailure).To(Equal("Job st-backup-" + itoa(newest) + ": BackoffLimitExceeded: Job has reached the specified backoff limit"))
		Eventually(r.Recorder.(*events.FakeRecorder).Events).Should(Receive(ContainSubstring("Warning BackupFailed Job st-backup-" + itoa(newest))))

		// The next night succeeds: the failure is over.
		latest := newest + 24*60
		job(latest)
		finishJob(ns, "st-backup-"+itoa(latest), true)
		reconcileOnce(r, hi)
		st = get(ns, "st", &heimdallv1.HeimdallInstance{}).Status.Backup
		want = "heimdall_20251205_020000.sql.gz"
		Expect(st.LastBackupFile).To(Equal(want))
		Expect(st.LastFailure).To(BeEmpty())

		// The CronJob prunes old Jobs; the file written stays reported.
		Expect(k8s.DeleteAllOf(ctx, &batchv1.Job{}, client.InNamespace(ns), client.PropagationPolicy(metav1.DeletePropagationBackground))).To(Succeed())
		reconcileOnce(r, hi)
		Expect(get(ns, "st", &heimdallv1.HeimdallInstance{}).Status.Backup.LastBackupFile).To(Equal(want))
	})

	It("removes the CronJob and keeps the volume when backups are turned off", func() {
		hi := createInstance(backupInstance(ns, "off"))
		reconcileOnce(r, hi)
		get(ns, "off-backup", &batchv1.CronJob{})

		updateSpec(hi, func(s *heimdallv1.HeimdallInstanceSpec) { s.Backup.Enabled = false })
		reconcileOnce(r, hi)
		Expect(apierrors.IsNotFound(k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "off-backup"}, &batchv1.CronJob{}))).To(BeTrue())
		Expect(apierrors.IsNotFound(k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "off-backup"}, &corev1.ServiceAccount{}))).To(BeTrue())
		get(ns, "off-backups", &corev1.PersistentVolumeClaim{})
		Expect(get(ns, "off", &heimdallv1.HeimdallInstance{}).Status.Backup).To(BeNil())
	})

	It("makes zero writes when reconciling an unchanged instance with backups", func() {
		hi := createInstance(backupInstance(ns, "idle"))
		reconcileOnce(r, hi)
		markAllReady(hi)
		reconcileOnce(r, hi)
		before := w.Load()
		for range 3 {
			reconcileOnce(r, hi)
		}
		Expect(w.Load()).To(Equal(before), "an idle reconcile must not send a single mutating request")
	})

	DescribeTable("refuses invalid backup and restore settings with a message naming the field",
		func(mutate func(*heimdallv1.HeimdallInstance), want string) {
			hi := minimalInstance(ns, "invalid")
			mutate(hi)
			Expect(k8s.Create(ctx, hi)).To(MatchError(ContainSubstring(want)))
		},
		Entry("schedule in words", func(hi *heimdallv1.HeimdallInstance) {
			hi.Spec.Backup = &heimdallv1.BackupSpec{Enabled: true, Schedule: "every night"}
		}, "spec.backup.schedule must be a cron expression"),
		Entry("schedule with four fields", func(hi *heimdallv1.HeimdallInstance) {
			hi.Spec.Backup = &heimdallv1.BackupSpec{Enabled: true, Schedule: "0 2 * *"}
		}, "spec.backup.schedule must be a cron expression"),
		Entry("schedule with a time zone prefix", func(hi *heimdallv1.HeimdallInstance) {
			hi.Spec.Backup = &heimdallv1.BackupSpec{Enabled: true, Schedule: "TZ=UTC 0 2 * * *"}
		}, "spec.backup.schedule must be a cron expression"),
		Entry("unknown macro", func(hi *heimdallv1.HeimdallInstance) {
			hi.Spec.Backup = &heimdallv1.BackupSpec{Enabled: true, Schedule: "@fortnightly"}
		}, "spec.backup.schedule must be a cron expression"),
		Entry("retention below one day", func(hi *heimdallv1.HeimdallInstance) {
			hi.Spec.Backup = &heimdallv1.BackupSpec{Enabled: true, RetentionDays: -1}
		}, "spec.backup.retentionDays must be between 1 and 3650"),
		Entry("retention beyond ten years", func(hi *heimdallv1.HeimdallInstance) {
			hi.Spec.Backup = &heimdallv1.BackupSpec{Enabled: true, RetentionDays: 4000}
		}, "spec.backup.retentionDays must be between 1 and 3650"),
		Entry("restore file with a directory", func(hi *heimdallv1.HeimdallInstance) {
			hi.Spec.Restore = &heimdallv1.RestoreSpec{BackupFile: "../etc/heimdall_1.sql.gz"}
		}, "spec.restore.backupFile must be a file name ending in .sql.gz"),
		Entry("restore file of another format", func(hi *heimdallv1.HeimdallInstance) {
			hi.Spec.Restore = &heimdallv1.RestoreSpec{BackupFile: "heimdall.dump"}
		}, "spec.restore.backupFile must be a file name ending in .sql.gz"),
	)

	DescribeTable("accepts the schedules cron users write",
		func(schedule string) {
			hi := minimalInstance(ns, "valid")
			hi.Spec.Backup = &heimdallv1.BackupSpec{Enabled: true, Schedule: schedule}
			Expect(k8s.Create(ctx, hi, client.DryRunAll)).To(Succeed())
		},
		Entry("the guide's", "0 2 * * *"), Entry("steps and lists", "*/15 1,13 * * 1-5"),
		Entry("names", "0 3 * JAN-MAR SUN"), Entry("a macro", "@daily"),
	)
})

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
