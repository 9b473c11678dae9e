package server_test

import (
	"fmt"
	"strings"
	"testing"
)

// TestInvalidComposeIsABadRequest: a Compose file with a mistake is the
// branch's fault, not the server's: the deploy job's log shows 400 and the
// file's position, as a user fixes it, not a 500.
func TestInvalidComposeIsABadRequest(t *testing.T) {
	s, _, sha := webProjectWith(t, `
deploy:
  script: [slipway env deploy --compose compose.yaml]
  environment:
    name: review/$CI_COMMIT_REF_SLUG
  rules:
    - if: $CI_PIPELINE_SOURCE == "merge_request_event"
`, `services:
  web:
    image: busybox
    x-slipway:
      expose: true
      port: http
`, "", 0)
	p := mergeRequest(t, s, 1, "open", "feature/x", sha)
	p = s.waitPipeline(p.ID, func(p pipeline) bool {
		return p.job("deploy").Status == "failed" || p.job("deploy").Status == "success"
	})
	log := s.text(fmt.Sprintf("/api/jobs/%d/log", p.job("deploy").ID))
	want := "400 Bad Request: compose.yaml:6:7: services.web.x-slipway.port: want a container port 1-65535, got http"
	if p.job("deploy").Status != "failed" || !strings.Contains(log, want) {
		t.Errorf("deploy %s, want its log to say %q:\n%s", p.job("deploy").Status, want, log)
	}
}
