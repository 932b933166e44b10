package install

import (
	"crypto/tls"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	heimdallv1 "github.com/heimdall-io/heimdall-operator/api/v1alpha1"
	"github.com/heimdall-io/heimdall-operator/controllers"
	"github.com/heimdall-io/heimdall-operator/controllers/resources"
)

const productionSample = "heimdall_v1alpha1_heimdallinstance_production.yaml"

var _ = Describe("Installing with dist/install.yaml's objects", Ordered, func() {
	// One manager for the whole container, as in a cluster: the operator registers process-wide
	// metrics collectors, so a second one could not start in this process.
	var metricsURL string
	BeforeAll(func() {
		install()
		var stop func() error
		metricsURL, stop = startManager()
		DeferCleanup(func() { Expect(stop()).To(Succeed()) })
	})

	It("admits the manager pod under the namespace's restricted Pod Security enforcement", func() {
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{GenerateName: "manager-", Namespace: manager.Namespace},
			Spec:       *manager.Spec.Template.Spec.DeepCopy(),
		}
		Expect(admin.Create(ctx, pod, client.DryRunAll)).To(Succeed())

		// Teeth: the same pod with privilege escalation allowed is refused by PodSecurity admission.
		bad := &corev1.Pod{ObjectMeta: pod.ObjectMeta, Spec: *manager.Spec.Template.Spec.DeepCopy()}
		bad.Spec.Containers[0].SecurityContext.AllowPrivilegeEscalation = ptr.To(true)
		err := admin.Create(ctx, bad, client.DryRunAll)
		Expect(apierrors.IsForbidden(err)).To(BeTrue(), "want a PodSecurity rejection, got %v", err)
		Expect(err.Error()).To(ContainSubstring("restricted"))
	})

	It("lets the operator, as its own ServiceAccount, reconcile the full production sample", func() {
		_, logStart := managerLogs.Since(0)
		hi := createSample()
		Eventually(func(g Gomega) {
			g.Expect(admin.Get(ctx, client.ObjectKeyFromObject(hi), hi)).To(Succeed())
			g.Expect(hi.Status.ObservedGeneration).To(Equal(hi.Generation))
			degraded := meta.FindStatusCondition(hi.Status.Conditions, controllers.ConditionDegraded)
			g.Expect(degraded).NotTo(BeNil())
			g.Expect(degraded.Status).To(Equal(metav1.ConditionFalse), "Degraded: %s: %s", degraded.Reason, degraded.Message)
		}).WithTimeout(60 * time.Second).Should(Succeed())

		// Every child the builders want exists and is controlled by the instance. The list comes
		// from the builders, so a new kind without its RBAC marker fails here.
		desired := resources.Desired(hi, resources.Inputs{Images: resources.ImagesFromEnv(managerEnv)})
		Expect(desired).NotTo(BeEmpty())
		for _, want := range desired {
			live := &unstructured.Unstructured{}
			live.SetGroupVersionKind(want.GetObjectKind().GroupVersionKind())
			Eventually(func(g Gomega) {
				g.Expect(admin.Get(ctx, client.ObjectKey{Namespace: hi.Namespace, Name: want.GetName()}, live)).To(Succeed())
				g.Expect(metav1.IsControlledBy(live, hi)).To(BeTrue())
			}).WithTimeout(30*time.Second).Should(Succeed(), "%s %s", live.GetKind(), want.GetName())
		}
		for name := range resources.Refs(hi).Required() {
			Expect(admin.Get(ctx, client.ObjectKey{Namespace: hi.Namespace, Name: name}, &corev1.Secret{})).To(Succeed(), "Secret %s", name)
		}
		// The images come from the rendered RELATED_IMAGE_* variables.
		server := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "apps/v1", "kind": "Deployment"}}
		Expect(admin.Get(ctx, client.ObjectKey{Namespace: hi.Namespace, Name: resources.ServerName(hi)}, server)).To(Succeed())
		containers, _, _ := unstructured.NestedSlice(server.Object, "spec", "template", "spec", "containers")
		Expect(containers).NotTo(BeEmpty())
		Expect(containers[0].(map[string]any)["image"]).To(HavePrefix(managerEnv("RELATED_IMAGE_HEIMDALL_SERVER") + ":"))

		Expect(warnings(hi.Namespace)).NotTo(ContainElement(ContainSubstring("forbidden")))
		// Leader election ran under the rendered Role.
		lease := &coordinationv1.Lease{}
		Expect(admin.Get(ctx, client.ObjectKey{Namespace: manager.Namespace, Name: "heimdall-operator.heimdall.io"}, lease)).To(Succeed())
		Expect(ptr.Deref(lease.Spec.HolderIdentity, "")).NotTo(BeEmpty())
		Eventually(func(g Gomega) {
			var evs corev1.EventList
			g.Expect(admin.List(ctx, &evs, client.InNamespace(manager.Namespace))).To(Succeed())
			g.Expect(evs.Items).To(ContainElement(HaveField("Reason", "LeaderElection")))
		}).WithTimeout(10*time.Second).Should(Succeed(), "the leader-election event was not recorded")

		// Metrics: the manager checks scrapers with the API server (metrics-auth-role); a scraper
		// bound to the metrics-reader ClusterRole reads them, anyone else is refused.
		scrape(metricsURL, "", http.StatusUnauthorized)
		scrape(metricsURL, scraperToken(false), http.StatusForbidden)
		scrape(metricsURL, scraperToken(true), http.StatusOK)

		// The window must hold this reconcile's logs, or "no forbidden" below would pass on an
		// empty buffer (a logger no longer wired to it, a wrong offset). Events are logged
		// asynchronously, hence Eventually.
		var logs string
		Eventually(func(g Gomega) {
			logs, _ = managerLogs.Since(logStart)
			g.Expect(logs).To(ContainSubstring(hi.Namespace))
			g.Expect(logs).To(ContainSubstring("Created Deployment " + hi.Name))
		}).WithTimeout(10*time.Second).Should(Succeed(), "the manager's logs of this reconcile were not captured")
		Expect(strings.ToLower(logs)).NotTo(ContainSubstring("forbidden"))
	})

	It("catches a missing verb: without create on deployments the instance reports forbidden", func() {
		role := managerClusterRole()
		original := role.DeepCopy()
		withoutVerb(role, "apps", "deployments", "create")
		Expect(admin.Update(ctx, role)).To(Succeed())
		DeferCleanup(func() {
			Expect(admin.Get(ctx, client.ObjectKeyFromObject(original), role)).To(Succeed())
			role.Rules = original.Rules
			Expect(admin.Update(ctx, role)).To(Succeed())
		})
		// Wait until the authorizer has seen the change, so the test does not race it.
		Eventually(func() bool { return allowed("apps", "deployments", "create") }).
			WithTimeout(10 * time.Second).Should(BeFalse())
		Expect(allowed("apps", "deployments", "patch")).To(BeTrue(), "only create was removed")

		// The running manager meets the cut role with its next instance.
		hi := createSample()
		Eventually(func(g Gomega) {
			g.Expect(admin.Get(ctx, client.ObjectKeyFromObject(hi), hi)).To(Succeed())
			degraded := meta.FindStatusCondition(hi.Status.Conditions, controllers.ConditionDegraded)
			g.Expect(degraded).NotTo(BeNil())
			g.Expect(degraded.Status).To(Equal(metav1.ConditionTrue))
			g.Expect(degraded.Message).To(ContainSubstring("forbidden"))
		}).WithTimeout(60 * time.Second).Should(Succeed())
		Expect(warnings(hi.Namespace)).To(ContainElement(ContainSubstring("forbidden")))
		logs, _ := managerLogs.Since(0)
		Expect(logs).To(ContainSubstring("forbidden"), "the log check of the positive case would see this")
		deps := &unstructured.UnstructuredList{Object: map[string]any{"apiVersion": "apps/v1", "kind": "DeploymentList"}}
		Expect(admin.List(ctx, deps, client.InNamespace(hi.Namespace))).To(Succeed())
		Expect(deps.Items).To(BeEmpty())
	})
})

