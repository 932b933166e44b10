package main

import (
	"fmt"
	"slices"
	"strings"
	"unicode"

	operatorsv1alpha1 "github.com/operator-framework/api/pkg/operators/v1alpha1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
)

// UI descriptors (https://github.com/openshift/console/blob/main/frontend/packages/operator-lifecycle-manager/src/components/descriptors/reference/reference.md).
const (
	xText                 = "urn:alm:descriptor:com.tectonic.ui:text"
	xNumber               = "urn:alm:descriptor:com.tectonic.ui:number"
	xBoolean              = "urn:alm:descriptor:com.tectonic.ui:booleanSwitch"
	xPodCount             = "urn:alm:descriptor:com.tectonic.ui:podCount"
	xResources            = "urn:alm:descriptor:com.tectonic.ui:resourceRequirements"
	xSelectPrefix         = "urn:alm:descriptor:com.tectonic.ui:select:"
	xAdvanced             = "urn:alm:descriptor:com.tectonic.ui:advanced"
	xConditions           = "urn:alm:descriptor:io.kubernetes.conditions"
	xLink                 = "urn:alm:descriptor:org.w3:link"
	statusConditions      = "conditions"
	statusEndpoint        = "endpoint"
	statusVersion         = "version"
	firstSentenceMaxChars = 200
)

// describedStatus are the status fields an OLM UI shows on the instance page.
var describedStatus = []string{statusConditions, statusEndpoint, statusVersion}

// describeOwned fills an owned CRD's version and descriptors from the CRD's storage version schema.
func describeOwned(d *operatorsv1alpha1.CRDDescription, crds map[string]*apiextensionsv1.CustomResourceDefinition) error {
	crd, ok := crds[d.Name]
	if !ok {
		return fmt.Errorf("the CSV base owns %s, which config/default does not render", d.Name)
	}
	if d.Kind != crd.Spec.Names.Kind {
		return fmt.Errorf("the CSV base names %s kind %q, the CRD %q", d.Name, d.Kind, crd.Spec.Names.Kind)
	}
	var schema *apiextensionsv1.JSONSchemaProps
	for _, v := range crd.Spec.Versions {
		if v.Storage && v.Schema != nil {
			d.Version, schema = v.Name, v.Schema.OpenAPIV3Schema
		}
	}
	if schema == nil {
		return fmt.Errorf("CRD %s has no storage version with a schema", d.Name)
	}
	d.SpecDescriptors = specDescriptors(schema.Properties["spec"])
	var err error
	d.StatusDescriptors, err = statusDescriptors(schema.Properties["status"])
	return err
}

// specDescriptors describes every top-level spec field, with the input widget its type calls for.
func specDescriptors(spec apiextensionsv1.JSONSchemaProps) []operatorsv1alpha1.SpecDescriptor {
	var out []operatorsv1alpha1.SpecDescriptor
	for _, name := range sortedKeys(spec.Properties) {
		p := spec.Properties[name]
		out = append(out, operatorsv1alpha1.SpecDescriptor{
			Path: name, DisplayName: displayName(name), Description: firstSentence(p.Description),
			XDescriptors: specWidget(name, p, slices.Contains(spec.Required, name)),
		})
	}
	return out
}

func specWidget(name string, p apiextensionsv1.JSONSchemaProps, required bool) []string {
	var x []string
	switch {
	case name == "replicas":
		x = []string{xPodCount}
	case name == "resources":
		x = []string{xResources}
	case p.Type == "boolean":
		x = []string{xBoolean}
	case p.Type == "integer" || p.Type == "number":
		x = []string{xNumber}
	case p.Type == "string" && len(p.Enum) > 0:
		for _, e := range p.Enum {
			x = append(x, xSelectPrefix+strings.Trim(string(e.Raw), `"`))
		}
	case p.Type == "string":
		x = []string{xText}
	}
	if !required && p.Type == "object" {
		x = append(x, xAdvanced) // nested settings fold away in the UI's form
	}
	return x
}

func statusDescriptors(status apiextensionsv1.JSONSchemaProps) ([]operatorsv1alpha1.StatusDescriptor, error) {
	widget := map[string]string{statusConditions: xConditions, statusEndpoint: xLink, statusVersion: xText}
	var out []operatorsv1alpha1.StatusDescriptor
	for _, name := range describedStatus {
		p, ok := status.Properties[name]
		if !ok {
			return nil, fmt.Errorf("status.%s is gone from the CRD schema: update describedStatus", name)
		}
		out = append(out, operatorsv1alpha1.StatusDescriptor{
			Path: name, DisplayName: displayName(name), Description: firstSentence(p.Description),
			XDescriptors: []string{widget[name]},
		})
	}
	return out, nil
}

// acronyms keep their case in display names.
var acronyms = map[string]string{"cors": "CORS", "jwt": "JWT", "pvc": "PVC", "smtp": "SMTP", "auth": "Auth"}

// displayName turns a JSON field name into words: "pvcRetentionPolicy" -> "PVC Retention Policy".
func displayName(field string) string {
	var words []string
	start := 0
	for i, r := range field {
		if i > 0 && unicode.IsUpper(r) {
			words = append(words, field[start:i])
			start = i
		}
	}
	words = append(words, field[start:])
	for i, w := range words {
		if a, ok := acronyms[strings.ToLower(w)]; ok {
			words[i] = a
			continue
		}
		words[i] = strings.ToUpper(w[:1]) + w[1:]
	}
	return strings.Join(words, " ")
}

// firstSentence keeps descriptions short: the schema's first sentence.
func firstSentence(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if i := strings.Index(s, ". "); i >= 0 {
		s = s[:i+1]
	}
	if r := []rune(s); len(r) > firstSentenceMaxChars {
		s = string(r[:firstSentenceMaxChars-3]) + "..."
	}
	return s
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
