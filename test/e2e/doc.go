// Package e2e holds the end-to-end suite (build tag e2e, run by `make test-e2e`): the operator,
// built as bin/manager and running as its own ServiceAccount, against a simulated cluster
// (hack/simcluster) where Deployments, StatefulSets, Jobs and the garbage collector are real and
// kwok plays the kubelet.
package e2e
