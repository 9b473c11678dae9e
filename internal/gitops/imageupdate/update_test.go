package imageupdate_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/slipway-cd/slipway/internal/gitops/imagepolicy"
	"github.com/slipway-cd/slipway/internal/gitops/imageupdate"
	"github.com/slipway-cd/slipway/internal/registry/registrytest"
	"github.com/slipway-cd/slipway/internal/testenv"
)

// bareRepo commits files on main in a fresh repository and returns a bare
// clone of it, the kind of repository an update pushes to.
func bareRepo(t *testing.T, files map[string]string) string {
	t.Helper()
	src := testenv.GitRepo(t, files)
	bare := filepath.Join(t.TempDir(), "deploy.git")
	testenv.Git(t, src, "clone", "--quiet", "--bare", src, bare)
	return bare
}

// setup pushes tags to a fresh registry and loads a config whose HOST and
// BARE are the registry and the repository.
func setup(t *testing.T, tags []string, files map[string]string, config string) (host, bare string, cfg *imageupdate.Config) {
	t.Helper()
	_, host = registrytest.Start(t, nil)
	for _, tag := range tags {
		registrytest.Push(t, host+"/team/app:"+tag, registrytest.Image(t, 128))
	}
	for name, content := range files {
		files[name] = strings.ReplaceAll(content, "HOST", host)
	}
	bare = bareRepo(t, files)
	config = strings.NewReplacer("HOST", host, "BARE", bare).Replace(config)
	cfg, err := imageupdate.ParseConfig(filepath.Join(t.TempDir(), "slipway-gitops.yaml"), []byte(config))
	if err != nil {
		t.Fatal(err)
	}
	return host, bare, cfg
}

func scan(t *testing.T, cfg *imageupdate.Config) map[string]imagepolicy.Result {
	t.Helper()
	results, err := imagepolicy.ScanAll(context.Background(), cfg.Policies, nil)
	if err != nil {
		t.Fatal(err)
	}
	return results
}

// show reads a file of a branch of a bare repository.
func show(t *testing.T, bare, branch, file string) string {
	t.Helper()
	return testenv.Git(t, bare, "show", branch+":"+file)
}

const twoPolicies = `
imagePolicies:
  - name: app
    image: HOST/team/app
    policy: {semver: {range: ">=1.0.0 <2.0.0"}}
  - name: main
    image: HOST/team/app
    filterTags: {pattern: '^main-[a-f0-9]+-(?P<ts>[0-9]+)$', extract: '$ts'}
    policy: {numerical: {order: asc}}
imageUpdates:
  - name: staging
    url: BARE
    path: deploy
    author: {name: Image Bot, email: bot@example.com}
    message: |
      chore(images): {{len .Changes}} changes
      {{range .Changes}}
      {{.File}}:{{.Line}} {{.Old}} -> {{.New}}{{end}}
`

