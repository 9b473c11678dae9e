package webhook

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

var testSecret = []byte("It's a Secret to Everybody")

func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// edit decodes a JSON document, lets f change it and encodes it again.
func edit(t testing.TB, body []byte, f func(m map[string]any)) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatal(err)
	}
	f(m)
	out, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// delivery builds a request as each provider sends it, signed with secret.
func delivery(provider Provider, event string, body, secret []byte) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "/hooks", bytes.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	sig := hex.EncodeToString(Sign(secret, body))
	switch provider {
	case GitHub:
		r.Header.Set("X-GitHub-Event", event)
		r.Header.Set("X-GitHub-Delivery", "72d3162e-cc78-11e3-81ab-4c9367dc0958")
		r.Header.Set("X-Hub-Signature-256", "sha256="+sig)
	case GitLab:
		r.Header.Set("X-Gitlab-Event", event)
		r.Header.Set("X-Gitlab-Event-UUID", "13792a34-cac6-4fda-95a8-c58e00a3954e")
		r.Header.Set("X-Gitlab-Token", string(secret))
	case Gitea:
		// Gitea sends GitHub's and Gogs' headers too.
		r.Header.Set("X-Gitea-Event", event)
		r.Header.Set("X-GitHub-Event", event)
		r.Header.Set("X-Gitea-Delivery", "f6266f16-1bf3-46a5-9ea4-602e06ead473")
		r.Header.Set("X-Gitea-Signature", sig)
	case Generic:
		r.Header.Set("X-Slipway-Signature", "sha256="+sig)
	}
	return r
}

func mustParse(t *testing.T, r *http.Request) Event {
	t.Helper()
	e, err := Parse(r, testSecret)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return e
}

// wantVars checks the listed variables and that the absent ones are unset.
func wantVars(t *testing.T, e Event, want map[string]string, absent ...string) {
	t.Helper()
	got := e.Variables()
	for _, k := range slices.Sorted(maps.Keys(want)) {
		if got[k] != want[k] {
			t.Errorf("%s = %q, want %q", k, got[k], want[k])
		}
	}
	for _, k := range absent {
		if v, ok := got[k]; ok {
			t.Errorf("%s = %q, want it unset", k, v)
		}
	}
}

func TestGitHubPush(t *testing.T) {
	e := mustParse(t, delivery(GitHub, "push", readTestdata(t, "github_push.json"), testSecret))
	if e.Provider != GitHub || e.Kind != Push || e.Branch != "main" || e.Tag != "" || e.Deleted {
		t.Errorf("got provider %q kind %q branch %q tag %q deleted %v", e.Provider, e.Kind, e.Branch, e.Tag, e.Deleted)
	}
	if e.DeliveryID != "72d3162e-cc78-11e3-81ab-4c9367dc0958" {
		t.Errorf("DeliveryID = %q", e.DeliveryID)
	}
	wantRepo := Repo{FullName: "Codertocat/Hello-World", CloneURL: "https://github.com/Codertocat/Hello-World.git",
		WebURL: "https://github.com/Codertocat/Hello-World", DefaultBranch: "main"}
	if e.Repo != wantRepo {
		t.Errorf("Repo = %+v, want %+v", e.Repo, wantRepo)
	}
	if !e.RunsPipeline() {
		t.Error("a push should run a pipeline")
	}
	wantVars(t, e, map[string]string{
		"CI_PIPELINE_SOURCE":    "push",
		"CI_COMMIT_SHA":         "0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c",
		"CI_COMMIT_SHORT_SHA":   "0d1a26e6",
		"CI_COMMIT_BEFORE_SHA":  "6113728f27ae82c7b1a177c8d03f9e96e0adf246",
		"CI_COMMIT_REF_NAME":    "main",
		"CI_COMMIT_REF_SLUG":    "main",
		"CI_COMMIT_BRANCH":      "main",
		"CI_COMMIT_MESSAGE":     "Update README.md\n\nExplain how to run the tests.",
		"CI_COMMIT_TITLE":       "Update README.md",
		"CI_COMMIT_DESCRIPTION": "Explain how to run the tests.",
		"CI_COMMIT_TIMESTAMP":   "2019-05-15T15:20:30-05:00",
		"CI_COMMIT_AUTHOR":      "Codertocat <21031067+Codertocat@users.noreply.github.com>",
		"CI_DEFAULT_BRANCH":     "main",
		"GITLAB_USER_LOGIN":     "Codertocat",
	}, "CI_COMMIT_TAG", "CI_MERGE_REQUEST_IID")
}

