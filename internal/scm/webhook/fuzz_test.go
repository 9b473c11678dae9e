package webhook

import (
	"errors"
	"net/http"
	"strings"
	"testing"
)

// FuzzParseBody feeds signed bodies of any shape to every provider's
// decoder: it must never panic, must answer with one of the documented
// errors, and a success must be a usable event.
func FuzzParseBody(f *testing.F) {
	seeds := []struct {
		provider byte
		event    string
		file     string
	}{
		{0, "push", "github_push.json"},
		{0, "push", "github_push_delete.json"},
		{0, "pull_request", "github_pull_request.json"},
		{0, "ping", "github_ping.json"},
		{1, "Push Hook", "gitlab_push.json"},
		{1, "Tag Push Hook", "gitlab_tag_push.json"},
		{1, "Merge Request Hook", "gitlab_merge_request.json"},
		{2, "push", "gitea_push.json"},
		{2, "pull_request", "gitea_pull_request.json"},
		{3, "", "generic_push.json"},
		{3, "", "generic_merge_request.json"},
	}
	for _, s := range seeds {
		f.Add(s.provider, s.event, readTestdata(f, s.file))
	}
	f.Add(byte(3), "", []byte(`{"kind":"merge_request","merge_request":null}`))
	providers := []Provider{GitHub, GitLab, Gitea, Generic}
	events := map[Provider]string{GitHub: "X-GitHub-Event", GitLab: "X-Gitlab-Event", Gitea: "X-Gitea-Event"}

	f.Fuzz(func(t *testing.T, pi byte, event string, body []byte) {
		provider := providers[int(pi)%len(providers)]
		r := delivery(provider, event, body, testSecret)
		if h, ok := events[provider]; ok {
			// delivery drops empty header values; set them as sent.
			r.Header[http.CanonicalHeaderKey(h)] = []string{event}
		}
		e, err := ParseBody(provider, r.Header, body, testSecret)
		if err != nil {
			if !errors.Is(err, ErrBadPayload) && !errors.Is(err, ErrIgnored) {
				t.Fatalf("undocumented error class: %v", err)
			}
			if strings.Contains(err.Error(), string(testSecret)) {
				t.Fatalf("error leaks the secret: %v", err)
			}
			return
		}
		if e.Provider != provider || e.Repo.FullName == "" {
			t.Fatalf("event without provider or repository: %+v", e)
		}
		switch e.Kind {
		case Push, TagPush:
			if e.MergeRequest != nil || (e.Branch == "") == (e.Tag == "") {
				t.Fatalf("push must name exactly one of branch and tag: %+v", e)
			}
		case MergeRequest:
			if e.MergeRequest == nil || e.Action == "" || e.MergeRequest.SourceBranch == "" {
				t.Fatalf("merge request event without its merge request: %+v", e)
			}
		default:
			t.Fatalf("unknown kind %q", e.Kind)
		}
		v := e.Variables()
		if v["CI_PIPELINE_SOURCE"] == "" || v["CI_COMMIT_REF_NAME"] == "" {
			t.Fatalf("variables miss the pipeline source or ref name: %v", v)
		}
	})
}