func TestUpdateCommitsTheMarkedLinesAndPushes(t *testing.T) {
	app := `# The app. Comments, quotes and indentation stay as they are.
spec:
  containers:
    - name: app
      image: HOST/team/app:1.0.0 # {"$imagepolicy": "app"}
    - name: sidecar
      image: "HOST/team/app:1.0.0"    # {"$imagepolicy": "app"}
    - name: unmarked
      image: HOST/team/app:1.0.0
`
	values := "image:\n  repository: HOST/team/app # {\"$imagepolicy\": \"app:name\"}\n  tag: '1.0.0' # {\"$imagepolicy\": \"app:tag\"}\r\n" +
		"build: main-abc1234-1700000000 # {\"$imagepolicy\": \"main:tag\"}\n"
	readme := "Outside the path: image: HOST/team/app:1.0.0 # {\"$imagepolicy\": \"app\"}\n"
	host, bare, cfg := setup(t,
		[]string{"1.0.0", "1.2.0", "1.9.0", "1.10.0", "2.0.0-rc.1", "main-abc1234-1700000000", "main-def5678-1700000500"},
		// A symbolic link is not followed: it could lead anywhere.
		map[string]string{"deploy/app.yaml": app, "deploy/values.yaml": values, "README.md": readme, "deploy/link.md": "->../README.md"},
		twoPolicies)
	results := scan(t, cfg)
	u := cfg.Updates[0]
	before := testenv.Git(t, bare, "rev-parse", "main")

	// A dry run shows the diff and writes nothing.
	dry, err := u.Run(context.Background(), results, true)
	if err != nil {
		t.Fatal(err)
	}
	if dry.Commit != "" || testenv.Git(t, bare, "rev-parse", "main") != before {
		t.Fatal("the dry run committed")
	}
	wantDiff := "--- a/deploy/app.yaml\n+++ b/deploy/app.yaml\n" +
		"@@ -5 +5 @@\n-      image: HOST/team/app:1.0.0 # {\"$imagepolicy\": \"app\"}\n+      image: HOST/team/app:1.10.0 # {\"$imagepolicy\": \"app\"}\n" +
		"@@ -7 +7 @@\n-      image: \"HOST/team/app:1.0.0\"    # {\"$imagepolicy\": \"app\"}\n+      image: \"HOST/team/app:1.10.0\"    # {\"$imagepolicy\": \"app\"}\n" +
		"--- a/deploy/values.yaml\n+++ b/deploy/values.yaml\n" +
		"@@ -3 +3 @@\n-  tag: '1.0.0' # {\"$imagepolicy\": \"app:tag\"}\r\n+  tag: '1.10.0' # {\"$imagepolicy\": \"app:tag\"}\r\n" +
		"@@ -4 +4 @@\n-build: main-abc1234-1700000000 # {\"$imagepolicy\": \"main:tag\"}\n+build: main-def5678-1700000500 # {\"$imagepolicy\": \"main:tag\"}\n"
	if got := imageupdate.Diff(dry.Edits); got != strings.ReplaceAll(wantDiff, "HOST", host) {
		t.Errorf("dry-run diff:\n%s\nwant\n%s", got, strings.ReplaceAll(wantDiff, "HOST", host))
	}

	out, err := u.Run(context.Background(), results, false)
	if err != nil {
		t.Fatal(err)
	}
	if out.Commit == "" || testenv.Git(t, bare, "rev-parse", "main") != out.Commit {
		t.Fatalf("commit %q is not main of the bare repository", out.Commit)
	}
	wantApp := strings.NewReplacer(`app:1.0.0 # {`, `app:1.10.0 # {`, `app:1.0.0"`, `app:1.10.0"`).Replace(strings.ReplaceAll(app, "HOST", host))
	wantValues := strings.NewReplacer("'1.0.0'", "'1.10.0'", "main-abc1234-1700000000", "main-def5678-1700000500").Replace(strings.ReplaceAll(values, "HOST", host))
	for file, want := range map[string]string{"deploy/app.yaml": wantApp, "deploy/values.yaml": wantValues, "README.md": strings.ReplaceAll(readme, "HOST", host)} {
		if got := show(t, bare, "main", file) + "\n"; got != strings.TrimRight(want, "\n")+"\n" {
			t.Errorf("%s after the update:\n%q\nwant\n%q", file, got, want)
		}
	}
	// git show trims nothing inside: compare the raw bytes too (CRLF kept).
	if raw := testenv.Git(t, bare, "cat-file", "-p", "main:deploy/values.yaml"); !strings.Contains(raw, "'1.10.0' # {\"$imagepolicy\": \"app:tag\"}\r\n") {
		t.Errorf("the CRLF line lost its line ending: %q", raw)
	}
	if got := testenv.Git(t, bare, "log", "-1", "--format=%an <%ae>|%cn <%ce>", "main"); got != "Image Bot <bot@example.com>|Image Bot <bot@example.com>" {
		t.Errorf("author|committer = %s", got)
	}
	wantMsg := strings.ReplaceAll("chore(images): 4 changes\n\n"+
		"deploy/app.yaml:5 HOST/team/app:1.0.0 -> HOST/team/app:1.10.0\n"+
		"deploy/app.yaml:7 HOST/team/app:1.0.0 -> HOST/team/app:1.10.0\n"+
		"deploy/values.yaml:3 1.0.0 -> 1.10.0\n"+
		"deploy/values.yaml:4 main-abc1234-1700000000 -> main-def5678-1700000500", "HOST", host)
	if got := testenv.Git(t, bare, "log", "-1", "--format=%B", "main"); got != wantMsg {
		t.Errorf("message:\n%s\nwant\n%s", got, wantMsg)
	}
	if got := testenv.Git(t, bare, "diff", "--name-only", before, "main"); got != "deploy/app.yaml\ndeploy/values.yaml" {
		t.Errorf("files changed: %q", got)
	}

	// Nothing new in the registry: a second run makes no commit.
	again, err := u.Run(context.Background(), scan(t, cfg), false)
	if err != nil {
		t.Fatal(err)
	}
	if again.Commit != "" || len(again.Edits) != 0 || testenv.Git(t, bare, "rev-parse", "main") != out.Commit {
		t.Errorf("second run: %+v; main moved", again)
	}
}

