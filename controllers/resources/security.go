package resources

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
)

// Image users: the distroless "nonroot" user for the server, the "postgres"/"redis" users of the
// official images, the "fusionauth" user of fusionauth-app.
const (
	serverUID     int64 = 65532
	postgresUID   int64 = 999
	redisUID      int64 = 999
	fusionAuthUID int64 = 1001
)

// podSecurityContext satisfies the "restricted" Pod Security Standard for a fixed image user.
func podSecurityContext(uid int64) *corev1.PodSecurityContext {
	return &corev1.PodSecurityContext{
		RunAsNonRoot:        ptr.To(true),
		RunAsUser:           ptr.To(uid),
		RunAsGroup:          ptr.To(uid),
		FSGroup:             ptr.To(uid),
		FSGroupChangePolicy: ptr.To(corev1.FSGroupChangeOnRootMismatch),
		SeccompProfile:      &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
	}
}

// containerSecurityContext drops every privilege; the root filesystem is read-only, so each
// container gets emptyDir volumes for the paths it writes.
func containerSecurityContext() *corev1.SecurityContext {
	return &corev1.SecurityContext{
		AllowPrivilegeEscalation: ptr.To(false),
		ReadOnlyRootFilesystem:   ptr.To(true),
		RunAsNonRoot:             ptr.To(true),
		Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
		SeccompProfile:           &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
	}
}

// emptyDir is a scratch volume for a writable path under a read-only root filesystem.
func emptyDir(name string) corev1.Volume {
	return corev1.Volume{Name: name, VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}
}

// Probe helpers set every field the API server would default, so a live object compares equal to
// the desired one and an idle reconcile writes nothing.
func httpProbe(path string, port int32, initialDelay, period, failures int32) *corev1.Probe {
	return probe(corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{
		Path: path, Port: intstr.FromInt32(port), Scheme: corev1.URISchemeHTTP,
	}}, initialDelay, period, failures)
}

func execProbe(command []string, initialDelay, period, failures int32) *corev1.Probe {
	return probe(corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: command}}, initialDelay, period, failures)
}

func probe(h corev1.ProbeHandler, initialDelay, period, failures int32) *corev1.Probe {
	return &corev1.Probe{
		ProbeHandler:        h,
		InitialDelaySeconds: initialDelay,
		PeriodSeconds:       period,
		TimeoutSeconds:      5,
		SuccessThreshold:    1,
		FailureThreshold:    failures,
	}
}
