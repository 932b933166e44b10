package controllers

import (
	"context"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/api/meta"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	heimdallv1 "github.com/heimdall-io/heimdall-operator/api/v1alpha1"
	"github.com/heimdall-io/heimdall-operator/controllers/resources"
)

// Per-instance gauges, read from the instances' status at scrape time (as kube-state-metrics
// does), so a deleted instance leaves no stale series. controller-runtime's own metrics count
// reconciles, errors and durations.
var (
	instanceReadyDesc = prometheus.NewDesc(resources.MetricInstanceReady,
		"Whether the HeimdallInstance's Ready condition is True (1) or not (0).",
		[]string{"namespace", "name"}, nil)
	componentReadyDesc = prometheus.NewDesc("heimdall_instance_component_ready",
		"Whether a component (postgres, redis, fusionAuth, server) of the HeimdallInstance is ready (1) or not (0).",
		[]string{"namespace", "name", "component"}, nil)
	lastBackupDesc = prometheus.NewDesc("heimdall_instance_last_successful_backup_timestamp_seconds",
		"When the HeimdallInstance's last scheduled backup completed (status.backup.lastSuccessfulTime), in Unix seconds; absent before the first one.",
		[]string{"namespace", "name"}, nil)
)

// instanceCollector turns HeimdallInstance status into gauges.
type instanceCollector struct {
	mu     sync.RWMutex
	reader client.Reader
}

// instanceMetrics is registered once per process: metrics.Registry is process-wide, while a
// process (a test suite) may set up more than one manager; the latest one's cache is read.
var (
	instanceMetrics  = &instanceCollector{}
	registerInstance sync.Once
)

// registerInstanceMetrics adds the per-instance gauges to the manager's metrics endpoint; the
// reader is the manager's cache, so a scrape costs no API request.
func registerInstanceMetrics(reader client.Reader) error {
	instanceMetrics.mu.Lock()
	instanceMetrics.reader = reader
	instanceMetrics.mu.Unlock()
	var err error
	registerInstance.Do(func() { err = metrics.Registry.Register(instanceMetrics) })
	return err
}

func (c *instanceCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- instanceReadyDesc
	ch <- componentReadyDesc
	ch <- lastBackupDesc
}

func (c *instanceCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.RLock()
	reader := c.reader
	c.mu.RUnlock()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var list heimdallv1.HeimdallInstanceList
	if err := reader.List(ctx, &list); err != nil {
		ch <- prometheus.NewInvalidMetric(instanceReadyDesc, err)
		return
	}
	for i := range list.Items {
		hi := &list.Items[i]
		ch <- prometheus.MustNewConstMetric(instanceReadyDesc, prometheus.GaugeValue,
			gaugeBool(meta.IsStatusConditionTrue(hi.Status.Conditions, ConditionReady)), hi.Namespace, hi.Name)
		cs := hi.Status.Components
		for _, x := range []struct {
			name string
			cs   *heimdallv1.ComponentStatus
		}{{"postgres", cs.Postgres}, {"redis", cs.Redis}, {"fusionAuth", cs.FusionAuth}, {"server", cs.Server}} {
			if x.cs != nil {
				ch <- prometheus.MustNewConstMetric(componentReadyDesc, prometheus.GaugeValue, gaugeBool(x.cs.Ready), hi.Namespace, hi.Name, x.name)
			}
		}
		if b := hi.Status.Backup; b != nil && b.LastSuccessfulTime != nil {
			ch <- prometheus.MustNewConstMetric(lastBackupDesc, prometheus.GaugeValue,
				float64(b.LastSuccessfulTime.Unix()), hi.Namespace, hi.Name)
		}
	}
}

func gaugeBool(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
