package resources

import (
	"strings"
	"testing"
	"time"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	heimdallv1 "github.com/heimdall-io/heimdall-operator/api/v1alpha1"
)

func withMonitoring(m heimdallv1.MonitoringSpec) *heimdallv1.HeimdallInstance {
	hi := defaulted()
	hi.Spec.Monitoring = &m
	return hi
}

func TestMonitoringEnabled(t *testing.T) {
	tests := []struct {
		name   string
		hi     *heimdallv1.HeimdallInstance
		sm, pr bool
	}{
		{"no monitoring", defaulted(), false, false},
		{"empty monitoring", withMonitoring(heimdallv1.MonitoringSpec{}), false, false},
		{"service monitor", withMonitoring(heimdallv1.MonitoringSpec{ServiceMonitor: &heimdallv1.ServiceMonitorSpec{Enabled: true}}), true, false},
		{"service monitor off", withMonitoring(heimdallv1.MonitoringSpec{ServiceMonitor: &heimdallv1.ServiceMonitorSpec{}}), false, false},
		{"rule only", withMonitoring(heimdallv1.MonitoringSpec{PrometheusRule: &heimdallv1.PrometheusRuleSpec{Enabled: true}}), false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if ServiceMonitorEnabled(tt.hi) != tt.sm || PrometheusRuleEnabled(tt.hi) != tt.pr {
				t.Errorf("ServiceMonitorEnabled %v PrometheusRuleEnabled %v, want %v %v", ServiceMonitorEnabled(tt.hi), PrometheusRuleEnabled(tt.hi), tt.sm, tt.pr)
			}
		})
	}
}

func TestServiceMonitor(t *testing.T) {
	tests := []struct {
		name         string
		interval     time.Duration
		labels       map[string]string
		wantInterval monitoringv1.Duration
	}{
		{"the seed's 30s", 30 * time.Second, nil, "30s"},
		{"minutes are written in seconds", 2 * time.Minute, nil, "120s"},
		{"fractions in milliseconds", 1500 * time.Millisecond, nil, "1500ms"},
		{"unset falls back to 30s", 0, map[string]string{"release": "prometheus", "app.kubernetes.io/instance": "spoofed"}, "30s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hi := withMonitoring(heimdallv1.MonitoringSpec{Labels: tt.labels,
				ServiceMonitor: &heimdallv1.ServiceMonitorSpec{Enabled: true, Interval: metav1.Duration{Duration: tt.interval}}})
			sm := ServiceMonitor(hi)
			if sm.GroupVersionKind() != ServiceMonitorGVK || sm.Name != "auth" || sm.Namespace != "prod" {
				t.Fatalf("servicemonitor %v %s/%s", sm.GroupVersionKind(), sm.Namespace, sm.Name)
			}
			if len(sm.Spec.Endpoints) != 1 {
				t.Fatalf("endpoints = %v", sm.Spec.Endpoints)
			}
			ep := sm.Spec.Endpoints[0]
			if ep.Port != "http" || ep.Path != "/metrics" || ep.Interval != tt.wantInterval {
				t.Errorf("endpoint = port %s path %s interval %s, want http /metrics %s", ep.Port, ep.Path, ep.Interval, tt.wantInterval)
			}
			// It must select exactly the server Service, whose labels carry the selector labels.
			svc := ServerService(hi)
			for k, v := range sm.Spec.Selector.MatchLabels {
				if svc.Labels[k] != v {
					t.Errorf("selector %s=%s does not match the server Service", k, v)
				}
			}
			if sm.Labels["app.kubernetes.io/instance"] != "auth" {
				t.Error("a user label must not override the operator's labels")
			}
			for k, v := range tt.labels {
				if k != "app.kubernetes.io/instance" && sm.Labels[k] != v {
					t.Errorf("label %s missing", k)
				}
			}
		})
	}
}

func TestPrometheusRule(t *testing.T) {
	hi := withMonitoring(heimdallv1.MonitoringSpec{Labels: map[string]string{"release": "prometheus"},
		PrometheusRule: &heimdallv1.PrometheusRuleSpec{Enabled: true}})
	pr := PrometheusRule(hi)
	if pr.GroupVersionKind() != PrometheusRuleGVK || pr.Name != "auth" || pr.Labels["release"] != "prometheus" {
		t.Fatalf("prometheusrule %v %s %v", pr.GroupVersionKind(), pr.Name, pr.Labels)
	}
	rules := map[string]monitoringv1.Rule{}
	for _, r := range pr.Spec.Groups[0].Rules {
		rules[r.Alert] = r
	}
	// Metric names are the server's (server/internal/httpapi/metrics.go) and the operator's own.
	tests := []struct {
		alert    string
		contains []string
		severity string
	}{
		{"HeimdallHighLoginFailureRatio", []string{"heimdall_auth_login_failures_total{", "heimdall_auth_login_attempts_total{", "> 0.5"}, "warning"},
		{"HeimdallHigh5xxRate", []string{`heimdall_http_requests_total{namespace="prod",service="auth",status=~"5.."}`, "> 0.05"}, "critical"},
		{"HeimdallHighLatencyP99", []string{"histogram_quantile(0.99, sum by (le) (rate(heimdall_http_request_duration_seconds_bucket{", "> 1"}, "warning"},
		{"HeimdallInstanceNotReady", []string{`heimdall_instance_ready{namespace="prod",name="auth"} == 0`}, "critical"},
	}
	if len(rules) != len(tests) {
		t.Errorf("alerts = %d, want %d", len(rules), len(tests))
	}
	for _, tt := range tests {
		t.Run(tt.alert, func(t *testing.T) {
			r, ok := rules[tt.alert]
			if !ok {
				t.Fatal("missing")
			}
			for _, s := range tt.contains {
				if !strings.Contains(r.Expr.String(), s) {
					t.Errorf("expr %q lacks %q", r.Expr.String(), s)
				}
			}
			if !strings.Contains(r.Expr.String(), `namespace="prod"`) {
				t.Errorf("expr %q is not scoped to the instance", r.Expr.String())
			}
			if r.Labels["severity"] != tt.severity || r.For == nil || r.Annotations["summary"] == "" {
				t.Errorf("severity %s for %v annotations %v", r.Labels["severity"], r.For, r.Annotations)
			}
		})
	}
}
