package server

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestRunRefusesRefsThatAreNotGitRefs: a pipeline or schedule asked for
// a ref git would not accept (or would read as an option) is a 400 naming
// the field, before git is asked anything.
func TestRunRefusesRefsThatAreNotGitRefs(t *testing.T) {
	s := uiServer(t, "")
	p := uiProject(t, s, "shop", uiRepo(t, map[string]string{".gitlab-ci.yml": "build:\n  script: [echo hi]\n"}))
	post := func(path, body string) (int, string) {
		rec := httptest.NewRecorder()
		s.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodPost, path, strings.NewReader(body)))
		return rec.Code, rec.Body.String()
	}
	for _, ref := range []string{"main..evil", "--upload-pack=touch /tmp/x", "feature branch", "a:b", "x.lock", "topic/.hidden", "HEAD@{1}", `back\slash`} {
		code, body := post(fmt.Sprintf("/api/projects/%d/pipelines", p.ID), fmt.Sprintf(`{"ref": %q}`, ref))
		if code != http.StatusBadRequest || !strings.Contains(body, `ref: \"`) {
			t.Errorf("run on %q: %d %s, want 400 naming ref", ref, code, body)
		}
		code, body = post(fmt.Sprintf("/api/projects/%d/schedules", p.ID), fmt.Sprintf(`{"ref": %q, "cron": "0 3 * * *"}`, ref))
		if code != http.StatusBadRequest || !strings.Contains(body, "schedule.ref") {
			t.Errorf("schedule on %q: %d %s, want 400 naming schedule.ref", ref, code, body)
		}
	}
	if code, body := post(fmt.Sprintf("/api/projects/%d/pipelines", p.ID), `{"ref": "main"}`); code != http.StatusCreated {
		t.Errorf("run on main: %d %s", code, body)
	}
}
