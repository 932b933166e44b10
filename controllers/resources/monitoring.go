package resources

import (
	"fmt"
	"maps"
	"time"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	heimdallv1 "github.com/heimdall-io/heimdall-operator/api/v1alpha1"
)

// The prometheus-operator kinds the operator creates when their CRDs are installed.
var (
	ServiceMonitorGVK = monitoringv1.SchemeGroupVersion.WithKind(monitoringv1.ServiceMonitorsKind)
	PrometheusRuleGVK = monitoringv1.SchemeGroupVersion.WithKind(monitoringv1.PrometheusRuleKind)
)

// MetricInstanceReady is the operator's gauge the instance-not-ready alert reads (see
// controllers/metrics.go).
const MetricInstanceReady = "heimdall_instance_ready"

// Alert thresholds: a login failure ratio above half usually means credential stuffing or a
// broken client; 5 % server errors or a p99 above a second is a user-visible outage.
const (
	loginFailureRatio = 0.5
	serverErrorRatio  = 0.05
	p99LatencySeconds = 1
)

// ServiceMonitorEnabled reports whether the spec asks for a ServiceMonitor.
func ServiceMonitorEnabled(hi *heimdallv1.HeimdallInstance) bool {
	m := hi.Spec.Monitoring
	return m != nil && m.ServiceMonitor != nil && m.ServiceMonitor.Enabled
}

// PrometheusRuleEnabled reports whether the spec asks for a PrometheusRule.
func PrometheusRuleEnabled(hi *heimdallv1.HeimdallInstance) bool {
	m := hi.Spec.Monitoring
	return m != nil && m.PrometheusRule != nil && m.PrometheusRule.Enabled
}

func monitoringMeta(hi *heimdallv1.HeimdallInstance) metav1.ObjectMeta {
	labels := Labels(hi, ComponentServer, "")
	if m := hi.Spec.Monitoring; m != nil {
		// The operator's own labels win: selectors and ownership depend on them.
		l := maps.Clone(m.Labels)
		if l == nil {
			l = map[string]string{}
		}
		maps.Copy(l, labels)
		labels = l
	}
	return metav1.ObjectMeta{Name: ServerName(hi), Namespace: hi.Namespace, Labels: labels}
}

// ServiceMonitor scrapes the server Service's http port at /metrics, as the seed's ServiceMonitor.
func ServiceMonitor(hi *heimdallv1.HeimdallInstance) *monitoringv1.ServiceMonitor {
	interval := 30 * time.Second
	if m := hi.Spec.Monitoring; m != nil && m.ServiceMonitor != nil && m.ServiceMonitor.Interval.Duration > 0 {
		interval = m.ServiceMonitor.Interval.Duration
	}
	return &monitoringv1.ServiceMonitor{
		TypeMeta:   metav1.TypeMeta{APIVersion: monitoringv1.SchemeGroupVersion.String(), Kind: monitoringv1.ServiceMonitorsKind},
		ObjectMeta: monitoringMeta(hi),
		Spec: monitoringv1.ServiceMonitorSpec{
			Selector:  metav1.LabelSelector{MatchLabels: SelectorLabels(hi, ComponentServer)},
			Endpoints: []monitoringv1.Endpoint{{Port: "http", Path: "/metrics", Interval: PrometheusDuration(interval)}},
		},
	}
}

// PrometheusDuration writes d in Prometheus' duration syntax (no fractions, no "1m0s").
func PrometheusDuration(d time.Duration) monitoringv1.Duration {
	if d%time.Second != 0 {
		return monitoringv1.Duration(fmt.Sprintf("%dms", d.Milliseconds()))
	}
	return monitoringv1.Duration(fmt.Sprintf("%ds", int64(d/time.Second)))
}

// PrometheusRule alerts on the server's own metrics (server/internal/httpapi/metrics.go) and on
// the operator's readiness gauge for this instance.
func PrometheusRule(hi *heimdallv1.HeimdallInstance) *monitoringv1.PrometheusRule {
	// prometheus-operator labels scraped series with the Service's namespace and name.
	sel := fmt.Sprintf(`namespace=%q,service=%q`, hi.Namespace, ServerName(hi))
	desc := fmt.Sprintf("HeimdallInstance %s/%s", hi.Namespace, hi.Name)
	rule := func(alert, expr, forDur, severity, summary string) monitoringv1.Rule {
		return monitoringv1.Rule{
			Alert:       alert,
			Expr:        intstr.FromString(expr),
			For:         ptr.To(monitoringv1.Duration(forDur)),
			Labels:      map[string]string{"severity": severity},
			Annotations: map[string]string{"summary": summary, "description": desc + ": " + summary},
		}
	}
	return &monitoringv1.PrometheusRule{
		TypeMeta:   metav1.TypeMeta{APIVersion: monitoringv1.SchemeGroupVersion.String(), Kind: monitoringv1.PrometheusRuleKind},
		ObjectMeta: monitoringMeta(hi),
		Spec: monitoringv1.PrometheusRuleSpec{Groups: []monitoringv1.RuleGroup{{
			Name: "heimdall." + hi.Namespace + "." + hi.Name,
			Rules: []monitoringv1.Rule{
				rule("HeimdallHighLoginFailureRatio",
					fmt.Sprintf(`sum(rate(heimdall_auth_login_failures_total{%[1]s}[5m])) / sum(rate(heimdall_auth_login_attempts_total{%[1]s}[5m])) > %[2]g`, sel, loginFailureRatio),
					"10m", "warning", fmt.Sprintf("More than %g%% of logins fail", loginFailureRatio*100)),
				rule("HeimdallHigh5xxRate",
					fmt.Sprintf(`sum(rate(heimdall_http_requests_total{%[1]s,status=~"5.."}[5m])) / sum(rate(heimdall_http_requests_total{%[1]s}[5m])) > %[2]g`, sel, serverErrorRatio),
					"5m", "critical", fmt.Sprintf("More than %g%% of requests answer 5xx", serverErrorRatio*100)),
				rule("HeimdallHighLatencyP99",
					fmt.Sprintf(`histogram_quantile(0.99, sum by (le) (rate(heimdall_http_request_duration_seconds_bucket{%s}[5m]))) > %d`, sel, p99LatencySeconds),
					"10m", "warning", fmt.Sprintf("p99 request latency above %ds", p99LatencySeconds)),
				rule("HeimdallInstanceNotReady",
					fmt.Sprintf(`%s{namespace=%q,name=%q} == 0`, MetricInstanceReady, hi.Namespace, hi.Name),
					"15m", "critical", "The instance has not been Ready for 15 minutes"),
			},
		}}},
	}
}