// createSample creates the full production sample, and the Secrets it expects the user to bring,
// in a fresh namespace.
func createSample() *heimdallv1.HeimdallInstance {
	GinkgoHelper()
	raw, err := os.ReadFile(configDir("samples", productionSample))
	Expect(err).NotTo(HaveOccurred())
	hi := &heimdallv1.HeimdallInstance{}
	Expect(yaml.UnmarshalStrict(raw, hi)).To(Succeed())
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "sample-"}}
	Expect(admin.Create(ctx, ns)).To(Succeed())
	hi.Namespace = ns.Name

	// Secrets named after the instance are the ones the operator generates; any other one the
	// sample references (SMTP credentials today) is the user's to create, with every key it names.
	for name, keys := range resources.Refs(hi).Required() {
		if strings.HasPrefix(name, hi.Name+"-") {
			continue
		}
		s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns.Name}, StringData: map[string]string{}}
		for _, k := range keys {
			s.StringData[k] = "value-of-" + k
		}
		Expect(admin.Create(ctx, s)).To(Succeed())
	}
	Expect(admin.Create(ctx, hi)).To(Succeed())
	return hi
}

// warnings lists the notes of the Warning events in a namespace.
func warnings(ns string) []string {
	GinkgoHelper()
	var list eventsv1.EventList
	Expect(admin.List(ctx, &list, client.InNamespace(ns))).To(Succeed())
	var notes []string
	for _, e := range list.Items {
		if e.Type == corev1.EventTypeWarning {
			notes = append(notes, e.Note)
		}
	}
	return notes
}