func TestGitHubTagPush(t *testing.T) {
	body := edit(t, readTestdata(t, "github_push.json"), func(m map[string]any) {
		m["ref"] = "refs/tags/v1.2.0"
		// An annotated tag: after is the tag object, not the commit.
		m["after"] = "9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b"
	})
	e := mustParse(t, delivery(GitHub, "push", body, testSecret))
	if e.Kind != TagPush || e.Tag != "v1.2.0" || e.Branch != "" {
		t.Fatalf("kind %q tag %q branch %q", e.Kind, e.Tag, e.Branch)
	}
	wantVars(t, e, map[string]string{
		"CI_PIPELINE_SOURCE": "push",
		"CI_COMMIT_TAG":      "v1.2.0",
		"CI_COMMIT_REF_NAME": "v1.2.0",
		"CI_COMMIT_REF_SLUG": "v1-2-0",
		"CI_COMMIT_SHA":      "0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c",
	}, "CI_COMMIT_BRANCH")
}

func TestGitHubBranchDeleted(t *testing.T) {
	e := mustParse(t, delivery(GitHub, "push", readTestdata(t, "github_push_delete.json"), testSecret))
	if !e.Deleted || e.Branch != "feature/old" {
		t.Fatalf("deleted %v branch %q", e.Deleted, e.Branch)
	}
	if e.RunsPipeline() {
		t.Error("a branch deletion must not run a pipeline")
	}
	wantVars(t, e, map[string]string{"CI_COMMIT_REF_SLUG": "feature-old"}, "CI_COMMIT_SHA", "CI_COMMIT_MESSAGE")
}

func TestGitHubPullRequestActions(t *testing.T) {
	for _, tc := range []struct {
		action string
		merged bool
		want   Action
		runs   bool
	}{
		{"opened", false, Opened, true},
		{"synchronize", false, Updated, true},
		{"reopened", false, Reopened, true},
		{"edited", false, Edited, false},
		{"closed", false, Closed, false},
		{"closed", true, Merged, false},
	} {
		t.Run(string(tc.want), func(t *testing.T) {
			body := edit(t, readTestdata(t, "github_pull_request.json"), func(m map[string]any) {
				m["action"] = tc.action
				m["pull_request"].(map[string]any)["merged"] = tc.merged
			})
			e := mustParse(t, delivery(GitHub, "pull_request", body, testSecret))
			if e.Kind != MergeRequest || e.Action != tc.want || e.RunsPipeline() != tc.runs {
				t.Fatalf("kind %q action %q runs %v, want %q %v", e.Kind, e.Action, e.RunsPipeline(), tc.want, tc.runs)
			}
		})
	}
}

func TestGitHubPullRequestVariables(t *testing.T) {
	e := mustParse(t, delivery(GitHub, "pull_request", readTestdata(t, "github_pull_request.json"), testSecret))
	wantVars(t, e, map[string]string{
		"CI_PIPELINE_SOURCE":                  "merge_request_event",
		"CI_COMMIT_SHA":                       "ec26c3e57ca3a959ca5aad62de7213c562f8c821",
		"CI_COMMIT_REF_NAME":                  "changes",
		"CI_COMMIT_BEFORE_SHA":                ZeroSHA,
		"CI_MERGE_REQUEST_ID":                 "279147437",
		"CI_MERGE_REQUEST_IID":                "2",
		"CI_MERGE_REQUEST_TITLE":              "Update the README with new information.",
		"CI_MERGE_REQUEST_SOURCE_BRANCH_NAME": "changes",
		"CI_MERGE_REQUEST_TARGET_BRANCH_NAME": "main",
		"CI_MERGE_REQUEST_SOURCE_BRANCH_SHA":  "ec26c3e57ca3a959ca5aad62de7213c562f8c821",
		"CI_MERGE_REQUEST_TARGET_BRANCH_SHA":  "f95f852bd8fca8fcc58a9a2d6c842781e32a215e",
		"CI_MERGE_REQUEST_LABELS":             "bug,docs",
		"CI_MERGE_REQUEST_PROJECT_PATH":       "Codertocat/Hello-World",
		"CI_MERGE_REQUEST_PROJECT_URL":        "https://github.com/Codertocat/Hello-World",
		"CI_MERGE_REQUEST_REF_PATH":           "refs/pull/2/head",
		"CI_MERGE_REQUEST_EVENT_TYPE":         "detached",
		"GITLAB_USER_LOGIN":                   "Codertocat",
	}, "CI_COMMIT_BRANCH", "CI_COMMIT_TAG", "CI_MERGE_REQUEST_DIFF_BASE_SHA", "CI_MERGE_REQUEST_DRAFT")
}