func TestPinDigestFollowsARepushedTag(t *testing.T) {
	host, bare, cfg := setup(t, []string{"1.0.0"},
		map[string]string{"app.yaml": "image: HOST/team/app:1.0.0 # {\"$imagepolicy\": \"app\"}\ndigest: none # {\"$imagepolicy\": \"app:digest\"}\n"},
		`
imagePolicies:
  - {name: app, image: HOST/team/app, policy: {semver: {range: "^1"}}, pinDigest: true}
imageUpdates:
  - {name: pinned, url: BARE}
`)
	u := cfg.Updates[0]
	first := registrytest.Image(t, 128)
	registrytest.Push(t, host+"/team/app:1.2.0", first)
	d1, _ := first.Digest()
	if _, err := u.Run(context.Background(), scan(t, cfg), false); err != nil {
		t.Fatal(err)
	}
	want := func(d string) string {
		return "image: " + host + "/team/app:1.2.0@" + d + " # {\"$imagepolicy\": \"app\"}\ndigest: " + d + " # {\"$imagepolicy\": \"app:digest\"}"
	}
	if got := show(t, bare, "main", "app.yaml"); got != want(d1.String()) {
		t.Fatalf("pinned:\n%s\nwant\n%s", got, want(d1.String()))
	}

	// The same tag pushed again with other content: the digest follows.
	second := registrytest.Image(t, 128)
	registrytest.Push(t, host+"/team/app:1.2.0", second)
	d2, _ := second.Digest()
	out, err := u.Run(context.Background(), scan(t, cfg), false)
	if err != nil {
		t.Fatal(err)
	}
	if got := show(t, bare, "main", "app.yaml"); out.Commit == "" || got != want(d2.String()) {
		t.Fatalf("after the re-push (commit %q):\n%s\nwant\n%s", out.Commit, got, want(d2.String()))
	}
	if msg := testenv.Git(t, bare, "log", "-1", "--format=%B", "main"); !strings.Contains(msg, d1.String()+" -> "+d2.String()) {
		t.Errorf("the default message does not list the digest change:\n%s", msg)
	}
}