// managerClusterRole is the installed ClusterRole the manager's ClusterRoleBinding grants that
// covers the HeimdallInstance resources (not the metrics-auth role).
func managerClusterRole() *rbacv1.ClusterRole {
	GinkgoHelper()
	sa := serviceAccountUser()
	for _, b := range Find(rendered, "ClusterRoleBinding") {
		var crb rbacv1.ClusterRoleBinding
		Expect(admin.Get(ctx, client.ObjectKey{Name: b.GetName()}, &crb)).To(Succeed())
		role := &rbacv1.ClusterRole{}
		Expect(admin.Get(ctx, client.ObjectKey{Name: crb.RoleRef.Name}, role)).To(Succeed())
		for _, r := range role.Rules {
			if contains(r.APIGroups, heimdallv1.GroupVersion.Group) && contains(r.Resources, "heimdallinstances") {
				Expect(crb.Subjects).To(ContainElement(HaveField("Name", sa.UserName[strings.LastIndex(sa.UserName, ":")+1:])))
				return role
			}
		}
	}
	Fail("no installed ClusterRole grants heimdallinstances to the manager")
	return nil
}

// withoutVerb removes verb for group/resource from the rules, splitting rules that name several
// resources so the others keep every verb.
func withoutVerb(role *rbacv1.ClusterRole, group, resource, verb string) {
	var rules []rbacv1.PolicyRule
	for _, r := range role.Rules {
		if !contains(r.APIGroups, group) || !contains(r.Resources, resource) {
			rules = append(rules, r)
			continue
		}
		if others := remove(r.Resources, resource); len(others) > 0 {
			o := *r.DeepCopy()
			o.Resources = others
			rules = append(rules, o)
		}
		one := *r.DeepCopy()
		one.Resources, one.Verbs = []string{resource}, remove(r.Verbs, verb)
		rules = append(rules, one)
	}
	role.Rules = rules
}

// allowed asks the API server whether the manager's ServiceAccount may do verb on group/resource.
func allowed(group, resource, verb string) bool {
	GinkgoHelper()
	sa := serviceAccountUser()
	sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
		User: sa.UserName, Groups: sa.Groups,
		ResourceAttributes: &authorizationv1.ResourceAttributes{Group: group, Resource: resource, Verb: verb, Namespace: "any"},
	}}
	Expect(admin.Create(ctx, sar)).To(Succeed())
	return sar.Status.Allowed
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func remove(list []string, s string) []string {
	var out []string
	for _, x := range list {
		if x != s {
			out = append(out, x)
		}
	}
	return out
}

// scraperToken returns a token of a fresh ServiceAccount, bound to the installed metrics-reader
// ClusterRole when bound is true.
func scraperToken(bound bool) string {
	GinkgoHelper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "monitoring-"}}
	Expect(admin.Create(ctx, ns)).To(Succeed())
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "prometheus", Namespace: ns.Name}}
	Expect(admin.Create(ctx, sa)).To(Succeed())
	if bound {
		reader := ""
		for _, r := range Find(rendered, "ClusterRole") {
			rules, _, _ := unstructured.NestedSlice(r.Object, "rules")
			for _, rule := range rules {
				urls, _, _ := unstructured.NestedStringSlice(rule.(map[string]any), "nonResourceURLs")
				if contains(urls, "/metrics") {
					reader = r.GetName()
				}
			}
		}
		Expect(reader).NotTo(BeEmpty(), "no rendered ClusterRole grants /metrics")
		Expect(admin.Create(ctx, &rbacv1.ClusterRoleBinding{
			ObjectMeta: metav1.ObjectMeta{GenerateName: "prometheus-metrics-reader-"},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: reader},
			Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: sa.Name, Namespace: ns.Name}},
		})).To(Succeed())
		// Scrape only once the authorizer knows the binding: the manager caches a denial for 30 s.
		Eventually(func(g Gomega) {
			sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
				User:                  "system:serviceaccount:" + ns.Name + ":" + sa.Name,
				Groups:                []string{"system:serviceaccounts", "system:authenticated"},
				NonResourceAttributes: &authorizationv1.NonResourceAttributes{Path: "/metrics", Verb: "get"},
			}}
			g.Expect(admin.Create(ctx, sar)).To(Succeed())
			g.Expect(sar.Status.Allowed).To(BeTrue())
		}).WithTimeout(10 * time.Second).Should(Succeed())
	}
	tr := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](600)}}
	Expect(admin.SubResource("token").Create(ctx, sa, tr)).To(Succeed())
	Expect(tr.Status.Token).NotTo(BeEmpty())
	return tr.Status.Token
}

// scrape GETs the metrics endpoint with a bearer token until it answers want (the server may
// still be starting).
func scrape(url, token string, want int) {
	GinkgoHelper()
	// The manager serves a self-signed certificate; the test trusts it as the ServiceMonitor does.
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}} //nolint:gosec
	Eventually(func(g Gomega) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		g.Expect(err).NotTo(HaveOccurred())
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := c.Do(req)
		g.Expect(err).NotTo(HaveOccurred())
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		g.Expect(resp.StatusCode).To(Equal(want), "%s", body)
		if want == http.StatusOK {
			g.Expect(string(body)).To(ContainSubstring("controller_runtime_reconcile_total"))
		}
	}).WithTimeout(20 * time.Second).Should(Succeed())
}
