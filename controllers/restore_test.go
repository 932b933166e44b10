package controllers

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	heimdallv1 "github.com/heimdall-io/heimdall-operator/api/v1alpha1"
	"github.com/heimdall-io/heimdall-operator/controllers/resources"
)

const restoreFile = "heimdall_20261204_020000.sql.gz"

var _ = Describe("Restore", func() {
	var (
		ns string
		r  *HeimdallInstanceReconciler
		w  *writeCounter
	)
	BeforeEach(func() {
		ns = newNamespace()
		r, w = directReconciler()
	})

	// serving creates an instance with backups whose components all report ready.
	serving := func(name string) *heimdallv1.HeimdallInstance {
		GinkgoHelper()
		hi := createInstance(backupInstance(ns, name))
		reconcileOnce(r, hi)
		completeJob(ns, name+"-migrate-1-4-0") // a running migration would hold a restore back
		markAllReady(hi)
		reconcileOnce(r, hi)
		Expect(condition(get(ns, name, &heimdallv1.HeimdallInstance{}), ConditionReady)).To(HaveField("Status", metav1.ConditionTrue))
		return hi
	}
	restoreStatus := func(name string) *heimdallv1.RestoreStatus {
		GinkgoHelper()
		return get(ns, name, &heimdallv1.HeimdallInstance{}).Status.Restore
	}
	serverReplicas := func(name string) *int32 {
		GinkgoHelper()
		return get(ns, name, &appsv1.Deployment{}).Spec.Replicas
	}
	hpaExists := func(name string) bool {
		GinkgoHelper()
		err := k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &autoscalingv2.HorizontalPodAutoscaler{})
		Expect(client.IgnoreNotFound(err)).To(Succeed())
		return err == nil
	}
	// podsGone writes the status of a server Deployment whose pods have all terminated.
	podsGone := func(name string) {
		GinkgoHelper()
		d := get(ns, name, &appsv1.Deployment{})
		d.Status = appsv1.DeploymentStatus{ObservedGeneration: d.Generation}
		Expect(k8s.Status().Update(ctx, d)).To(Succeed())
	}

	It("stops the server, restores once, then serves again", func() {
		hi := serving("auth")
		updateSpec(hi, func(s *heimdallv1.HeimdallInstanceSpec) { s.Restore = &heimdallv1.RestoreSpec{BackupFile: restoreFile} })

		By("stopping the server first: 0 replicas, no HPA, no Job while pods remain")
		reconcileOnce(r, hi)
		st := restoreStatus("auth")
		Expect(st).To(And(HaveField("Phase", heimdallv1.RestorePending), HaveField("BackupFile", restoreFile),
			HaveField("Message", ContainSubstring("Waiting for the server to stop (3 pods)"))))
		Expect(serverReplicas("auth")).To(HaveValue(BeEquivalentTo(0)))
		Expect(hpaExists("auth")).To(BeFalse())
		jobName := st.JobName
		Expect(apierrors.IsNotFound(k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: jobName}, &batchv1.Job{}))).To(BeTrue())
		got := get(ns, "auth", &heimdallv1.HeimdallInstance{})
		Expect(condition(got, ConditionReady)).To(HaveField("Status", metav1.ConditionFalse))
		Expect(condition(got, ConditionProgressing)).To(And(HaveField("Status", metav1.ConditionTrue), HaveField("Reason", ReasonRestoring)))
		Expect(got.Status.Components.Server.Message).To(Equal("Stopped while spec.restore is Pending"))

		By("starting the Job once the pods are gone")
		podsGone("auth")
		reconcileOnce(r, hi)
		Expect(restoreStatus("auth")).To(HaveField("Phase", heimdallv1.RestoreRunning))
		job := get(ns, jobName, &batchv1.Job{})
		expectOwned(hi, job, resources.ComponentRestore)
		pod := job.Spec.Template.Spec
		Expect(envMap(pod.InitContainers[0].Env)).To(And(HaveKeyWithValue("BACKUP_FILE", restoreFile),
			HaveKeyWithValue("PGPASSWORD", "secret:auth-postgres/password")))
		Expect(pod.InitContainers[0].Command[2]).To(ContainSubstring("--single-transaction"))
		Expect(pod.Containers[0].Image).To(Equal("registry.test/heimdall:1.4.0"), "migrates to the version the server will run")
		Expect(pod.Volumes).To(ContainElement(HaveField("PersistentVolumeClaim.ClaimName", "auth-backups")))
		reconcileOnce(r, hi)
		st = restoreStatus("auth")
		Expect(st.Phase).To(Equal(heimdallv1.RestoreRunning))
		Expect(st.StartTime).NotTo(BeNil())
		Expect(serverReplicas("auth")).To(HaveValue(BeEquivalentTo(0)))

		By("serving again when the Job completes")
		finishJob(ns, jobName, true)
		reconcileOnce(r, hi)
		st = restoreStatus("auth")
		Expect(st).To(And(HaveField("Phase", heimdallv1.RestoreSucceeded), HaveField("Message", "Restored "+restoreFile)))
		Expect(st.CompletionTime).NotTo(BeNil())
		Expect(serverReplicas("auth")).To(HaveValue(BeEquivalentTo(3)), "the HPA's minimum: an HPA never scales up from 0")
		Expect(hpaExists("auth")).To(BeTrue())
		markReady(ns, "auth", false)
		reconcileOnce(r, hi)
		got = get(ns, "auth", &heimdallv1.HeimdallInstance{})
		Expect(condition(got, ConditionReady)).To(HaveField("Status", metav1.ConditionTrue))
		Expect(condition(got, ConditionDegraded)).To(HaveField("Status", metav1.ConditionFalse))

		By("never running the same request again, even when its Job is deleted")
		before := w.Load()
		reconcileOnce(r, hi)
		Expect(w.Load()).To(Equal(before), "an idle reconcile after a restore writes nothing")
		Expect(k8s.Delete(ctx, job, client.PropagationPolicy(metav1.DeletePropagationBackground))).To(Succeed())
		Eventually(func() bool {
			return apierrors.IsNotFound(k8s.Get(ctx, client.ObjectKeyFromObject(job), &batchv1.Job{}))
		}).Should(BeTrue())
		reconcileOnce(r, hi)
		reconcileOnce(r, hi)
		Expect(apierrors.IsNotFound(k8s.Get(ctx, client.ObjectKeyFromObject(job), &batchv1.Job{}))).To(BeTrue())
		Expect(restoreStatus("auth").Phase).To(Equal(heimdallv1.RestoreSucceeded))
		Expect(serverReplicas("auth")).To(HaveValue(BeEquivalentTo(3)))
	})

	It("waits for terminating server pods, which the Deployment no longer counts", func() {
		hi := serving("drain")
		// A finalizer keeps the deleted pod terminating, as a slow shutdown would.
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "drain-old", Namespace: ns, Finalizers: []string{"heimdall.io/test-hold"},
				Labels: resources.Labels(hi, resources.ComponentServer, "1.4.0")},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "heimdall", Image: "registry.test/heimdall:1.4.0"}}},
		}
		Expect(k8s.Create(ctx, pod)).To(Succeed())
		Expect(k8s.Delete(ctx, pod)).To(Succeed())
		updateSpec(hi, func(s *heimdallv1.HeimdallInstanceSpec) { s.Restore = &heimdallv1.RestoreSpec{BackupFile: restoreFile} })
		reconcileOnce(r, hi)
		podsGone("drain")
		reconcileOnce(r, hi)
		Expect(restoreStatus("drain")).To(And(HaveField("Phase", heimdallv1.RestorePending),
			HaveField("Message", "Waiting for the server pods to terminate (1 left)")))

		live := get(ns, "drain-old", &corev1.Pod{})
		live.Finalizers = nil
		Expect(k8s.Update(ctx, live)).To(Succeed())
		Eventually(func() bool {
			return apierrors.IsNotFound(k8s.Get(ctx, client.ObjectKeyFromObject(pod), &corev1.Pod{}))
		}).Should(BeTrue())
		reconcileOnce(r, hi)
		Expect(restoreStatus("drain")).To(HaveField("Phase", heimdallv1.RestoreRunning))
	})

	It("keeps the server stopped and Degraded after a failure until the request changes or goes", func() {
		hi := serving("fail")
		podsGone("fail")
		updateSpec(hi, func(s *heimdallv1.HeimdallInstanceSpec) { s.Restore = &heimdallv1.RestoreSpec{BackupFile: restoreFile} })
		reconcileOnce(r, hi)
		first := restoreStatus("fail").JobName
		finishJob(ns, first, false)

		reconcileOnce(r, hi)
		got := get(ns, "fail", &heimdallv1.HeimdallInstance{})
		Expect(got.Status.Restore.Phase).To(Equal(heimdallv1.RestoreFailed))
		Expect(got.Status.Restore.CompletionTime).NotTo(BeNil())
		Expect(condition(got, ConditionDegraded)).To(And(HaveField("Status", metav1.ConditionTrue), HaveField("Reason", ReasonRestoreFailed),
			HaveField("Message", And(ContainSubstring(first), ContainSubstring("BackoffLimitExceeded"), ContainSubstring("stays stopped until spec.restore is changed or removed")))))
		Expect(condition(got, ConditionReady)).To(HaveField("Status", metav1.ConditionFalse))
		reconcileOnce(r, hi)
		Expect(serverReplicas("fail")).To(HaveValue(BeEquivalentTo(0)))
		Expect(hpaExists("fail")).To(BeFalse())
		get(ns, first, &batchv1.Job{}) // kept for its logs

		By("a new request replaces the failed one and its Job")
		updateSpec(hi, func(s *heimdallv1.HeimdallInstanceSpec) { s.Restore.BackupFile = "heimdall_20261203_020000.sql.gz" })
		reconcileOnce(r, hi)
		st := restoreStatus("fail")
		Expect(st.JobName).NotTo(Equal(first))
		Expect(st).To(And(HaveField("Phase", heimdallv1.RestoreRunning), HaveField("BackupFile", "heimdall_20261203_020000.sql.gz")))
		get(ns, st.JobName, &batchv1.Job{})
		Eventually(func() bool {
			return apierrors.IsNotFound(k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: first}, &batchv1.Job{}))
		}).Should(BeTrue(), "the failed request's Job goes with the request")
		second := st.JobName
		finishJob(ns, second, false)
		reconcileOnce(r, hi)
		Expect(restoreStatus("fail").Phase).To(Equal(heimdallv1.RestoreFailed))

		By("removing the request resumes the server on what the database holds")
		updateSpec(hi, func(s *heimdallv1.HeimdallInstanceSpec) { s.Restore = nil })
		reconcileOnce(r, hi)
		got = get(ns, "fail", &heimdallv1.HeimdallInstance{})
		Expect(got.Status.Restore).To(BeNil())
		Expect(condition(got, ConditionDegraded)).To(HaveField("Status", metav1.ConditionFalse))
		Expect(serverReplicas("fail")).To(HaveValue(BeEquivalentTo(3)))
		Expect(hpaExists("fail")).To(BeTrue())
		Eventually(func() bool {
			return apierrors.IsNotFound(k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: second}, &batchv1.Job{}))
		}).Should(BeTrue())
	})

	It("waits for a managed PostgreSQL and for the backup volume before starting the Job", func() {
		hi := backupInstance(ns, "dr")
		hi.Spec.Autoscaling = &heimdallv1.AutoscalingSpec{Enabled: false}
		hi.Spec.Replicas = ptr.To[int32](2)
		hi.Spec.Restore = &heimdallv1.RestoreSpec{BackupFile: restoreFile, ClaimName: "snapshot-backups"}
		hi = createInstance(hi)
		reconcileOnce(r, hi)
		Expect(serverReplicas("dr")).To(HaveValue(BeEquivalentTo(0)), "a new instance restoring its data does not serve before")
		Expect(restoreStatus("dr")).To(And(HaveField("Phase", heimdallv1.RestorePending), HaveField("Message", "Waiting for PostgreSQL to be ready")))

		markReady(ns, "dr-postgres", true)
		reconcileOnce(r, hi)
		Expect(restoreStatus("dr")).To(And(HaveField("Phase", heimdallv1.RestorePending),
			HaveField("Message", "Waiting for PersistentVolumeClaim snapshot-backups with the backup")))

		pvc := resources.BackupPVC(hi)
		pvc.Name = "snapshot-backups"
		Expect(k8s.Create(ctx, pvc)).To(Succeed())
		reconcileOnce(r, hi)
		st := restoreStatus("dr")
		Expect(st.Phase).To(Equal(heimdallv1.RestoreRunning))
		Expect(get(ns, st.JobName, &batchv1.Job{}).Spec.Template.Spec.Volumes).To(ContainElement(HaveField("PersistentVolumeClaim.ClaimName", "snapshot-backups")))

		finishJob(ns, st.JobName, true)
		reconcileOnce(r, hi)
		Expect(serverReplicas("dr")).To(HaveValue(BeEquivalentTo(2)), "spec.replicas once the data is in place")
	})
})

