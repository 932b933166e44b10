package resources

import (
	heimdallv1 "github.com/heimdall-io/heimdall-operator/api/v1alpha1"
)

// ManagedApplicationID is the FusionAuth application the kickstart of a managed FusionAuth creates
// and the server registers users with.
const ManagedApplicationID = "7f3b2c1e-5d4a-4e8b-9c6f-0a1b2c3d4e5f"

// SecretRefs says where every secret value the children consume lives: a Secret the operator
// generates, or one the user brings.
type SecretRefs struct {
	// Database holds the server's database user.
	Database heimdallv1.CredentialsSecretRef
	// RedisPassword is nil for an external Redis without AUTH.
	RedisPassword *heimdallv1.SecretKeyRef
	// FusionAuthAPIKey is the key the server calls FusionAuth with.
	FusionAuthAPIKey heimdallv1.SecretKeyRef
	// JWT names the Secret with private.pem and public.pem.
	JWT string
	// SMTP is nil when no SMTP credentials are configured.
	SMTP *heimdallv1.CredentialsSecretRef
	// extra are keys only managed components consume (superuser, FusionAuth's database user).
	extra []heimdallv1.SecretKeyRef
}

// Refs resolves the SecretRefs of an instance from its spec.
func Refs(hi *heimdallv1.HeimdallInstance) SecretRefs {
	var r SecretRefs
	if ext := hi.Spec.Postgres.External; ext != nil {
		r.Database = withCredentialDefaults(ext.CredentialsSecretRef)
	} else {
		r.Database = heimdallv1.CredentialsSecretRef{
			Name: ComponentName(hi, ComponentPostgres), UsernameKey: KeyUsername, PasswordKey: KeyPassword,
		}
	}
	if ext := hi.Spec.Redis.External; ext != nil {
		r.RedisPassword = ext.PasswordSecretRef
	} else {
		r.RedisPassword = &heimdallv1.SecretKeyRef{Name: ComponentName(hi, ComponentRedis), Key: KeyPassword}
	}
	if ext := hi.Spec.FusionAuth.External; ext != nil {
		r.FusionAuthAPIKey = ext.APIKeySecretRef
	} else {
		r.FusionAuthAPIKey = heimdallv1.SecretKeyRef{Name: ComponentName(hi, ComponentFusionAuth), Key: KeyAPIKey}
	}
	r.JWT = ComponentName(hi, ComponentJWT)
	if hi.Spec.JWT.SecretRef != nil {
		r.JWT = hi.Spec.JWT.SecretRef.Name
	}
	if hi.Spec.Postgres.Managed != nil {
		r.extra = append(r.extra, heimdallv1.SecretKeyRef{Name: ComponentName(hi, ComponentPostgres), Key: KeySuperuserPassword})
	}
	if hi.Spec.FusionAuth.Managed != nil {
		name := ComponentName(hi, ComponentFusionAuth)
		r.extra = append(r.extra, heimdallv1.SecretKeyRef{Name: name, Key: KeyDBUsername}, heimdallv1.SecretKeyRef{Name: name, Key: KeyDBPassword})
	}
	if s := hi.Spec.SMTP; s != nil && s.CredentialsSecretRef != nil {
		c := withCredentialDefaults(*s.CredentialsSecretRef)
		r.SMTP = &c
	}
	return r
}

// Required lists every Secret key the children consume, by Secret name, so the reconciler can
// check they exist before anything uses them.
func (r SecretRefs) Required() map[string][]string {
	req := map[string][]string{}
	add := func(name string, keys ...string) { req[name] = append(req[name], keys...) }
	add(r.Database.Name, r.Database.UsernameKey, r.Database.PasswordKey)
	if r.RedisPassword != nil {
		add(r.RedisPassword.Name, r.RedisPassword.Key)
	}
	add(r.FusionAuthAPIKey.Name, r.FusionAuthAPIKey.Key)
	add(r.JWT, KeyPrivatePEM, KeyPublicPEM)
	if r.SMTP != nil {
		add(r.SMTP.Name, r.SMTP.UsernameKey, r.SMTP.PasswordKey)
	}
	for _, k := range r.extra {
		add(k.Name, k.Key)
	}
	return req
}

// withCredentialDefaults fills the key names the schema defaults, for objects built in Go.
func withCredentialDefaults(c heimdallv1.CredentialsSecretRef) heimdallv1.CredentialsSecretRef {
	if c.UsernameKey == "" {
		c.UsernameKey = KeyUsername
	}
	if c.PasswordKey == "" {
		c.PasswordKey = KeyPassword
	}
	return c
}
