package build

import (
	"net/url"
	"strings"
	"time"
)

// The OCI annotation keys Slipway sets as image labels
// (github.com/opencontainers/image-spec, annotations.md).
const (
	LabelRevision = "org.opencontainers.image.revision"
	LabelSource   = "org.opencontainers.image.source"
	LabelCreated  = "org.opencontainers.image.created"
	LabelVersion  = "org.opencontainers.image.version"
)

// Provenance is what the OCI labels of a build say about it.
type Provenance struct {
	Revision string    // commit SHA
	Source   string    // repository URL; credentials in it are dropped
	Version  string    // project version
	Created  time.Time // build time
}

// Labels returns the OCI labels for p, leaving out the unknown ones.
func (p Provenance) Labels() map[string]string {
	l := map[string]string{}
	if p.Revision != "" {
		l[LabelRevision] = p.Revision
	}
	if s := PublicURL(p.Source); s != "" {
		l[LabelSource] = s
	}
	if p.Version != "" {
		l[LabelVersion] = p.Version
	}
	if !p.Created.IsZero() {
		l[LabelCreated] = p.Created.UTC().Format(time.RFC3339)
	}
	return l
}

// PublicURL drops the user and password of a repository URL: CI clone URLs
// often carry a job token (https://gitlab-ci-token:TOKEN@host/group/app.git),
// and a label is readable by anyone who can pull the image. scp-like
// addresses (git@host:group/app.git) lose their user too.
func PublicURL(s string) string {
	if s == "" {
		return ""
	}
	if u, err := url.Parse(s); err == nil && u.Scheme != "" && u.Host != "" {
		u.User = nil
		return u.String()
	}
	if at := strings.Index(s, "@"); at >= 0 && strings.Contains(s[at:], ":") {
		return s[at+1:]
	}
	return s
}
