package resources

import (
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	heimdallv1 "github.com/heimdall-io/heimdall-operator/api/v1alpha1"
)

// dataVolume is the name of the volumeClaimTemplate of the stateful components.
const dataVolume = "data"

// singleReplicaStatefulSet is the shape PostgreSQL and Redis share: one pod, one data volume kept
// or deleted with the instance per spec.pvcRetentionPolicy.
func singleReplicaStatefulSet(hi *heimdallv1.HeimdallInstance, component, version, serviceName string,
	storage heimdallv1.StorageSpec, uid int64, pod corev1.PodSpec) *appsv1.StatefulSet {
	labels := Labels(hi, component, version)
	pod.SecurityContext = podSecurityContext(uid)
	pod.AutomountServiceAccountToken = ptr.To(false)
	pod.ServiceAccountName = ComponentName(hi, component)
	whenDeleted := appsv1.RetainPersistentVolumeClaimRetentionPolicyType
	if hi.Spec.PVCRetentionPolicy == heimdallv1.PVCDelete {
		whenDeleted = appsv1.DeletePersistentVolumeClaimRetentionPolicyType
	}
	return &appsv1.StatefulSet{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "StatefulSet"},
		ObjectMeta: metav1.ObjectMeta{Name: ComponentName(hi, component), Namespace: hi.Namespace, Labels: labels},
		Spec: appsv1.StatefulSetSpec{
			Replicas:    ptr.To[int32](1),
			ServiceName: serviceName,
			Selector:    &metav1.LabelSelector{MatchLabels: SelectorLabels(hi, component)},
			PersistentVolumeClaimRetentionPolicy: &appsv1.StatefulSetPersistentVolumeClaimRetentionPolicy{
				WhenDeleted: whenDeleted,
				WhenScaled:  appsv1.RetainPersistentVolumeClaimRetentionPolicyType,
			},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       pod,
			},
			VolumeClaimTemplates: []corev1.PersistentVolumeClaim{{
				ObjectMeta: metav1.ObjectMeta{Name: dataVolume, Labels: SelectorLabels(hi, component)},
				Spec: corev1.PersistentVolumeClaimSpec{
					AccessModes:      []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
					StorageClassName: storage.StorageClassName,
					Resources: corev1.VolumeResourceRequirements{
						Requests: corev1.ResourceList{corev1.ResourceStorage: storage.Size},
					},
				},
			}},
		},
	}
}

// statefulServices are a stateful component's client Service and the headless Service that
// governs its StatefulSet (stable DNS for its pods, ready or not).
func statefulServices(hi *heimdallv1.HeimdallInstance, component, portName string, port int32) []*corev1.Service {
	p := corev1.ServicePort{Name: portName, Port: port, TargetPort: intstr.FromString(portName), Protocol: corev1.ProtocolTCP}
	headless := clusterService(hi, HeadlessName(hi, component), component, "", p)
	headless.Spec.ClusterIP = corev1.ClusterIPNone
	headless.Spec.PublishNotReadyAddresses = true
	return []*corev1.Service{clusterService(hi, ComponentName(hi, component), component, "", p), headless}
}
