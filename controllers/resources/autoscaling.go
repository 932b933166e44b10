package resources

import (
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	heimdallv1 "github.com/heimdall-io/heimdall-operator/api/v1alpha1"
)

// AutoscalingEnabled reports whether the HPA owns the server's replicas.
func AutoscalingEnabled(hi *heimdallv1.HeimdallInstance) bool {
	return hi.Spec.Autoscaling != nil && hi.Spec.Autoscaling.Enabled
}

// ServerHPA scales the server Deployment on CPU and memory, as the seed's heimdall-hpa.
func ServerHPA(hi *heimdallv1.HeimdallInstance) *autoscalingv2.HorizontalPodAutoscaler {
	a := hi.Spec.Autoscaling
	return &autoscalingv2.HorizontalPodAutoscaler{
		TypeMeta:   metav1.TypeMeta{APIVersion: "autoscaling/v2", Kind: "HorizontalPodAutoscaler"},
		ObjectMeta: metav1.ObjectMeta{Name: ServerName(hi), Namespace: hi.Namespace, Labels: Labels(hi, ComponentServer, "")},
		Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
			ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: ServerName(hi)},
			MinReplicas:    ptr.To(a.MinReplicas),
			MaxReplicas:    a.MaxReplicas,
			Metrics: []autoscalingv2.MetricSpec{
				resourceMetric(corev1.ResourceCPU, a.TargetCPUUtilizationPercentage),
				resourceMetric(corev1.ResourceMemory, a.TargetMemoryUtilizationPercentage),
			},
		},
	}
}

func resourceMetric(name corev1.ResourceName, utilization int32) autoscalingv2.MetricSpec {
	return autoscalingv2.MetricSpec{
		Type: autoscalingv2.ResourceMetricSourceType,
		Resource: &autoscalingv2.ResourceMetricSource{
			Name:   name,
			Target: autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType, AverageUtilization: ptr.To(utilization)},
		},
	}
}