func TestIgnoredEvents(t *testing.T) {
	for _, tc := range []struct {
		name     string
		provider Provider
		event    string
		body     []byte
	}{
		{"github ping", GitHub, "ping", readTestdata(t, "github_ping.json")},
		{"github issues", GitHub, "issues", []byte(`{"action":"opened"}`)},
		{"github labeled", GitHub, "pull_request", edit(t, readTestdata(t, "github_pull_request.json"), func(m map[string]any) { m["action"] = "labeled" })},
		{"gitlab issue", GitLab, "Issue Hook", []byte(`{"object_kind":"issue"}`)},
		{"gitlab approved", GitLab, "Merge Request Hook", edit(t, readTestdata(t, "gitlab_merge_request.json"), func(m map[string]any) {
			m["object_attributes"].(map[string]any)["action"] = "approved"
		})},
		{"gitea release", Gitea, "release", []byte(`{"action":"published"}`)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse(delivery(tc.provider, tc.event, tc.body, testSecret), testSecret)
			if !errors.Is(err, ErrIgnored) || StatusCode(err) != http.StatusAccepted {
				t.Fatalf("err = %v (status %d), want ErrIgnored (202)", err, StatusCode(err))
			}
		})
	}
}

func TestGitLabPush(t *testing.T) {
	e := mustParse(t, delivery(GitLab, "Push Hook", readTestdata(t, "gitlab_push.json"), testSecret))
	if e.Provider != GitLab || e.Kind != Push || e.Branch != "master" || e.Repo.FullName != "mike/diaspora" ||
		e.Repo.CloneURL != "http://example.com/mike/diaspora.git" || e.DeliveryID != "13792a34-cac6-4fda-95a8-c58e00a3954e" {
		t.Errorf("got %+v", e)
	}
	wantVars(t, e, map[string]string{
		"CI_PIPELINE_SOURCE":   "push",
		"CI_COMMIT_SHA":        "da1560886d4f094c3e6c9ef40349f7d38b5d27d7",
		"CI_COMMIT_BEFORE_SHA": "95790bf891e76fee5e1747ab589903a6a1f80f22",
		"CI_COMMIT_BRANCH":     "master",
		"CI_COMMIT_MESSAGE":    "fixed readme",
		"CI_COMMIT_TITLE":      "fixed readme",
		"CI_COMMIT_TIMESTAMP":  "2012-01-03T23:36:29+02:00",
		"CI_COMMIT_AUTHOR":     "GitLab dev user <gitlabdev@dv6700.(none)>",
		"GITLAB_USER_LOGIN":    "jsmith",
		"GITLAB_USER_NAME":     "John Smith",
		"GITLAB_USER_EMAIL":    "john@example.com",
	}, "CI_COMMIT_TAG", "CI_COMMIT_DESCRIPTION")
}

func TestGitLabTagPush(t *testing.T) {
	e := mustParse(t, delivery(GitLab, "Tag Push Hook", readTestdata(t, "gitlab_tag_push.json"), testSecret))
	// after is the annotated tag object; checkout_sha the tagged commit.
	if e.Kind != TagPush || e.Tag != "v1.0.0" || e.After != "5937ac0a7beb003549fc5fd26fc247adbce4a52e" {
		t.Fatalf("kind %q tag %q after %q", e.Kind, e.Tag, e.After)
	}
	wantVars(t, e, map[string]string{
		"CI_COMMIT_TAG":        "v1.0.0",
		"CI_COMMIT_BEFORE_SHA": ZeroSHA,
		"CI_PIPELINE_SOURCE":   "push",
	}, "CI_COMMIT_BRANCH")

	// A branch ref under a Tag Push Hook header is a contradiction.
	body := edit(t, readTestdata(t, "gitlab_tag_push.json"), func(m map[string]any) { m["ref"] = "refs/heads/main" })
	if _, err := Parse(delivery(GitLab, "Tag Push Hook", body, testSecret), testSecret); !errors.Is(err, ErrBadPayload) {
		t.Errorf("branch ref in a Tag Push Hook: err = %v, want ErrBadPayload", err)
	}
}