func TestUpdatePushesToItsOwnBranchAndBuildsOnIt(t *testing.T) {
	_, bare, cfg := setup(t, []string{"1.0.0", "1.1.0"},
		map[string]string{"app.yaml": "image: HOST/team/app:1.0.0 # {\"$imagepolicy\": \"app\"}\n"},
		`
imagePolicies:
  - {name: app, image: HOST/team/app, policy: {semver: {range: ">=1.0.0"}}}
imageUpdates:
  - {name: mr, url: BARE, branch: main, pushBranch: images/main}
`)
	main := testenv.Git(t, bare, "rev-parse", "main")
	u := cfg.Updates[0]
	out, err := u.Run(context.Background(), scan(t, cfg), false)
	if err != nil {
		t.Fatal(err)
	}
	if testenv.Git(t, bare, "rev-parse", "main") != main {
		t.Error("main moved; only images/main should")
	}
	if got := testenv.Git(t, bare, "rev-parse", "images/main"); got != out.Commit {
		t.Fatalf("images/main is %s, want the commit %s", got, out.Commit)
	}
	if parent := testenv.Git(t, bare, "rev-parse", "images/main^"); parent != main {
		t.Errorf("the commit's parent is %s, want main %s", parent, main)
	}
	again, err := u.Run(context.Background(), scan(t, cfg), false)
	if err != nil || again.Commit != "" {
		t.Errorf("second run: commit %q, %v; want none", again.Commit, err)
	}
}

func TestUpdateRefusesBadMarkersInTheTree(t *testing.T) {
	_, bare, cfg := setup(t, []string{"1.0.0"},
		map[string]string{"ok.yaml": "image: HOST/team/app:0.1 # {\"$imagepolicy\": \"app\"}\n",
			"k8s/bad.yaml": "a: 1\nimage: HOST/team/app:0.1 # {\"$imagepolicy\": \"other\"}\n"},
		`
imagePolicies:
  - {name: app, image: HOST/team/app, policy: {semver: {range: ">=1.0.0"}}}
imageUpdates:
  - {name: u, url: BARE}
`)
	before := testenv.Git(t, bare, "rev-parse", "main")
	_, err := cfg.Updates[0].Run(context.Background(), scan(t, cfg), false)
	if err == nil || !strings.Contains(err.Error(), `k8s/bad.yaml:2:`) || !strings.Contains(err.Error(), `no image policy named "other"`) {
		t.Fatalf("got %v, want an error at k8s/bad.yaml:2", err)
	}
	if testenv.Git(t, bare, "rev-parse", "main") != before {
		t.Error("a tree with a bad marker was committed")
	}
}

func TestUpdateErrorsHideTheCredentialsOfTheGitURL(t *testing.T) {
	cfg, err := imageupdate.ParseConfig("g.yaml", []byte("imageUpdates:\n  - {name: u, url: 'http://bot:T0ken-S3cret@127.0.0.1:1/deploy.git'}\n"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = cfg.Updates[0].Run(context.Background(), nil, false)
	if err == nil || !strings.Contains(err.Error(), "cloning http://bot:xxxxx@127.0.0.1:1/deploy.git") {
		t.Fatalf("got %v, want a clone error naming the redacted URL", err)
	}
	if strings.Contains(err.Error(), "T0ken-S3cret") {
		t.Errorf("the error shows the token: %v", err)
	}
}

// TestPlanStaysInsideTheRepository: a path going through a symbolic link
// of the repository (clusters -> a folder of the host) is refused: the
// update would read the host's files and rewrite their markers.
func TestPlanStaysInsideTheRepository(t *testing.T) {
	outside := t.TempDir()
	hostFile := filepath.Join(outside, "staging", "app.yaml")
	const content = "image: reg/app:0.1 # {\"$imagepolicy\": \"app\"}\n"
	if err := os.MkdirAll(filepath.Dir(hostFile), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(hostFile, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	if err := os.Symlink(outside, filepath.Join(root, "clusters")); err != nil {
		t.Fatal(err)
	}
	results := map[string]imagepolicy.Result{"app": {Policy: "app", Image: "reg/app", Tag: "1.0.0"}}
	edits, err := imageupdate.Plan(root, "clusters/staging", results)
	if err == nil || !strings.Contains(err.Error(), "clusters/staging") {
		t.Errorf("Plan through a link out of the repository: %d edits, error %v", len(edits), err)
	}
	if len(edits) > 0 {
		imageupdate.Apply(root, edits)
	}
	if b, _ := os.ReadFile(hostFile); string(b) != content {
		t.Errorf("the host's file was rewritten:\n%s", b)
	}
}
