package release

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/slipway-cd/slipway/internal/scm/mirror"
	"github.com/slipway-cd/slipway/internal/testenv"
)

// train is a release whose component repositories live in one folder,
// with a shared folder their pipelines leave files in.
type train struct {
	repos, shared, work string
}

func newTrain(t *testing.T) *train {
	t.Helper()
	tr := &train{repos: t.TempDir(), shared: t.TempDir(), work: t.TempDir()}
	return tr
}

// repo makes the repository of a component with a .gitlab-ci.yml on main
// (the %SHARED% in it is the shared folder) and returns its folder.
func (tr *train) repo(t *testing.T, name, pipeline string) string {
	t.Helper()
	dir := filepath.Join(tr.repos, name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	testenv.Git(t, dir, "init", "-q", "-b", "main")
	tr.commit(t, dir, pipeline)
	return dir
}

// commit commits a new .gitlab-ci.yml on the checked-out branch.
func (tr *train) commit(t *testing.T, dir, pipeline string) string {
	t.Helper()
	pipeline = strings.ReplaceAll(pipeline, "%SHARED%", tr.shared)
	if err := os.WriteFile(filepath.Join(dir, ".gitlab-ci.yml"), []byte(pipeline), 0o644); err != nil {
		t.Fatal(err)
	}
	testenv.Git(t, dir, "add", "-A")
	testenv.Git(t, dir, "commit", "-q", "-m", "pipeline")
	return testenv.Git(t, dir, "rev-parse", "HEAD")
}

func (tr *train) plan(t *testing.T, manifest string) *Plan {
	t.Helper()
	m, err := Parse("release.yml", []byte(manifest))
	if err != nil {
		t.Fatal(err)
	}
	plan, err := Resolve(context.Background(), m, tr.source())
	if err != nil {
		t.Fatal(err)
	}
	return plan
}

func (tr *train) source() Source {
	return Source{Repos: tr.repos, Mirrors: &mirror.Mirrors{Dir: filepath.Join(tr.work, "mirrors")}}
}

func (tr *train) run(t *testing.T, plan *Plan, opts Options) *Report {
	t.Helper()
	var progress bytes.Buffer
	opts.WorkDir, opts.Progress = filepath.Join(tr.work, "runs"), &progress
	report, err := Run(context.Background(), plan, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("progress:\n%s", progress.String())
	return report
}

func (tr *train) read(t *testing.T, name string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(tr.shared, name))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(data))
}

func (tr *train) exists(name string) bool {
	_, err := os.Stat(filepath.Join(tr.shared, name))
	return err == nil
}

// status fails the test unless each named component ended as wanted, and
// shows its log when it did not.
func status(t *testing.T, r *Report, want map[string]Status) {
	t.Helper()
	for name, s := range want {
		c := r.Component(name)
		if c == nil {
			t.Fatalf("no component %s in the report", name)
		}
		if c.Status != s {
			log, _ := os.ReadFile(c.Log)
			t.Errorf("%s: status %s (%s), want %s\nlog:\n%s", name, c.Status, c.Reason, s, log)
		}
	}
}

// writes is a pipeline whose one job writes the release's variables to
// <name> in the shared folder.
func writes(name string) string {
	return `
build:
  script:
    - echo "$RELEASE_NAME $RELEASE_VERSION $COMPONENT_NAME $COMPONENT_VERSION $RELEASE_DRY_RUN $CI_COMMIT_REF_NAME" > %SHARED%/` + name + `
`
}