func TestGitLabMergeRequestActions(t *testing.T) {
	for _, tc := range []struct {
		action, oldrev string
		want           Action
		runs           bool
	}{
		{"open", "", Opened, true},
		{"update", "95790bf891e76fee5e1747ab589903a6a1f80f22", Updated, true},
		{"update", "", Edited, false},
		{"reopen", "", Reopened, true},
		{"close", "", Closed, false},
		{"merge", "", Merged, false},
	} {
		t.Run(string(tc.want), func(t *testing.T) {
			body := edit(t, readTestdata(t, "gitlab_merge_request.json"), func(m map[string]any) {
				attrs := m["object_attributes"].(map[string]any)
				attrs["action"] = tc.action
				if tc.oldrev != "" {
					attrs["oldrev"] = tc.oldrev
				}
			})
			e := mustParse(t, delivery(GitLab, "Merge Request Hook", body, testSecret))
			if e.Kind != MergeRequest || e.Action != tc.want || e.RunsPipeline() != tc.runs {
				t.Fatalf("kind %q action %q runs %v, want %q %v", e.Kind, e.Action, e.RunsPipeline(), tc.want, tc.runs)
			}
			if tc.oldrev != "" && e.Before != tc.oldrev {
				t.Errorf("Before = %q, want oldrev %q", e.Before, tc.oldrev)
			}
		})
	}
}

func TestGitLabMergeRequestVariables(t *testing.T) {
	e := mustParse(t, delivery(GitLab, "Merge Request Hook", readTestdata(t, "gitlab_merge_request.json"), testSecret))
	wantVars(t, e, map[string]string{
		"CI_PIPELINE_SOURCE":                   "merge_request_event",
		"CI_COMMIT_SHA":                        "da1560886d4f094c3e6c9ef40349f7d38b5d27d7",
		"CI_COMMIT_REF_NAME":                   "ms-viewport",
		"CI_COMMIT_REF_SLUG":                   "ms-viewport",
		"CI_COMMIT_MESSAGE":                    "fixed readme",
		"CI_MERGE_REQUEST_ID":                  "99",
		"CI_MERGE_REQUEST_IID":                 "1",
		"CI_MERGE_REQUEST_TITLE":               "MS-Viewport",
		"CI_MERGE_REQUEST_DESCRIPTION":         "Fix the viewport on MS browsers",
		"CI_MERGE_REQUEST_SOURCE_BRANCH_NAME":  "ms-viewport",
		"CI_MERGE_REQUEST_TARGET_BRANCH_NAME":  "master",
		"CI_MERGE_REQUEST_SOURCE_BRANCH_SHA":   "da1560886d4f094c3e6c9ef40349f7d38b5d27d7",
		"CI_MERGE_REQUEST_LABELS":              "API,review",
		"CI_MERGE_REQUEST_PROJECT_PATH":        "awesome_space/awesome_project",
		"CI_MERGE_REQUEST_PROJECT_URL":         "http://example.com/awesome_space/awesome_project",
		"CI_MERGE_REQUEST_SOURCE_PROJECT_PATH": "awesome_space/awesome_project",
		"CI_MERGE_REQUEST_REF_PATH":            "refs/merge-requests/1/head",
		"CI_MERGE_REQUEST_EVENT_TYPE":          "detached",
		"GITLAB_USER_LOGIN":                    "root",
		"GITLAB_USER_NAME":                     "Administrator",
	}, "CI_COMMIT_BRANCH", "CI_MERGE_REQUEST_TARGET_BRANCH_SHA")
}

