package main

import (
	"fmt"

	operatorsv1alpha1 "github.com/operator-framework/api/pkg/operators/v1alpha1"
	appsv1 "k8s.io/api/apps/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
)

// bundleKinds are the kinds OLM installs from a registry+v1 bundle besides the CSV and CRDs
// (operator-framework/operator-lifecycle-manager, pkg/controller/registry/resolver/steps.go).
var bundleKinds = map[string]bool{
	"ClusterRole": true, "ClusterRoleBinding": true, "ConfigMap": true, "Secret": true, "Service": true,
	"ServiceAccount": true, "Role": true, "RoleBinding": true, "PrometheusRule": true, "ServiceMonitor": true,
	"PodDisruptionBudget": true, "PriorityClass": true, "VerticalPodAutoscaler": true, "NetworkPolicy": true,
}

// parts is config/default sorted into the places a bundle holds them.
type parts struct {
	deployment         *appsv1.Deployment
	crds               []*unstructured.Unstructured
	permissions        []operatorsv1alpha1.StrategyDeploymentPermissions
	clusterPermissions []operatorsv1alpha1.StrategyDeploymentPermissions
	extra              []*unstructured.Unstructured // installed by OLM as plain manifests
}

// classify does what `operator-sdk generate bundle` does with a rendered config/default: the
// Deployment goes into the CSV, roles bound to its ServiceAccount become (cluster)permissions (OLM
// creates the account and bindings), the Namespace is dropped (OLM installs into one), and every
// other supported object is kept as a manifest of its own.
func classify(objs []*unstructured.Unstructured) (*parts, error) {
	p := &parts{}
	roles := map[string]*rbacv1.ClusterRole{} // "Kind/name" -> rules holder
	var crbs []*rbacv1.ClusterRoleBinding
	var rbs []*rbacv1.RoleBinding
	var others []*unstructured.Unstructured
	for _, o := range objs {
		switch o.GetKind() {
		case "Namespace":
		case "CustomResourceDefinition":
			p.crds = append(p.crds, o)
		case "Deployment":
			if p.deployment != nil {
				return nil, fmt.Errorf("config/default renders more than one Deployment (%s, %s)", p.deployment.Name, o.GetName())
			}
			p.deployment = &appsv1.Deployment{}
			if err := fromUnstructured(o, p.deployment); err != nil {
				return nil, err
			}
		case "ClusterRole", "Role":
			r := &rbacv1.ClusterRole{}
			if err := fromUnstructured(o, r); err != nil {
				return nil, err
			}
			roles[o.GetKind()+"/"+o.GetName()] = r
			others = append(others, o)
		case "ClusterRoleBinding":
			b := &rbacv1.ClusterRoleBinding{}
			if err := fromUnstructured(o, b); err != nil {
				return nil, err
			}
			crbs = append(crbs, b)
			others = append(others, o)
		case "RoleBinding":
			b := &rbacv1.RoleBinding{}
			if err := fromUnstructured(o, b); err != nil {
				return nil, err
			}
			rbs = append(rbs, b)
			others = append(others, o)
		default:
			if !bundleKinds[o.GetKind()] {
				return nil, fmt.Errorf("config/default renders %s %s, a kind OLM does not install from a bundle", o.GetKind(), o.GetName())
			}
			others = append(others, o)
		}
	}
	if p.deployment == nil {
		return nil, fmt.Errorf("config/default renders no Deployment")
	}
	sa := p.deployment.Spec.Template.Spec.ServiceAccountName
	if sa == "" {
		return nil, fmt.Errorf("deployment %s sets no serviceAccountName", p.deployment.Name)
	}
	used := map[string]bool{"ServiceAccount/" + sa: true}
	var clusterRules, nsRules []rbacv1.PolicyRule
	for _, b := range crbs {
		if bindsTo(b.Subjects, sa) {
			r, ok := roles[b.RoleRef.Kind+"/"+b.RoleRef.Name]
			if !ok {
				return nil, fmt.Errorf("ClusterRoleBinding %s refers to missing %s %s", b.Name, b.RoleRef.Kind, b.RoleRef.Name)
			}
			clusterRules = append(clusterRules, r.Rules...)
			used[b.RoleRef.Kind+"/"+b.RoleRef.Name], used["ClusterRoleBinding/"+b.Name] = true, true
		}
	}
	for _, b := range rbs {
		if bindsTo(b.Subjects, sa) {
			r, ok := roles[b.RoleRef.Kind+"/"+b.RoleRef.Name]
			if !ok {
				return nil, fmt.Errorf("RoleBinding %s refers to missing %s %s", b.Name, b.RoleRef.Kind, b.RoleRef.Name)
			}
			nsRules = append(nsRules, r.Rules...)
			used[b.RoleRef.Kind+"/"+b.RoleRef.Name], used["RoleBinding/"+b.Name] = true, true
		}
	}
	if len(clusterRules) > 0 {
		p.clusterPermissions = []operatorsv1alpha1.StrategyDeploymentPermissions{{ServiceAccountName: sa, Rules: clusterRules}}
	}
	if len(nsRules) > 0 {
		p.permissions = []operatorsv1alpha1.StrategyDeploymentPermissions{{ServiceAccountName: sa, Rules: nsRules}}
	}
	for _, o := range others {
		if !used[o.GetKind()+"/"+o.GetName()] {
			o = o.DeepCopy()
			o.SetNamespace("") // OLM creates them in the install namespace
			p.extra = append(p.extra, o)
		}
	}
	return p, nil
}

func bindsTo(subjects []rbacv1.Subject, sa string) bool {
	for _, s := range subjects {
		if s.Kind == rbacv1.ServiceAccountKind && s.Name == sa {
			return true
		}
	}
	return false
}

func fromUnstructured(u *unstructured.Unstructured, into any) error {
	if err := runtime.DefaultUnstructuredConverter.FromUnstructuredWithValidation(u.Object, into, true); err != nil {
		return fmt.Errorf("decode %s %s: %w", u.GetKind(), u.GetName(), err)
	}
	return nil
}