func TestRunGroupsInOrder(t *testing.T) {
	tr := newTrain(t)
	tr.repo(t, "lib-a", writes("lib-a"))
	tr.repo(t, "lib-b", writes("lib-b"))
	// The app builds from what both libraries left.
	tr.repo(t, "app", `
build:
  script:
    - cat %SHARED%/lib-a %SHARED%/lib-b > %SHARED%/app
`)
	plan := tr.plan(t, `
name: shop
version: 3.0.0
components:
  - {name: app, version: 3.0.0}
  - {name: lib-a, version: 1.2.0}
  - {name: lib-b, version: 2.0.0-SNAPSHOT}
buildDependencies: [[lib-a, lib-b], [app]]
`)
	report := tr.run(t, plan, Options{})
	status(t, report, map[string]Status{"lib-a": Success, "lib-b": Success, "app": Success})
	if report.Status != Success {
		t.Errorf("release status %s", report.Status)
	}
	want := "shop 3.0.0 lib-a 1.2.0 false main\nshop 3.0.0 lib-b 2.0.0-SNAPSHOT false main"
	if got := tr.read(t, "app"); got != want {
		t.Errorf("app saw %q, want %q", got, want)
	}
	app := report.Component("app")
	for _, lib := range []string{"lib-a", "lib-b"} {
		if c := report.Component(lib); !app.StartedAt.After(c.FinishedAt) || c.Group != 1 {
			t.Errorf("app (group %d) started at %v, %s (group %d) ended at %v", app.Group, app.StartedAt, lib, c.Group, c.FinishedAt)
		}
	}
	if app.PipelineReport == "" || app.Commit == "" || app.Ref != "main" || app.RefKind != RefDefault {
		t.Errorf("app report = %+v", app)
	}
	if data, err := os.ReadFile(app.PipelineReport); err != nil || !strings.Contains(string(data), `"status": "success"`) {
		t.Errorf("pipeline report %s: %v\n%s", app.PipelineReport, err, data)
	}
}

func TestRunComponentsOfAGroupSideBySide(t *testing.T) {
	tr := newTrain(t)
	// Each waits for the other to have started: run one after the other,
	// the first would give up.
	waitsFor := func(me, other string) string {
		return `
build:
  script:
    - touch %SHARED%/` + me + `.started
    - for i in $(seq 600); do test -e %SHARED%/` + other + `.started && exit 0; sleep 0.1; done; exit 1
`
	}
	tr.repo(t, "a", waitsFor("a", "b"))
	tr.repo(t, "b", waitsFor("b", "a"))
	plan := tr.plan(t, "name: r\nversion: 1.0.0\ncomponents: [{name: a, version: 1.0.0}, {name: b, version: 1.0.0}]\nbuildDependencies: [[a, b]]\n")
	report := tr.run(t, plan, Options{})
	status(t, report, map[string]Status{"a": Success, "b": Success})
}

func TestRunParallelBoundsAGroup(t *testing.T) {
	tr := newTrain(t)
	// Each fails when another one runs at the same time.
	alone := func(me string) string {
		return `
build:
  script:
    - if ls %SHARED%/*.running 2>/dev/null; then exit 1; fi
    - touch %SHARED%/` + me + `.running
    - sleep 1
    - if ls %SHARED%/*.running | grep -v ` + me + `.running; then exit 1; fi
    - rm %SHARED%/` + me + `.running
`
	}
	for _, name := range []string{"a", "b", "c"} {
		tr.repo(t, name, alone(name))
	}
	plan := tr.plan(t, "name: r\nversion: 1.0.0\ncomponents: [{name: a, version: 1.0.0}, {name: b, version: 1.0.0}, {name: c, version: 1.0.0}]\nbuildDependencies: [[a, b, c]]\n")
	report := tr.run(t, plan, Options{Parallel: 1})
	status(t, report, map[string]Status{"a": Success, "b": Success, "c": Success})
}

func TestRunFailureStopsLaterGroups(t *testing.T) {
	tr := newTrain(t)
	tr.repo(t, "broken", "build:\n  script:\n    - echo compiling\n    - exit 3\n")
	tr.repo(t, "fine", writes("fine"))
	tr.repo(t, "later", writes("later"))
	tr.repo(t, "last", writes("last"))
	plan := tr.plan(t, `
name: r
version: 1.0.0
components:
  - {name: broken, version: 1.0.0}
  - {name: fine, version: 1.0.0}
  - {name: later, version: 1.0.0}
  - {name: last, version: 1.0.0}
buildDependencies: [[broken, fine], [later], [last]]
`)
	// One at a time, broken first: fine still runs after it failed.
	report := tr.run(t, plan, Options{Parallel: 1})
	status(t, report, map[string]Status{"broken": Failed, "fine": Success, "later": NotStarted, "last": NotStarted})
	if report.Status != Failed {
		t.Errorf("release status %s, want failed", report.Status)
	}
	if r := report.Component("broken").Reason; !strings.Contains(r, "build failed") {
		t.Errorf("broken: reason %q does not name the failed job", r)
	}
	for _, name := range []string{"later", "last"} {
		c := report.Component(name)
		if c.Reason != "group 1 failed (broken)" || !c.StartedAt.IsZero() || tr.exists(name) {
			t.Errorf("%s: %+v", name, c)
		}
	}
	if log, err := os.ReadFile(report.Component("broken").Log); err != nil || !strings.Contains(string(log), "compiling") {
		t.Errorf("broken's log: %v\n%s", err, log)
	}
}