func TestGiteaPush(t *testing.T) {
	e := mustParse(t, delivery(Gitea, "push", readTestdata(t, "gitea_push.json"), testSecret))
	if e.Provider != Gitea || e.Kind != Push || e.Branch != "develop" || e.Repo.FullName != "gitea/webhooks" ||
		e.DeliveryID != "f6266f16-1bf3-46a5-9ea4-602e06ead473" {
		t.Errorf("got %+v", e)
	}
	wantVars(t, e, map[string]string{
		"CI_COMMIT_SHA":       "bffeb74224043ba2feb48d137756c8a9331c449a",
		"CI_COMMIT_MESSAGE":   "Webhooks Yay!",
		"CI_COMMIT_AUTHOR":    "Gitea <someone@gitea.io>",
		"CI_COMMIT_TIMESTAMP": "2017-03-13T13:52:11-04:00",
		"GITLAB_USER_LOGIN":   "gitea",
	})
}

func TestGiteaPullRequest(t *testing.T) {
	e := mustParse(t, delivery(Gitea, "pull_request", readTestdata(t, "gitea_pull_request.json"), testSecret))
	mr := e.MergeRequest
	if e.Action != Opened || mr == nil || mr.IID != 7 || mr.SourceProjectPath != "alice/webhooks" ||
		mr.SourceCloneURL != "http://localhost:3000/alice/webhooks.git" {
		t.Fatalf("got %+v %+v", e, mr)
	}
	wantVars(t, e, map[string]string{
		"CI_MERGE_REQUEST_DIFF_BASE_SHA":     "28e1879d029cb852e4844d9c718537df08844e03",
		"CI_MERGE_REQUEST_TARGET_BRANCH_SHA": "bffeb74224043ba2feb48d137756c8a9331c449a",
		"CI_MERGE_REQUEST_LABELS":            "enhancement",
		"CI_MERGE_REQUEST_REF_PATH":          "refs/pull/7/head",
	})
	for action, want := range map[string]Action{"synchronized": Updated, "closed": Closed, "reopened": Reopened} {
		body := edit(t, readTestdata(t, "gitea_pull_request.json"), func(m map[string]any) { m["action"] = action })
		if e := mustParse(t, delivery(Gitea, "pull_request", body, testSecret)); e.Action != want {
			t.Errorf("%s: Action = %q, want %q", action, e.Action, want)
		}
	}
	body := edit(t, readTestdata(t, "gitea_pull_request.json"), func(m map[string]any) {
		m["action"] = "closed"
		m["pull_request"].(map[string]any)["merged"] = true
	})
	if e := mustParse(t, delivery(Gitea, "pull_request", body, testSecret)); e.Action != Merged {
		t.Errorf("closed and merged: Action = %q, want merged", e.Action)
	}
}

func TestGenericPush(t *testing.T) {
	e := mustParse(t, delivery(Generic, "", readTestdata(t, "generic_push.json"), testSecret))
	if e.Provider != Generic || e.Kind != Push || e.Branch != "dev" || e.Commit.Timestamp.IsZero() {
		t.Fatalf("got %+v", e)
	}
	wantVars(t, e, map[string]string{
		"CI_PIPELINE_SOURCE": "push",
		"CI_COMMIT_SHA":      "2222222222222222222222222222222222222222",
		"CI_COMMIT_BRANCH":   "dev",
		"CI_COMMIT_TITLE":    "Speed up the cart",
		"GITLAB_USER_LOGIN":  "ada",
	})
}

func TestGenericMergeRequest(t *testing.T) {
	e := mustParse(t, delivery(Generic, "", readTestdata(t, "generic_merge_request.json"), testSecret))
	wantVars(t, e, map[string]string{
		"CI_PIPELINE_SOURCE":                 "merge_request_event",
		"CI_COMMIT_SHA":                      "3333333333333333333333333333333333333333",
		"CI_MERGE_REQUEST_IID":               "12",
		"CI_MERGE_REQUEST_TARGET_BRANCH_SHA": "4444444444444444444444444444444444444444",
		"CI_MERGE_REQUEST_DIFF_BASE_SHA":     "5555555555555555555555555555555555555555",
		"CI_MERGE_REQUEST_PROJECT_PATH":      "acme/shop",
		"CI_MERGE_REQUEST_LABELS":            "perf",
	})
}

