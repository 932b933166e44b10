// Package optionalcrds tests the operator on a cluster that has the optional CRDs it uses —
// cert-manager's Certificate and prometheus-operator's ServiceMonitor and PrometheusRule — and
// one that gets them while instances wait for them. The controllers suite is the cluster
// without them.
package optionalcrds

//go:generate ./gen-crds.sh