// publishing writes what the component built, and publishes it only in a
// real run.
const publishing = `
build:
  script:
    - echo "$RELEASE_DRY_RUN" > %SHARED%/built
publish:
  needs: [build]
  rules:
    - if: $RELEASE_DRY_RUN == "false"
  script:
    - touch %SHARED%/published
`

func TestDryRunTagsNothing(t *testing.T) {
	tr := newTrain(t)
	dir := tr.repo(t, "lib", publishing)
	plan := tr.plan(t, "name: r\nversion: 1.0.0\ncomponents: [{name: lib, version: 1.4.0}]\nbuildDependencies: [[lib]]\n")
	report := tr.run(t, plan, Options{DryRun: true})
	status(t, report, map[string]Status{"lib": Success})
	if !report.DryRun || tr.read(t, "built") != "true" || tr.exists("published") {
		t.Errorf("dry run: report dry_run=%v, built=%q, published=%v", report.DryRun, tr.read(t, "built"), tr.exists("published"))
	}
	if tags := testenv.Git(t, dir, "tag", "--list"); tags != "" || report.Component("lib").Tag != "" {
		t.Errorf("a dry run tagged: %q", tags)
	}
}

func TestRealRunTagsEachRepository(t *testing.T) {
	// The tagger, also on a machine without a git identity.
	t.Setenv("GIT_COMMITTER_NAME", "Release Manager")
	t.Setenv("GIT_COMMITTER_EMAIL", "release@example.com")
	tr := newTrain(t)
	dir := tr.repo(t, "lib", publishing)
	head := testenv.Git(t, dir, "rev-parse", "HEAD")
	plan := tr.plan(t, "name: Shop\nversion: 2.0.0\ncomponents: [{name: lib, version: 1.4.0}]\nbuildDependencies: [[lib]]\n")
	report := tr.run(t, plan, Options{})
	status(t, report, map[string]Status{"lib": Success})
	if tr.read(t, "built") != "false" || !tr.exists("published") {
		t.Errorf("real run: built=%q, published=%v", tr.read(t, "built"), tr.exists("published"))
	}
	if kind := testenv.Git(t, dir, "cat-file", "-t", "refs/tags/1.4.0"); kind != "tag" {
		t.Errorf("refs/tags/1.4.0 is a %s, want an annotated tag", kind)
	}
	if got := testenv.Git(t, dir, "rev-parse", "1.4.0^{commit}"); got != head {
		t.Errorf("tag 1.4.0 is on %s, want %s", got, head)
	}
	if msg := testenv.Git(t, dir, "tag", "-l", "--format=%(taggername) %(contents:subject)", "1.4.0"); msg != "Release Manager Shop 2.0.0: lib 1.4.0" {
		t.Errorf("tagger and message: %q", msg)
	}
	if report.Component("lib").Tag != "1.4.0" {
		t.Errorf("report: %+v", report.Component("lib"))
	}

	// Again on the same commit: the tag is there already, which is fine.
	report = tr.run(t, tr.plan(t, "name: Shop\nversion: 2.0.0\ncomponents: [{name: lib, version: 1.4.0}]\nbuildDependencies: [[lib]]\n"), Options{})
	status(t, report, map[string]Status{"lib": Success})

	// A new commit with the same version would move the tag: refused
	// before anything runs.
	tr.commit(t, dir, "build:\n  script: [touch %SHARED%/moved]\n")
	plan = tr.plan(t, "name: Shop\nversion: 2.0.0\ncomponents: [{name: lib, version: 1.4.0}]\nbuildDependencies: [[lib]]\n")
	_, err := Run(context.Background(), plan, Options{WorkDir: tr.work})
	if err == nil || !strings.Contains(err.Error(), "tag 1.4.0 already exists") {
		t.Errorf("moving a tag: err = %v", err)
	}
	if tr.exists("moved") {
		t.Error("a pipeline ran although the release was refused")
	}
}