// The generic format is Event's JSON form: what Slipway marshals, it parses.
func TestGenericRoundTrip(t *testing.T) {
	want := mustParse(t, delivery(GitLab, "Merge Request Hook", readTestdata(t, "gitlab_merge_request.json"), testSecret))
	want.Provider, want.DeliveryID = "", ""
	body, err := json.Marshal(want)
	if err != nil {
		t.Fatal(err)
	}
	got := mustParse(t, delivery(Generic, "", body, testSecret))
	got.Provider = ""
	if !reflect.DeepEqual(got.Variables(), want.Variables()) {
		t.Errorf("variables differ after a round trip:\n got %v\nwant %v", got.Variables(), want.Variables())
	}
}

func TestGenericBadPayload(t *testing.T) {
	for _, tc := range []struct {
		name, body, wantInErr string
	}{
		{"unknown field", `{"kind":"push","repo":{"full_name":"a/b"},"ref":"refs/heads/x","after":"abc"}`, `unknown field "repo"`},
		{"missing after", `{"kind":"push","repository":{"full_name":"a/b"},"ref":"refs/heads/x"}`, "missing after"},
		{"missing kind", `{"repository":{"full_name":"a/b"},"ref":"refs/heads/x","after":"abc"}`, "missing kind"},
		{"bad kind", `{"kind":"deploy","repository":{"full_name":"a/b"},"ref":"refs/heads/x","after":"abc"}`, "kind is not push"},
		{"kind against ref", `{"kind":"tag_push","repository":{"full_name":"a/b"},"ref":"refs/heads/x","after":"abc"}`, "does not match"},
		{"mr without iid", `{"kind":"merge_request","action":"opened","repository":{"full_name":"a/b"},"merge_request":{"source_branch":"a","target_branch":"b","source_sha":"c"}}`, "merge_request.iid"},
		{"wrong type", `{"kind":"push","repository":{"full_name":"a/b"},"ref":"refs/heads/x","after":42}`, `field "after"`},
		{"trailing data", `{"kind":"push","repository":{"full_name":"a/b"},"ref":"refs/heads/x","after":"a"} {}`, "data after"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse(delivery(Generic, "", []byte(tc.body), testSecret), testSecret)
			if !errors.Is(err, ErrBadPayload) || StatusCode(err) != http.StatusBadRequest {
				t.Fatalf("err = %v, want ErrBadPayload", err)
			}
			if !strings.Contains(err.Error(), tc.wantInErr) {
				t.Errorf("error %q does not say %q", err, tc.wantInErr)
			}
		})
	}
}

func TestBadPayloadNeverQuotesIt(t *testing.T) {
	const marker = "SENSITIVE-PAYLOAD-MARKER"
	for _, body := range []string{
		`{"ref": "refs/heads/main", "after": ` + marker + `}`,
		`{"ref": "refs/heads/main", "after": "x", "head_commit": {"timestamp": "` + marker + `"}}`,
		`{"ref": ["` + marker + `"]}`,
		``,
		`{"ref": "refs/heads/main"`,
	} {
		_, err := Parse(delivery(GitHub, "push", []byte(body), testSecret), testSecret)
		if !errors.Is(err, ErrBadPayload) {
			t.Errorf("body %q: err = %v, want ErrBadPayload", body, err)
			continue
		}
		if strings.Contains(err.Error(), marker) {
			t.Errorf("error quotes the payload: %v", err)
		}
	}
}

func TestMissingFields(t *testing.T) {
	body := edit(t, readTestdata(t, "gitlab_merge_request.json"), func(m map[string]any) {
		delete(m["object_attributes"].(map[string]any), "source_branch")
	})
	_, err := Parse(delivery(GitLab, "Merge Request Hook", body, testSecret), testSecret)
	if !errors.Is(err, ErrBadPayload) || !strings.Contains(err.Error(), "object_attributes.source_branch") {
		t.Fatalf("err = %v, want ErrBadPayload naming object_attributes.source_branch", err)
	}
}

