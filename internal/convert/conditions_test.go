package convert

import (
	"fmt"
	"strings"
	"testing"

	"github.com/slipway-cd/slipway/internal/ci/expr"
	"github.com/slipway-cd/slipway/internal/convert/jenkinstest"
	"github.com/slipway-cd/slipway/internal/slug"
)

// TestExpressionsEvaluateAsGitLabs evaluates each translated expression
// with groovy for several refs and compares with internal/ci's evaluation
// of the GitLab expression.
func TestExpressionsEvaluateAsGitLabs(t *testing.T) {
	exprs := []string{
		`$CI_COMMIT_BRANCH == "main"`,
		`"main" != $CI_COMMIT_BRANCH`,
		`$CI_COMMIT_REF_NAME =~ /^release-\d+$/`,
		`$CI_COMMIT_REF_NAME !~ /^FEATURE\//i`,
		`$CI_COMMIT_TAG`,
		`$MODE == "fast" && $CI_COMMIT_BRANCH`,
		`($MODE == "slow" || $CI_COMMIT_TAG) && $CI_COMMIT_REF_NAME =~ /v\d/`,
		`$MODE == null || $MODE == ""`,
		`$MODE != null`,
		`$UNDEFINED =~ /^$/`,
		`$MODE`,
		`${MODE} =~ /a\/b/ || $CI_MERGE_REQUEST_IID`,
		`$MODE == "it's \ fine"`,
		`$CI_COMMIT_BRANCH`,
		`$CI_COMMIT_REF_NAME == "mr"`,
		`$CI_COMMIT_REF_SLUG == "feature-x"`,
		`$CI_COMMIT_REF_SLUG =~ /^v1-2$/`,
		`$CI_MERGE_REQUEST_TARGET_BRANCH_NAME == "main"`,
		`$CI_MERGE_REQUEST_SOURCE_BRANCH_NAME == "mr"`,
		`$CI_PIPELINE_SOURCE == "merge_request_event"`,
		`"merge_request_event" != $CI_PIPELINE_SOURCE && $CI_COMMIT_BRANCH`,
		`$CI_MERGE_REQUEST_IID && "merge_request_event" == $CI_PIPELINE_SOURCE`,
	}
	type ref struct {
		gitlab  map[string]string
		jenkins map[string]string
	}
	refs := []ref{
		{map[string]string{"CI_COMMIT_BRANCH": "main", "CI_COMMIT_REF_NAME": "main", "MODE": "fast"},
			map[string]string{"BRANCH_NAME": "main", "MODE": "fast"}},
		{map[string]string{"CI_COMMIT_BRANCH": "feature/x", "CI_COMMIT_REF_NAME": "feature/x", "MODE": "slow"},
			map[string]string{"BRANCH_NAME": "feature/x", "MODE": "slow"}},
		{map[string]string{"CI_COMMIT_TAG": "v1.2", "CI_COMMIT_REF_NAME": "v1.2", "MODE": "a/b"},
			map[string]string{"BRANCH_NAME": "v1.2", "TAG_NAME": "v1.2", "MODE": "a/b"}},
		{map[string]string{"CI_COMMIT_BRANCH": "release-3", "CI_COMMIT_REF_NAME": "release-3", "MODE": "  "},
			map[string]string{"BRANCH_NAME": "release-3", "MODE": "  "}},
		{map[string]string{"CI_COMMIT_REF_NAME": "mr", "CI_MERGE_REQUEST_IID": "7", "MODE": `it's \ fine`,
			"CI_MERGE_REQUEST_TARGET_BRANCH_NAME": "main", "CI_MERGE_REQUEST_SOURCE_BRANCH_NAME": "mr"},
			// A multibranch pipeline names a change request's build PR-7.
			map[string]string{"BRANCH_NAME": "PR-7", "CHANGE_ID": "7", "CHANGE_BRANCH": "mr", "CHANGE_TARGET": "main", "MODE": `it's \ fine`}},
		{map[string]string{"CI_COMMIT_BRANCH": "FEATURE/y", "CI_COMMIT_REF_NAME": "FEATURE/y"},
			map[string]string{"BRANCH_NAME": "FEATURE/y"}},
	}
	var script strings.Builder
	var want []string
	for _, r := range refs {
		r.gitlab["CI_COMMIT_REF_SLUG"] = slug.Ref(r.gitlab["CI_COMMIT_REF_NAME"])
		r.gitlab["CI_PIPELINE_SOURCE"] = "push"
		if r.gitlab["CI_MERGE_REQUEST_IID"] != "" {
			r.gitlab["CI_PIPELINE_SOURCE"] = "merge_request_event"
		}
		fmt.Fprintf(&script, "env = [:]\n")
		for k, v := range r.jenkins {
			fmt.Fprintf(&script, "env[%s] = %s\n", quote(k), quote(v))
		}
		for _, e := range exprs {
			g, err := groovyExpr(e)
			if err != nil {
				t.Fatalf("%s: %v", e, err)
			}
			fmt.Fprintf(&script, "println((%s) as boolean)\n", g)
			ok, err := expr.MustParse(e).Eval(func(name string) (string, bool) { v, ok := r.gitlab[name]; return v, ok })
			if err != nil {
				t.Fatal(err)
			}
			want = append(want, fmt.Sprint(ok))
		}
	}
	got := strings.Fields(jenkinstest.Groovy(t, script.String()))
	if len(got) != len(want) {
		t.Fatalf("groovy printed %d results, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			e, r := exprs[i%len(exprs)], refs[i/len(exprs)]
			g, _ := groovyExpr(e)
			t.Errorf("%s with %v: GitLab says %s, its translation %s says %s", e, r.gitlab, want[i], g, got[i])
		}
	}
}

func TestExpressionsWithoutFaithfulTranslation(t *testing.T) {
	for _, e := range []string{
		`$CI_PIPELINE_SOURCE == "push"`,
		`$CI_PIPELINE_SOURCE =~ /merge/`,
		`$CI_PIPELINE_SOURCE`,
		`$CI_COMMIT_BRANCH == $CI_DEFAULT_BRANCH`,
		`$CI_COMMIT_REF_NAME =~ $PATTERN`,
		`$CI_COMMIT_REF_NAME =~ /x/U`,
	} {
		if g, err := groovyExpr(e); err == nil {
			t.Errorf("%s translated to %s; want an error", e, g)
		}
	}
}