func TestPullRequestBranchIsBuilt(t *testing.T) {
	tr := newTrain(t)
	dir := tr.repo(t, "lib", "build:\n  script: [echo main > %SHARED%/lib]\n")
	testenv.Git(t, dir, "checkout", "-q", "-b", "4.1.x")
	maintenance := tr.commit(t, dir, "build:\n  script: [echo 4.1.x > %SHARED%/lib]\n")
	testenv.Git(t, dir, "checkout", "-q", "-b", "pr-1589-spikearrest")
	pr := tr.commit(t, dir, writes("lib"))
	testenv.Git(t, dir, "checkout", "-q", "main")

	plan := tr.plan(t, "name: r\nversion: 1.0.0\ncomponents: [{name: lib, version: 4.1.32-SNAPSHOT, pull-request: pr-1589-spikearrest}]\nbuildDependencies: [[lib]]\n")
	lib := plan.Groups[0][0]
	if lib.Ref != "pr-1589-spikearrest" || lib.RefKind != RefPullRequest || lib.Commit != pr {
		t.Errorf("pull request: ref %s (%s) at %s, want %s", lib.Ref, lib.RefKind, lib.Commit, pr)
	}
	report := tr.run(t, plan, Options{DryRun: true})
	status(t, report, map[string]Status{"lib": Success})
	if got := tr.read(t, "lib"); got != "r 1.0.0 lib 4.1.32-SNAPSHOT true pr-1589-spikearrest" {
		t.Errorf("the pipeline saw %q", got)
	}

	// Without the pull request: the maintenance branch of the version.
	plan = tr.plan(t, "name: r\nversion: 1.0.0\ncomponents: [{name: lib, version: 4.1.32-SNAPSHOT}]\nbuildDependencies: [[lib]]\n")
	if lib := plan.Groups[0][0]; lib.Ref != "4.1.x" || lib.RefKind != RefMaintenance || lib.Commit != maintenance {
		t.Errorf("maintenance: ref %s (%s) at %s, want 4.1.x at %s", lib.Ref, lib.RefKind, lib.Commit, maintenance)
	}
	// A version without its maintenance branch: the default branch.
	plan = tr.plan(t, "name: r\nversion: 1.0.0\ncomponents: [{name: lib, version: 5.0.0}]\nbuildDependencies: [[lib]]\n")
	if lib := plan.Groups[0][0]; lib.Ref != "main" || lib.RefKind != RefDefault {
		t.Errorf("default: ref %s (%s)", lib.Ref, lib.RefKind)
	}
	// A repository whose default branch is neither main nor master.
	other := tr.repo(t, "other", writes("other"))
	testenv.Git(t, other, "branch", "-m", "main", "develop")
	plan = tr.plan(t, "name: r\nversion: 1.0.0\ncomponents: [{name: other, version: 5.0.0}]\nbuildDependencies: [[other]]\n")
	if lib := plan.Groups[0][0]; lib.Ref != "develop" || lib.RefKind != RefDefault {
		t.Errorf("default develop: ref %s (%s)", lib.Ref, lib.RefKind)
	}
	// A pull request branch that does not exist is an error, not a
	// fallback.
	m, _ := Parse("release.yml", []byte("name: r\nversion: 1.0.0\ncomponents: [{name: lib, version: 4.1.0, pull-request: pr-gone}]\nbuildDependencies: [[lib]]\n"))
	if _, err := Resolve(context.Background(), m, tr.source()); err == nil || !strings.Contains(err.Error(), `component lib: `) || !strings.Contains(err.Error(), `pull-request branch "pr-gone" not found`) {
		t.Errorf("missing pull request branch: err = %v", err)
	}
}

func TestRunReportsBrokenAndBlockedPipelines(t *testing.T) {
	tr := newTrain(t)
	tr.repo(t, "lib", "build:\n  script: echo\n  when: sometimes\n")
	tr.repo(t, "docs", "build:\n  rules:\n    - if: $RELEASE_DRY_RUN == \"false\"\n  script: [exit 1]\n")
	tr.repo(t, "gated", "approve:\n  stage: build\n  when: manual\n  allow_failure: false\n  script: [true]\nship:\n  stage: deploy\n  script: [true]\n")
	plan := tr.plan(t, "name: r\nversion: 1.0.0\ncomponents: [{name: lib, version: 1.0.0}, {name: docs, version: 1.0.0}, {name: gated, version: 1.0.0}]\nbuildDependencies: [[docs], [lib, gated]]\n")
	report := tr.run(t, plan, Options{DryRun: true})
	// No job for a dry run: docs is skipped, which does not stop the train.
	status(t, report, map[string]Status{"docs": Skipped, "lib": Failed, "gated": Failed})
	if r := report.Component("lib").Reason; !strings.Contains(r, ".gitlab-ci.yml:3:") {
		t.Errorf("lib: reason %q has no position", r)
	}
	if r := report.Component("gated").Reason; r != "pipeline blocked by a manual job" {
		t.Errorf("gated: reason %q", r)
	}
}