func TestSignatureRejected(t *testing.T) {
	body := readTestdata(t, "github_push.json")
	type setup func(r *http.Request)
	for _, tc := range []struct {
		name     string
		provider Provider
		event    string
		change   setup
	}{
		{"github missing", GitHub, "push", func(r *http.Request) { r.Header.Del("X-Hub-Signature-256") }},
		{"github wrong", GitHub, "push", func(r *http.Request) {
			r.Header.Set("X-Hub-Signature-256", "sha256="+hex.EncodeToString(Sign([]byte("other"), body)))
		}},
		{"github sha1 only", GitHub, "push", func(r *http.Request) {
			r.Header.Del("X-Hub-Signature-256")
			r.Header.Set("X-Hub-Signature", "sha1=0123456789abcdef0123456789abcdef01234567")
		}},
		{"github no prefix", GitHub, "push", func(r *http.Request) {
			r.Header.Set("X-Hub-Signature-256", hex.EncodeToString(Sign(testSecret, body)))
		}},
		{"github not hex", GitHub, "push", func(r *http.Request) { r.Header.Set("X-Hub-Signature-256", "sha256=zz") }},
		{"github unknown event", GitHub, "issues", func(r *http.Request) { r.Header.Set("X-Hub-Signature-256", "sha256=00") }},
		{"gitlab missing", GitLab, "Push Hook", func(r *http.Request) { r.Header.Del("X-Gitlab-Token") }},
		{"gitlab wrong", GitLab, "Push Hook", func(r *http.Request) { r.Header.Set("X-Gitlab-Token", "It's a Secret to Everybod") }},
		{"gitea missing", Gitea, "push", func(r *http.Request) { r.Header.Del("X-Gitea-Signature") }},
		{"gitea wrong", Gitea, "push", func(r *http.Request) { r.Header.Set("X-Gitea-Signature", strings.Repeat("0", 64)) }},
		{"generic wrong", Generic, "", func(r *http.Request) {
			r.Header.Set("X-Slipway-Signature", "sha256="+strings.Repeat("ab", 32))
		}},
		{"body changed after signing", GitHub, "push", func(r *http.Request) {
			r.Body = io.NopCloser(bytes.NewReader(append(body, ' ')))
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := delivery(tc.provider, tc.event, body, testSecret)
			tc.change(r)
			_, err := Parse(r, testSecret)
			if !errors.Is(err, ErrUnauthorized) || StatusCode(err) != http.StatusUnauthorized {
				t.Fatalf("err = %v, want ErrUnauthorized (401)", err)
			}
			if strings.Contains(err.Error(), string(testSecret)) || strings.Contains(err.Error(), "Codertocat") {
				t.Errorf("error leaks the secret or the payload: %v", err)
			}
		})
	}
}

func TestNoSecretConfiguredRefusesAll(t *testing.T) {
	for _, p := range []Provider{GitHub, GitLab, Gitea, Generic} {
		// Signed with an empty key, which an attacker could compute.
		_, err := Parse(delivery(p, "push", readTestdata(t, "generic_push.json"), nil), nil)
		if !errors.Is(err, ErrUnauthorized) {
			t.Errorf("%s with no secret: err = %v, want ErrUnauthorized", p, err)
		}
	}
}

func TestNoEventHeader(t *testing.T) {
	r := httptest.NewRequest(http.MethodPost, "/hooks", strings.NewReader(`{}`))
	_, err := Parse(r, testSecret)
	if !errors.Is(err, ErrBadPayload) || StatusCode(err) != http.StatusBadRequest {
		t.Fatalf("err = %v, want ErrBadPayload", err)
	}
}

func TestOversizedBody(t *testing.T) {
	p := Parser{MaxBodyBytes: 4 << 10}
	big := edit(t, readTestdata(t, "github_push.json"), func(m map[string]any) {
		m["padding"] = strings.Repeat("x", 8<<10)
	})
	r := delivery(GitHub, "push", big, testSecret)
	if _, err := p.Parse(r, testSecret); !errors.Is(err, ErrTooLarge) || StatusCode(err) != http.StatusRequestEntityTooLarge {
		t.Errorf("with Content-Length: err = %v, want ErrTooLarge", err)
	}
	// A chunked body has no Content-Length: the read itself must stop.
	r = delivery(GitHub, "push", big, testSecret)
	r.ContentLength = -1
	r.Body = io.NopCloser(io.MultiReader(bytes.NewReader(big), neverEnding('x')))
	if _, err := p.Parse(r, testSecret); !errors.Is(err, ErrTooLarge) {
		t.Errorf("chunked: err = %v, want ErrTooLarge", err)
	}
	// Just under the limit is fine.
	if _, err := (Parser{MaxBodyBytes: int64(len(big))}).Parse(delivery(GitHub, "push", big, testSecret), testSecret); err != nil {
		t.Errorf("at the limit: %v", err)
	}
}

type neverEnding byte

