package resources

import (
	"strings"

	heimdallv1 "github.com/heimdall-io/heimdall-operator/api/v1alpha1"
)

// Images are the default image repositories, overridable per operator (flags / RELATED_IMAGE_*
// environment, as OLM sets them for disconnected installs) and per instance (spec.*.image).
type Images struct {
	Server     string
	Postgres   string
	Redis      string
	FusionAuth string
}

// DefaultImages are the repositories used when nothing overrides them.
var DefaultImages = Images{
	Server:     "ghcr.io/heimdall-io/heimdall-server",
	Postgres:   "docker.io/library/postgres",
	Redis:      "docker.io/library/redis",
	FusionAuth: "docker.io/fusionauth/fusionauth-app",
}

// ImagesFromEnv returns DefaultImages with RELATED_IMAGE_* values (full references without tag)
// taken from getenv where set.
func ImagesFromEnv(getenv func(string) string) Images {
	img := DefaultImages
	for env, field := range map[string]*string{
		"RELATED_IMAGE_HEIMDALL_SERVER": &img.Server,
		"RELATED_IMAGE_POSTGRES":        &img.Postgres,
		"RELATED_IMAGE_REDIS":           &img.Redis,
		"RELATED_IMAGE_FUSIONAUTH":      &img.FusionAuth,
	} {
		if v := strings.TrimSpace(getenv(env)); v != "" {
			*field = v
		}
	}
	return img
}

// ServerImage is the image the server runs: spec.image, or the default repository at spec.version.
func ServerImage(hi *heimdallv1.HeimdallInstance, img Images) string {
	if hi.Spec.Image != "" {
		return hi.Spec.Image
	}
	return img.Server + ":" + hi.Spec.Version
}

func postgresImage(m *heimdallv1.ManagedPostgres, img Images) string {
	if m.Image != "" {
		return m.Image
	}
	return img.Postgres + ":" + m.Version
}

func redisImage(m *heimdallv1.ManagedRedis, img Images) string {
	if m.Image != "" {
		return m.Image
	}
	return img.Redis + ":" + m.Version + "-alpine"
}

func fusionAuthImage(m *heimdallv1.ManagedFusionAuth, img Images) string {
	if m.Image != "" {
		return m.Image
	}
	return img.FusionAuth + ":" + m.Version
}