var _ = Describe("Restore beside upgrades and backups", func() {
	var (
		ns string
		r  *HeimdallInstanceReconciler
	)
	BeforeEach(func() {
		ns = newNamespace()
		r, _ = directReconciler()
	})
	restoreStatus := func(name string) *heimdallv1.RestoreStatus {
		GinkgoHelper()
		return get(ns, name, &heimdallv1.HeimdallInstance{}).Status.Restore
	}
	suspended := func(name string) bool {
		GinkgoHelper()
		return ptr.Deref(get(ns, name+"-backup", &batchv1.CronJob{}).Spec.Suspend, false)
	}
	podsGone := func(name string) {
		GinkgoHelper()
		d := get(ns, name, &appsv1.Deployment{})
		d.Status = appsv1.DeploymentStatus{ObservedGeneration: d.Generation}
		Expect(k8s.Status().Update(ctx, d)).To(Succeed())
	}

	It("waits for a running migration and backup, restores at the serving version, then migrates the restored data", func() {
		hi := createInstance(backupInstance(ns, "race"))
		reconcileOnce(r, hi)
		completeJob(ns, "race-migrate-1-4-0")
		markAllReady(hi)
		reconcileOnce(r, hi)
		Expect(get(ns, "race", &heimdallv1.HeimdallInstance{}).Status.Version).To(Equal("1.4.0"))

		By("asking for 1.5.0, then for a restore while the 1.5.0 migration runs")
		updateSpec(hi, func(s *heimdallv1.HeimdallInstanceSpec) { s.Version = "1.5.0" })
		reconcileOnce(r, hi)
		Expect(migrationJobs(ns)).To(ContainElement("race-migrate-1-5-0"))
		updateSpec(hi, func(s *heimdallv1.HeimdallInstanceSpec) { s.Restore = &heimdallv1.RestoreSpec{BackupFile: restoreFile} })
		reconcileOnce(r, hi)
		Expect(suspended("race")).To(BeTrue(), "no scheduled backup while the server is paused")
		podsGone("race")
		reconcileOnce(r, hi)
		st := restoreStatus("race")
		Expect(st).To(And(HaveField("Phase", heimdallv1.RestorePending),
			HaveField("Message", "Waiting for migration Job race-migrate-1-5-0 to finish")))
		Expect(apierrors.IsNotFound(k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: st.JobName}, &batchv1.Job{}))).To(BeTrue())

		By("keeping 1.4.0 when the migration completes while paused, and waiting for a backup someone started")
		completeJob(ns, "race-migrate-1-5-0")
		cj := get(ns, "race-backup", &batchv1.CronJob{})
		backup := &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: "race-backup-manual", Namespace: ns, Labels: cj.Spec.JobTemplate.Labels},
			Spec: cj.Spec.JobTemplate.Spec}
		Expect(k8s.Create(ctx, backup)).To(Succeed())
		reconcileOnce(r, hi)
		Expect(restoreStatus("race")).To(And(HaveField("Phase", heimdallv1.RestorePending),
			HaveField("Message", "Waiting for backup Job race-backup-manual to finish")))
		Expect(serverImage(ns, "race")).To(Equal("registry.test/heimdall:1.4.0"), "a migration's verdict does not move a paused server")

		By("restoring with 1.4.0's migrate and dropping the 1.5.0 record of a database the restore replaces")
		finishJob(ns, "race-backup-manual", true)
		reconcileOnce(r, hi)
		st = restoreStatus("race")
		Expect(st.Phase).To(Equal(heimdallv1.RestoreRunning))
		Expect(get(ns, st.JobName, &batchv1.Job{}).Spec.Template.Spec.Containers[0].Image).To(Equal("registry.test/heimdall:1.4.0"))
		Eventually(func() []string { return migrationJobs(ns) }).ShouldNot(ContainElement("race-migrate-1-5-0"))
		Expect(get(ns, "race", &heimdallv1.HeimdallInstance{}).Status.Version).To(Equal("1.4.0"))

		By("migrating the restored data to 1.5.0 before 1.5.0 serves")
		finishJob(ns, st.JobName, true)
		reconcileOnce(r, hi)
		Expect(restoreStatus("race").Phase).To(Equal(heimdallv1.RestoreSucceeded))
		Expect(suspended("race")).To(BeFalse(), "scheduled backups resume")
		job := get(ns, "race-migrate-1-5-0", &batchv1.Job{})
		Expect(job.Status.Conditions).To(BeEmpty(), "a new Job, not the one from before the restore")
		Expect(serverImage(ns, "race")).To(Equal("registry.test/heimdall:1.4.0"))
		completeJob(ns, "race-migrate-1-5-0")
		reconcileOnce(r, hi)
		Expect(serverImage(ns, "race")).To(Equal("registry.test/heimdall:1.5.0"))
	})

	It("starts no migration while a restore pauses the server, at install or on a version change", func() {
		hi := backupInstance(ns, "fresh")
		hi.Spec.Restore = &heimdallv1.RestoreSpec{BackupFile: restoreFile}
		hi = createInstance(hi)
		reconcileOnce(r, hi)
		Expect(migrationJobs(ns)).To(BeEmpty(), "the restore migrates the dump itself")
		updateSpec(hi, func(s *heimdallv1.HeimdallInstanceSpec) { s.Version = "1.5.0" })
		reconcileOnce(r, hi)
		Expect(migrationJobs(ns)).To(BeEmpty())
		Expect(serverImage(ns, "fresh")).To(Equal("registry.test/heimdall:1.4.0"), "the version the Deployment already runs")

		markReady(ns, "fresh-postgres", true)
		reconcileOnce(r, hi)
		st := restoreStatus("fresh")
		Expect(st.Phase).To(Equal(heimdallv1.RestoreRunning))
		Expect(get(ns, st.JobName, &batchv1.Job{}).Spec.Template.Spec.Containers[0].Image).To(Equal("registry.test/heimdall:1.4.0"))
		finishJob(ns, st.JobName, true)
		reconcileOnce(r, hi)
		Expect(migrationJobs(ns)).To(Equal([]string{"fresh-migrate-1-5-0"}))
		Expect(serverImage(ns, "fresh")).To(Equal("registry.test/heimdall:1.4.0"))
	})
})