func TestCancelStopsTheRelease(t *testing.T) {
	tr := newTrain(t)
	tr.repo(t, "slow", "build:\n  script:\n    - touch %SHARED%/slow.started\n    - sleep 600\n")
	tr.repo(t, "next", writes("next"))
	plan := tr.plan(t, "name: r\nversion: 1.0.0\ncomponents: [{name: slow, version: 1.0.0}, {name: next, version: 1.0.0}]\nbuildDependencies: [[slow], [next]]\n")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		deadline := time.Now().Add(2 * time.Minute)
		for !tr.exists("slow.started") && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		cancel()
	}()
	report, err := Run(ctx, plan, Options{WorkDir: tr.work})
	if err != nil {
		t.Fatal(err)
	}
	status(t, report, map[string]Status{"slow": Canceled, "next": NotStarted})
	if report.Status != Canceled || report.Component("next").Reason != "the release was canceled" {
		t.Errorf("report = %+v", report)
	}
}

func TestRefusedTagStopsLaterGroups(t *testing.T) {
	t.Setenv("GIT_COMMITTER_NAME", "Release Manager")
	t.Setenv("GIT_COMMITTER_EMAIL", "release@example.com")
	tr := newTrain(t)
	dir := tr.repo(t, "lib", writes("lib"))
	hook := filepath.Join(dir, ".git", "hooks", "pre-receive")
	if err := os.WriteFile(hook, []byte("#!/bin/sh\necho 'tags are frozen' >&2\nexit 1\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	tr.repo(t, "app", writes("app"))
	plan := tr.plan(t, "name: r\nversion: 1.0.0\ncomponents: [{name: lib, version: 1.0.0}, {name: app, version: 1.0.0}]\nbuildDependencies: [[lib], [app]]\n")
	report := tr.run(t, plan, Options{})
	status(t, report, map[string]Status{"lib": Failed, "app": NotStarted})
	if r := report.Component("lib").Reason; !strings.Contains(r, "tagging: git push") || !strings.Contains(r, "tags are frozen") {
		t.Errorf("lib: reason %q", r)
	}
	if tr.exists("app") {
		t.Error("app ran after lib's tag was refused")
	}
}

// A release canceled between two groups, or before it starts, did not
// succeed: its report says canceled, and the CLI exits non-zero.
func TestCancelBeforeAGroupIsNotSuccess(t *testing.T) {
	tr := newTrain(t)
	tr.repo(t, "lib", writes("lib"))
	plan := tr.plan(t, "name: r\nversion: 1.0.0\ncomponents: [{name: lib, version: 1.0.0}]\nbuildDependencies: [[lib]]\n")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	report, err := Run(ctx, plan, Options{DryRun: true, WorkDir: tr.work})
	if err != nil {
		t.Fatal(err)
	}
	status(t, report, map[string]Status{"lib": NotStarted})
	if report.Status != Canceled {
		t.Errorf("release canceled before its first group: status %s, want %s", report.Status, Canceled)
	}
	if tr.exists("lib") {
		t.Error("lib ran after the cancel")
	}
}

// Two components whose names have the same slug run side by side in
// folders of their own, each with its own log.
func TestComponentsWithTheSameSlugKeepTheirFolders(t *testing.T) {
	tr := newTrain(t)
	pipeline := "build:\n  script:\n    - echo \"component=$COMPONENT_NAME\"\n    - sleep 1\n    - test ! -e mine\n    - echo \"$COMPONENT_NAME\" > mine\n"
	tr.repo(t, "lib.core", pipeline)
	tr.repo(t, "lib-core", pipeline)
	plan := tr.plan(t, "name: r\nversion: 1.0.0\ncomponents: [{name: lib.core, version: 1.0.0}, {name: lib-core, version: 1.0.0}]\nbuildDependencies: [[lib.core, lib-core]]\n")
	report := tr.run(t, plan, Options{DryRun: true})
	status(t, report, map[string]Status{"lib.core": Success, "lib-core": Success})
	a, b := report.Component("lib.core"), report.Component("lib-core")
	if a.Log == b.Log || a.PipelineReport == b.PipelineReport {
		t.Fatalf("lib.core and lib-core share their log %s or report %s", a.Log, a.PipelineReport)
	}
	for _, c := range []*ComponentReport{a, b} {
		log, err := os.ReadFile(c.Log)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(log), "component="+c.Name+"\n") {
			t.Errorf("log of %s:\n%s", c.Name, log)
		}
	}
}

// A nightly builds a new commit under the same snapshot version every
// night: each real run succeeds, and the pre-release version is tagged only
// when a moving tag is asked for, on the commit the last run built.
func TestNightlyRunsNightAfterNight(t *testing.T) {
	t.Setenv("GIT_COMMITTER_NAME", "Release Manager")
	t.Setenv("GIT_COMMITTER_EMAIL", "release@example.com")
	const manifest = "name: Cockpit\nversion: 3.0.0-nightly\ncomponents: [{name: lib, version: 3.0.0-SNAPSHOT}, {name: ui, version: 3.0.0-nightly}]\nbuildDependencies: [[lib, ui]]\n"
	for _, move := range []bool{false, true} {
		t.Run(fmt.Sprintf("move=%v", move), func(t *testing.T) {
			tr := newTrain(t)
			lib := tr.repo(t, "lib", writes("lib"))
			ui := tr.repo(t, "ui", writes("ui"))
			opts := Options{Tags: Tags{MovePrerelease: move}}
			for night := 1; night <= 2; night++ {
				if night == 2 {
					tr.commit(t, lib, writes("lib")+"# night 2\n")
					tr.commit(t, ui, writes("ui")+"# night 2\n")
				}
				plan := tr.plan(t, manifest)
				if err := CheckTags(plan, opts.Tags); err != nil {
					t.Fatalf("night %d: plan refused: %v", night, err)
				}
				report := tr.run(t, plan, opts)
				status(t, report, map[string]Status{"lib": Success, "ui": Success})
				for name, dir := range map[string]string{"lib": lib, "ui": ui} {
					c := report.Component(name)
					head := testenv.Git(t, dir, "rev-parse", "HEAD")
					if c.Commit != head {
						t.Errorf("night %d: %s report commit %s, want the built head %s", night, name, c.Commit, head)
					}
					tags := testenv.Git(t, dir, "tag", "--list")
					switch {
					case !move && (tags != "" || c.Tag != ""):
						t.Errorf("night %d: %s: pre-release tagged %q (report %q)", night, name, tags, c.Tag)
					case move && (testenv.Git(t, dir, "rev-parse", c.Version+"^{commit}") != head || c.Tag != c.Version || !c.TagMoved):
						t.Errorf("night %d: %s: moving tag not on %s: report %+v", night, name, head, c)
					}
				}
			}
		})
	}
}

// An explicit pattern of release versions: a matching pre-release is
// tagged for good and refused on another commit; others are not tagged.
func TestReleaseVersionsPattern(t *testing.T) {
	t.Setenv("GIT_COMMITTER_NAME", "Release Manager")
	t.Setenv("GIT_COMMITTER_EMAIL", "release@example.com")
	tr := newTrain(t)
	dir := tr.repo(t, "lib", writes("lib"))
	const manifest = "name: r\nversion: 2.0.0-rc.1\ncomponents: [{name: lib, version: 2.0.0-rc.1}]\nbuildDependencies: [[lib]]\n"
	tags := Tags{Release: regexp.MustCompile(`-rc\.[0-9]+$`)}
	report := tr.run(t, tr.plan(t, manifest), Options{Tags: tags})
	status(t, report, map[string]Status{"lib": Success})
	if got := testenv.Git(t, dir, "tag", "--list"); got != "2.0.0-rc.1" {
		t.Errorf("tags = %q, want 2.0.0-rc.1", got)
	}
	tr.commit(t, dir, writes("lib")+"# later\n")
	err := CheckTags(tr.plan(t, manifest), tags)
	if err == nil || !strings.Contains(err.Error(), "tag 2.0.0-rc.1 already exists") {
		t.Errorf("a release version's tag on another commit: err = %v", err)
	}
}