func (b neverEnding) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(b)
	}
	return len(p), nil
}

// TestOverHTTP drives Parse the way the server will: behind a handler,
// answering with StatusCode.
func TestOverHTTP(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e, err := Parser{MaxBodyBytes: 64 << 10}.Parse(r, testSecret)
		w.WriteHeader(StatusCode(err))
		if err == nil {
			_ = json.NewEncoder(w).Encode(e.Variables())
		}
	}))
	defer srv.Close()
	send := func(r *http.Request) *http.Response {
		t.Helper()
		req, err := http.NewRequest(http.MethodPost, srv.URL, r.Body)
		if err != nil {
			t.Fatal(err)
		}
		req.Header = r.Header
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	resp := send(delivery(GitLab, "Merge Request Hook", readTestdata(t, "gitlab_merge_request.json"), testSecret))
	var vars map[string]string
	if err := json.NewDecoder(resp.Body).Decode(&vars); err != nil || resp.StatusCode != 200 {
		t.Fatalf("status %d, %v", resp.StatusCode, err)
	}
	resp.Body.Close()
	if vars["CI_MERGE_REQUEST_IID"] != "1" || vars["CI_PIPELINE_SOURCE"] != "merge_request_event" {
		t.Errorf("variables over HTTP: %v", vars)
	}
	for name, tc := range map[string]struct {
		r    *http.Request
		want int
	}{
		"wrong secret": {delivery(GitHub, "push", readTestdata(t, "github_push.json"), []byte("guess")), 401},
		"ping":         {delivery(GitHub, "ping", readTestdata(t, "github_ping.json"), testSecret), 202},
		"bad json":     {delivery(GitHub, "push", []byte("{"), testSecret), 400},
		"too large":    {delivery(GitHub, "push", bytes.Repeat([]byte(" "), 65<<10), testSecret), 413},
	} {
		resp := send(tc.r)
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("%s: status %d, want %d", name, resp.StatusCode, tc.want)
		}
	}
}

func TestCommitTimestampKeepsZone(t *testing.T) {
	e := mustParse(t, delivery(GitHub, "push", readTestdata(t, "github_push.json"), testSecret))
	want := time.Date(2019, 5, 15, 20, 20, 30, 0, time.UTC)
	if !e.Commit.Timestamp.Equal(want) {
		t.Errorf("timestamp %v, want %v", e.Commit.Timestamp, want)
	}
}

func TestParseFromKnownProvider(t *testing.T) {
	body := readTestdata(t, "generic_push.json")
	r := httptest.NewRequest(http.MethodPost, "/hooks/generic", bytes.NewReader(body))
	if _, err := (Parser{}).ParseFrom(Generic, r, testSecret); !errors.Is(err, ErrUnauthorized) {
		t.Errorf("unsigned generic delivery: err = %v, want ErrUnauthorized", err)
	}
	e, err := Parser{}.ParseFrom(Generic, delivery(Generic, "", body, testSecret), testSecret)
	if err != nil || e.Provider != Generic {
		t.Errorf("signed: %+v, %v", e, err)
	}
}

// countingReader counts the bytes read from it.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// TestUnauthenticatedBodyReadUpToOneMiB: an endless unsigned body is read
// no further than 1 MiB (and the byte that tells it is over) before it is
// refused; a provider's own limit applies to that provider only.
func TestUnauthenticatedBodyReadUpToOneMiB(t *testing.T) {
	r := delivery(GitHub, "push", []byte("{}"), testSecret)
	r.ContentLength = -1
	body := &countingReader{r: neverEnding('x')}
	r.Body = io.NopCloser(body)
	_, err := Parser{}.Parse(r, testSecret)
	if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "limit of 1048576 bytes for github webhooks") {
		t.Errorf("err = %v, want ErrTooLarge naming the limit", err)
	}
	if body.n > 1<<20+1 {
		t.Errorf("read %d bytes of an unauthenticated body, want at most 1 MiB + 1", body.n)
	}
	p := Parser{MaxBodyBytesBy: map[Provider]int64{GitLab: 4 << 20}}
	if p.Limit(GitLab) != 4<<20 || p.Limit(GitHub) != 1<<20 {
		t.Errorf("limits: gitlab %d, github %d", p.Limit(GitLab), p.Limit(GitHub))
	}
}
