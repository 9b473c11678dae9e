package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/moby/moby/client"
	"github.com/spf13/cobra"

	"github.com/slipway-cd/slipway/internal/image/build"
	"github.com/slipway-cd/slipway/internal/image/lint"
	"github.com/slipway-cd/slipway/internal/image/tag"
	"github.com/slipway-cd/slipway/internal/scm/gitinfo"
)

// imageBuildFlags are the flags of `slipway image build`.
type imageBuildFlags struct {
	file, contextDir, image, target, versionFile string
	tags, buildArgs, labels                      []string
	push, lint, jsonOut, noCache, passwordStdin  bool
	user, lintConfig, lintThreshold, resultFile  string
	source                                       string
}

func init() {
	var f imageBuildFlags
	cmd := &cobra.Command{
		Use:   "build [CONTEXT]",
		Short: "Build an image from a Dockerfile, tag it from templates, push it",
		Long: `Build an image through the Docker engine (DOCKER_HOST), tag it with tags
rendered from templates, optionally lint the Dockerfile first and push.

Tag templates (--tag, repeatable) are a tag ("{version}-nightly", put after
--image) or a full reference ("registry/app:{short_sha}"). Placeholders:
{version} {major} {minor} {patch} (from --version-file), {branch}
{branch_slug} {sha} {short_sha} {pipeline_id} {unix_ts} {timestamp}.
Branch, commit and pipeline come from the job's CI_COMMIT_REF_NAME,
CI_COMMIT_SHA and CI_PIPELINE_ID, else from git.

Registry credentials: --registry-user with --registry-password-stdin, else
SLIPWAY_REGISTRY_USER and SLIPWAY_REGISTRY_PASSWORD, else CI_REGISTRY_USER
and CI_REGISTRY_PASSWORD. They are never printed.

The build output goes to stderr; the result (image, tags, digest, pushed
refs by digest) to stdout, as JSON with --json, and to --result FILE.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				if cmd.Flags().Changed("context") {
					return errors.New("give the context as an argument or as --context, not both")
				}
				f.contextDir = args[0]
			}
			return runImageBuild(cmd, f)
		},
	}
	fl := cmd.Flags()
	fl.StringVarP(&f.file, "file", "f", "", "Dockerfile (default: CONTEXT/Dockerfile); may live outside the context")
	fl.StringVar(&f.contextDir, "context", ".", "build context folder")
	fl.StringVar(&f.image, "image", os.Getenv("CI_REGISTRY_IMAGE"), "image repository the tags go to (default $CI_REGISTRY_IMAGE)")
	fl.StringArrayVarP(&f.tags, "tag", "t", nil, "tag template or REPO:TEMPLATE (repeatable; default latest)")
	fl.StringArrayVar(&f.buildArgs, "build-arg", nil, "build argument K=V, or K to take it from the environment (repeatable)")
	fl.StringVar(&f.target, "target", "", "stage of a multi-stage Dockerfile to build")
	fl.StringArrayVar(&f.labels, "label", nil, "extra image label K=V (repeatable)")
	fl.StringVar(&f.versionFile, "version-file", "", "file holding the version: pom.xml, package.json, VERSION, Chart.yaml, Cargo.toml, pyproject.toml")
	fl.StringVar(&f.source, "source", "", "repository URL for org.opencontainers.image.source (default $CI_PROJECT_URL, else git's origin)")
	fl.BoolVar(&f.noCache, "no-cache", false, "do not use the engine's build cache")
	fl.BoolVar(&f.push, "push", false, "push every tag after the build")
	fl.StringVar(&f.user, "registry-user", "", "registry user for the push")
	fl.BoolVar(&f.passwordStdin, "registry-password-stdin", false, "read the registry password from stdin")
	fl.BoolVar(&f.lint, "lint", false, "lint the Dockerfile first; findings at the threshold stop the build")
	fl.StringVar(&f.lintConfig, "lint-config", "", "hadolint configuration (default: .hadolint.yaml in the current folder)")
	fl.StringVar(&f.lintThreshold, "lint-threshold", "", "least lint severity that stops the build: error, warning, info, style, none")
	fl.BoolVar(&f.jsonOut, "json", false, "print the result as JSON")
	fl.StringVar(&f.resultFile, "result", "", "also write the result as JSON to this file")
	imageCmd.AddCommand(cmd)
}

func runImageBuild(cmd *cobra.Command, f imageBuildFlags) error {
	vars, err := tagVars(f.contextDir, f.versionFile)
	if err != nil {
		return err
	}
	refs, err := tag.Refs(f.image, f.tags, vars)
	if err != nil {
		return err
	}
	buildArgs, err := keyValues("--build-arg", f.buildArgs, true)
	if err != nil {
		return err
	}
	extra, err := keyValues("--label", f.labels, false)
	if err != nil {
		return err
	}
	prov := build.Provenance{Revision: vars.SHA, Source: f.source, Created: vars.Time}
	if prov.Source == "" {
		prov.Source = projectURL(f.contextDir)
	}
	if vars.Version != nil {
		prov.Version = vars.Version.Tag()
	}
	labels := prov.Labels()
	for k, v := range extra {
		labels[k] = v
	}
	opts := build.Options{
		ContextDir: f.contextDir,
		Dockerfile: f.file,
		Refs:       refs,
		BuildArgs:  buildArgs,
		Target:     f.target,
		Labels:     labels,
		NoCache:    f.noCache,
		Push:       f.push,
		Output:     cmd.ErrOrStderr(),
	}
	if f.lint {
		cfg, err := loadLintConfig(f.lintConfig)
		if err != nil {
			return err
		}
		if f.lintThreshold != "" {
			if cfg.FailureThreshold, err = lint.ParseSeverity(f.lintThreshold); err != nil {
				return fmt.Errorf("--lint-threshold: %w", err)
			}
		}
		opts.Lint = &cfg
	}
	if f.push {
		if opts.Credentials, err = registryCredentials(f, cmd.InOrStdin(), refs); err != nil {
			return err
		}
	}

	cli, err := client.New(client.FromEnv)
	if err != nil {
		return fmt.Errorf("docker client: %w", err)
	}
	defer cli.Close()
	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	opts.Ready = func(ctx context.Context) error {
		if _, err := cli.Ping(ctx, client.PingOptions{NegotiateAPIVersion: true}); err != nil {
			return fmt.Errorf("docker engine at %s: %w", cli.DaemonHost(), err)
		}
		return nil
	}
	res, buildErr := build.Build(ctx, cli, opts)
	if buildErr != nil {
		return buildErr
	}
	if f.resultFile != "" {
		if err := writeJSONFile(f.resultFile, res); err != nil {
			return err
		}
	}
	out := cmd.OutOrStdout()
	if f.jsonOut {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return enc.Encode(res)
	}
	fmt.Fprintf(out, "built %s\n", res.ID)
	for _, t := range res.Tags {
		fmt.Fprintf(out, "tagged %s\n", t)
	}
	for _, p := range res.Pushed {
		fmt.Fprintf(out, "pushed %s\n", p)
	}
	return nil
}

// tagVars gathers what tag templates may use: the job's CI_* variables,
// else git in the context folder; the version file; the build time (now,
// or SOURCE_DATE_EPOCH for reproducible builds).
func tagVars(contextDir, versionFile string) (tag.Vars, error) {
	now := time.Now()
	if s := os.Getenv("SOURCE_DATE_EPOCH"); s != "" {
		sec, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return tag.Vars{}, fmt.Errorf("SOURCE_DATE_EPOCH %q: want seconds since 1970: %w", s, err)
		}
		now = time.Unix(sec, 0)
	}
	v := tag.FromCI(tag.Vars{Time: now}, os.Getenv)
	// Outside a job, the build context's repository says (missing values
	// are reported by the placeholders that need them).
	if repo, err := gitinfo.Open(contextDir); err == nil {
		if v.SHA == "" {
			v.SHA, _ = repo.Resolve("HEAD")
		}
		if v.Ref == "" {
			v.Ref = repo.Head // empty when detached
		}
	}
	if versionFile != "" {
		var err error
		if v.Version, err = tag.ReadVersion(versionFile); err != nil {
			return v, err
		}
	}
	return v, nil
}

// projectURL is $CI_PROJECT_URL, else the URL of git's origin remote.
func projectURL(dir string) string {
	if u := os.Getenv("CI_PROJECT_URL"); u != "" {
		return u
	}
	if repo, err := gitinfo.Open(dir); err == nil {
		return repo.OriginURL()
	}
	return ""
}

// keyValues parses K=V flags; with fromEnv, a bare K takes its value from
// the environment (as docker build does) and is left out when unset.
func keyValues(flag string, kvs []string, fromEnv bool) (map[string]string, error) {
	m := map[string]string{}
	for _, kv := range kvs {
		k, v, ok := strings.Cut(kv, "=")
		if k == "" {
			return nil, fmt.Errorf("%s %q: want KEY=VALUE", flag, kv)
		}
		if !ok {
			if !fromEnv {
				return nil, fmt.Errorf("%s %q: want KEY=VALUE", flag, kv)
			}
			if v, ok = os.LookupEnv(k); !ok {
				continue
			}
		}
		m[k] = v
	}
	return m, nil
}

// registryCredentials picks the push credentials: the flags, else the
// environment (build.CredentialsFromEnv).
func registryCredentials(f imageBuildFlags, stdin io.Reader, refs []string) (build.Credentials, error) {
	if f.passwordStdin {
		if f.user == "" {
			return build.Credentials{}, errors.New("--registry-password-stdin needs --registry-user")
		}
		line, err := bufio.NewReader(stdin).ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return build.Credentials{}, fmt.Errorf("read the registry password from stdin: %w", err)
		}
		pw := strings.TrimRight(line, "\r\n")
		if pw == "" {
			return build.Credentials{}, errors.New("--registry-password-stdin: stdin holds no password")
		}
		return build.Credentials{Username: f.user, Password: pw}, nil
	}
	if f.user != "" {
		return build.Credentials{}, errors.New("--registry-user needs --registry-password-stdin (a password is never taken as a flag)")
	}
	return build.CredentialsFromEnv(os.Getenv, refs), nil
}

func writeJSONFile(path string, v any) error {
	buf, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	if dir := filepath.Dir(path); dir != "." {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("--result: %w", err)
		}
	}
	if err := os.WriteFile(path, append(buf, '\n'), 0o644); err != nil {
		return fmt.Errorf("--result: %w", err)
	}
	return nil
}