var _ = Describe("Restore in a manager", func() {
	It("follows the watches from request to a serving server", func() {
		ns := watchedNamespace
		hi := backupInstance(ns, "mgr-restore")
		hi.Spec.Autoscaling = &heimdallv1.AutoscalingSpec{Enabled: false}
		hi.Spec.Replicas = ptr.To[int32](1)
		hi.Spec.Restore = &heimdallv1.RestoreSpec{BackupFile: restoreFile}
		hi = createInstance(hi)
		phase := func(g Gomega) heimdallv1.RestorePhase {
			got := &heimdallv1.HeimdallInstance{}
			g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(hi), got)).To(Succeed())
			g.Expect(got.Status.Restore).NotTo(BeNil())
			return got.Status.Restore.Phase
		}
		Eventually(phase).WithTimeout(20 * time.Second).Should(Equal(heimdallv1.RestorePending))
		Eventually(func(g Gomega) {
			g.Expect(k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "mgr-restore-postgres"}, &appsv1.StatefulSet{})).To(Succeed())
		}).WithTimeout(20 * time.Second).Should(Succeed())
		markReady(ns, "mgr-restore-postgres", true) // the StatefulSet watch brings the instance back

		Eventually(phase).WithTimeout(20 * time.Second).Should(Equal(heimdallv1.RestoreRunning))
		job := get(ns, resources.RestoreJobName(hi), &batchv1.Job{})
		Expect(get(ns, "mgr-restore", &appsv1.Deployment{}).Spec.Replicas).To(HaveValue(BeEquivalentTo(0)))
		finishJob(ns, job.Name, true) // the Job watch brings it back
		Eventually(phase).WithTimeout(20 * time.Second).Should(Equal(heimdallv1.RestoreSucceeded))
		Eventually(func(g Gomega) {
			d := &appsv1.Deployment{}
			g.Expect(k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "mgr-restore"}, d)).To(Succeed())
			g.Expect(d.Spec.Replicas).To(HaveValue(BeEquivalentTo(1)))
		}).WithTimeout(20 * time.Second).Should(Succeed())
	})
})

var _ = Describe("Restore pod security", func() {
	It("has the restore Job's pod admitted by the restricted Pod Security Standard", func() {
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "pss-restore-", Labels: map[string]string{
			"pod-security.kubernetes.io/enforce": "restricted", "pod-security.kubernetes.io/enforce-version": "latest"}}}
		Expect(k8s.Create(ctx, ns)).To(Succeed())
		hi := backupInstance(ns.Name, "pss")
		hi.Spec.Restore = &heimdallv1.RestoreSpec{BackupFile: restoreFile}
		hi = createInstance(hi)
		tpl := resources.RestoreJob(hi, resources.Inputs{Images: testImage}).Spec.Template
		pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{GenerateName: "pss-", Namespace: ns.Name, Labels: tpl.Labels}, Spec: tpl.Spec}
		pod.Spec.ServiceAccountName = "" // not created here; PSS does not look at it
		Expect(k8s.Create(ctx, pod, client.DryRunAll)).To(Succeed())

		bad := pod.DeepCopy()
		bad.Spec.InitContainers[0].SecurityContext.Capabilities = nil
		Expect(k8s.Create(ctx, bad, client.DryRunAll)).To(MatchError(ContainSubstring("capabilities")), "the check has teeth")
	})
})
