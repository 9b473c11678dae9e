package lint

import (
	"path"
	"regexp"
	"strconv"
	"strings"
)

// rule is one hadolint rule: its id, default severity and message, and a
// check returning the lines where the Dockerfile violates it.
type rule struct {
	ID       string
	Severity Severity
	Message  string
	check    func(df *dockerfile, cfg *Config) []int
}

// Rule describes an implemented rule, for documentation and listings.
type Rule struct {
	ID       string
	Severity Severity
	Message  string
}

// Rules lists the implemented rules in id order.
func Rules() []Rule {
	out := make([]Rule, len(rules))
	for i, r := range rules {
		out[i] = Rule{r.ID, r.Severity, r.Message}
	}
	return out
}

// rules, in id order. Messages follow hadolint's.
var rules = []rule{
	{"DL3000", SeverityError, "Use absolute WORKDIR", checkAbsoluteWorkdir},
	{"DL3001", SeverityInfo, "For some bash commands it makes no sense running them in a Docker container like ssh, vim, shutdown, service, ps, free, top, kill, mount, ifconfig", checkPointlessCommands},
	{"DL3002", SeverityWarning, "Last USER should not be root", checkLastUserRoot},
	{"DL3003", SeverityWarning, "Use WORKDIR to switch to a directory", runUses(func(c command) bool { return c.name == "cd" })},
	{"DL3004", SeverityError, "Do not use sudo as it leads to unpredictable behavior. Use a tool like gosu to enforce root", runUses(func(c command) bool { return c.name == "sudo" })},
	{"DL3006", SeverityWarning, "Always tag the version of an image explicitly", checkUntaggedImage},
	{"DL3007", SeverityWarning, "Using latest is prone to errors if the image will ever update. Pin the version explicitly to a release tag", checkLatestTag},
	{"DL3008", SeverityWarning, "Pin versions in apt get install. Instead of `apt-get install <package>` use `apt-get install <package>=<version>`", runUses(aptGetUnpinned)},
	{"DL3009", SeverityInfo, "Delete the apt-get lists after installing something", checkAptListsKept},
	{"DL3011", SeverityError, "Valid UNIX ports range from 0 to 65535", checkExposeRange},
	{"DL3012", SeverityError, "Multiple HEALTHCHECK instructions", repeatedInStage("healthcheck")},
	{"DL3013", SeverityWarning, "Pin versions in pip. Instead of `pip install <package>` use `pip install <package>==<version>` or `pip install --requirement <requirements file>`", runUses(pipUnpinned)},
	{"DL3014", SeverityWarning, "Use the `-y` switch to avoid manual input `apt-get -y install <package>`", runUses(aptGetNotAssumeYes)},
	{"DL3015", SeverityInfo, "Avoid additional packages by specifying `--no-install-recommends`", runUses(aptGetRecommends)},
	{"DL3016", SeverityWarning, "Pin versions in npm. Instead of `npm install <package>` use `npm install <package>@<version>`", runUses(npmUnpinned)},
	{"DL3018", SeverityWarning, "Pin versions in apk add. Instead of `apk add <package>` use `apk add <package>=<version>`", runUses(apkUnpinned)},
	{"DL3019", SeverityInfo, "Use the `--no-cache` switch to avoid the need to use `--update` and remove `/var/cache/apk/*` when done installing packages", runUses(apkCached)},
	{"DL3020", SeverityError, "Use COPY instead of ADD for files and folders", checkAddForFiles},
	{"DL3021", SeverityError, "COPY with more than 2 arguments requires the last argument to end with /", checkCopyManyToFile},
	{"DL3022", SeverityWarning, "COPY --from should reference a previously defined FROM alias", checkCopyFromUnknown},
	{"DL3023", SeverityError, "COPY --from cannot reference its own FROM alias", checkCopyFromSelf},
	{"DL3024", SeverityError, "FROM aliases (stage names) must be unique", checkDuplicateAlias},
	{"DL3025", SeverityWarning, "Use arguments JSON notation for CMD and ENTRYPOINT arguments", checkExecForm},
	{"DL3026", SeverityError, "Use only an allowed registry in the FROM image", checkTrustedRegistry},
	{"DL3027", SeverityWarning, "Do not use apt as it is meant to be an end-user tool, use apt-get or apt-cache instead", runUses(func(c command) bool { return c.name == "apt" })},
	{"DL3028", SeverityWarning, "Pin versions in gem install. Instead of `gem install <gem>` use `gem install <gem>:<version>`", runUses(gemUnpinned)},
	{"DL3029", SeverityWarning, "Do not use --platform flag with FROM", checkFromPlatform},
	{"DL3030", SeverityWarning, "Use the -y switch to avoid manual input `yum install -y <package>`", runUses(notAssumeYes("yum"))},
	{"DL3032", SeverityWarning, "`yum clean all` missing after yum command.", runScripts(notCleaned("yum"))},
	{"DL3033", SeverityWarning, "Specify version with `yum install -y <package>-<version>`.", runUses(rpmUnpinned("yum"))},
	{"DL3034", SeverityWarning, "Non-interactive switch missing from `zypper` command: `zypper install -y`", runUses(zypperInteractive)},
	{"DL3035", SeverityWarning, "Do not use `zypper dist-upgrade`.", runUses(func(c command) bool { return c.name == "zypper" && c.subcommand(zypperValued, "dist-upgrade", "dup") })},
	{"DL3036", SeverityWarning, "`zypper clean` missing after zypper use.", runScripts(zypperNotCleaned)},
	{"DL3037", SeverityWarning, "Specify version with `zypper install -y <package>=<version>`.", runUses(zypperUnpinned)},
	{"DL3038", SeverityWarning, "Use the -y switch to avoid manual input `dnf install -y <package>`", runUses(notAssumeYes("dnf", "microdnf"))},
	{"DL3040", SeverityWarning, "`dnf clean all` missing after dnf command.", runScripts(notCleaned("dnf", "microdnf"))},
	{"DL3041", SeverityWarning, "Specify version with `dnf install -y <package>-<version>`", runUses(rpmUnpinned("dnf", "microdnf"))},
	{"DL3042", SeverityWarning, "Avoid use of cache directory with pip. Use `pip install --no-cache-dir <package>`", checkPipCache},
	{"DL3043", SeverityError, "`ONBUILD`, `FROM` or `MAINTAINER` triggered from within `ONBUILD` instruction.", checkOnBuildTrigger},
	{"DL3044", SeverityError, "Do not refer to an environment variable within the same `ENV` statement where it is defined.", checkEnvSelfReference},
	{"DL3045", SeverityWarning, "`COPY` to a relative destination without `WORKDIR` set.", checkCopyRelative},
	{"DL3046", SeverityWarning, "`useradd` without flag `-l` and high UID will result in excessively large Image.", runUses(useraddLargeUID)},
	{"DL3047", SeverityInfo, "Avoid use of wget without progress bar. Use `wget --progress=dot:giga <url>`. Or consider using `-q` or `-nv` (shorthands for `--quiet` or `--no-verbose`).", runUses(wgetVerbose)},
	{"DL3048", SeverityStyle, "Invalid label key.", checkLabelKeys},
	{"DL3059", SeverityInfo, "Multiple consecutive `RUN` instructions. Consider consolidation.", checkConsecutiveRun},
	{"DL3060", SeverityInfo, "`yarn cache clean` missing after `yarn install` was run.", runScripts(yarnNotCleaned)},
	{"DL3061", SeverityError, "Invalid instruction order. Dockerfile must begin with `FROM`, `ARG` or comment.", checkInstructionOrder},
	{"DL3062", SeverityWarning, "Pin versions in go install. Instead of `go install <package>` use `go install <package>@<version>`", runUses(goInstallUnpinned)},
	{"DL4000", SeverityError, "MAINTAINER is deprecated", checkMaintainer},
	{"DL4001", SeverityWarning, "Either use Wget or Curl but not both", checkWgetAndCurl},
	{"DL4003", SeverityWarning, "Multiple `CMD` instructions found. If you list more than one `CMD` then only the last `CMD` will take effect", repeatedInStage("cmd")},
	{"DL4004", SeverityError, "Multiple `ENTRYPOINT` instructions found. If you list more than one `ENTRYPOINT` then only the last `ENTRYPOINT` will take effect", repeatedInStage("entrypoint")},
	{"DL4005", SeverityWarning, "Use SHELL to change the default shell", runUses(func(c command) bool { return c.is("ln", "/bin/sh") })},
	{"DL4006", SeverityWarning, "Set the SHELL option -o pipefail before RUN with a pipe in it. If you are using /bin/sh in an alpine image or if your shell is symlinked to busybox then consider explicitly setting your SHELL to /bin/ash, or disable this check", checkPipefail},
}

// runUses reports each RUN (also in ONBUILD) with a command matching bad.
func runUses(bad func(command) bool) func(*dockerfile, *Config) []int {
	return runScripts(func(s *script) bool {
		for _, c := range s.commands {
			if bad(c) {
				return true
			}
		}
		return false
	})
}

// runScripts reports each RUN (also in ONBUILD) whose script matches bad.
func runScripts(bad func(*script) bool) func(*dockerfile, *Config) []int {
	return func(df *dockerfile, _ *Config) []int {
		var lines []int
		for _, in := range df.instrs {
			if in.cmd == "run" && bad(in.script) {
				lines = append(lines, in.line)
			}
		}
		return lines
	}
}

// unquote drops one pair of surrounding quotes.
func unquote(s string) string {
	if len(s) >= 2 && (s[0] == '"' || s[0] == '\'') && s[len(s)-1] == s[0] {
		return s[1 : len(s)-1]
	}
	return s
}

// isAbsolute accepts Unix paths, Windows drive paths and paths starting
// with a variable (their value is unknown).
func isAbsolute(p string) bool {
	p = unquote(p)
	if strings.HasPrefix(p, "/") || strings.HasPrefix(p, "$") {
		return true
	}
	return len(p) >= 2 && p[1] == ':' && (p[0]|0x20 >= 'a' && p[0]|0x20 <= 'z')
}

func checkAbsoluteWorkdir(df *dockerfile, _ *Config) []int {
	var lines []int
	for _, in := range df.instrs {
		if in.cmd == "workdir" && len(in.args) > 0 && !isAbsolute(in.args[0]) {
			lines = append(lines, in.line)
		}
	}
	return lines
}

var pointlessCommands = map[string]bool{
	"free": true, "ifconfig": true, "kill": true, "mount": true, "ps": true,
	"service": true, "shutdown": true, "ssh": true, "top": true, "vim": true, "nano": true,
}

func checkPointlessCommands(df *dockerfile, cfg *Config) []int {
	return runUses(func(c command) bool { return pointlessCommands[c.name] })(df, cfg)
}

func isRootUser(u string) bool {
	u = unquote(u)
	return u == "root" || u == "0" || strings.HasPrefix(u, "root:") || strings.HasPrefix(u, "0:")
}

// checkLastUserRoot reports, in every stage, a last USER that is root.
func checkLastUserRoot(df *dockerfile, _ *Config) []int {
	last := map[int]*instruction{}
	for _, in := range df.instrs {
		if in.cmd == "user" && !in.onBuild && len(in.args) > 0 {
			last[in.stage] = in
		}
	}
	var lines []int
	for i := -1; i < len(df.stages); i++ {
		if in := last[i]; in != nil && isRootUser(in.args[0]) {
			lines = append(lines, in.line)
		}
	}
	return lines
}

// aliasBefore reports whether name is the alias of a stage before stage i.
func (df *dockerfile) aliasBefore(name string, i int) bool {
	for j := 0; j < i && j < len(df.stages); j++ {
		if df.stages[j].alias != "" && strings.EqualFold(df.stages[j].alias, name) {
			return true
		}
	}
	return false
}

// baseImages yields the FROM images that are not earlier stages, scratch
// or variables (whose value the linter cannot know).
func (df *dockerfile) baseImages() []int {
	var idx []int
	for i, st := range df.stages {
		if st.image == "" || st.image == "scratch" || strings.Contains(st.image, "$") || df.aliasBefore(st.image, i) {
			continue
		}
		idx = append(idx, i)
	}
	return idx
}

func checkUntaggedImage(df *dockerfile, _ *Config) []int {
	var lines []int
	for _, i := range df.baseImages() {
		if st := df.stages[i]; st.tag == "" && st.digest == "" {
			lines = append(lines, st.line)
		}
	}
	return lines
}

func checkLatestTag(df *dockerfile, _ *Config) []int {
	var lines []int
	for _, i := range df.baseImages() {
		if st := df.stages[i]; st.tag == "latest" && st.digest == "" {
			lines = append(lines, st.line)
		}
	}
	return lines
}

// registryOf returns the registry host of an image name (docker.io when
// the first component is not a host).
func registryOf(image string) string {
	first, _, found := strings.Cut(image, "/")
	if found && (strings.ContainsAny(first, ".:") || first == "localhost") {
		return first
	}
	return "docker.io"
}

func checkTrustedRegistry(df *dockerfile, cfg *Config) []int {
	if len(cfg.TrustedRegistries) == 0 {
		return nil
	}
	var lines []int
	for _, i := range df.baseImages() {
		reg := registryOf(df.stages[i].image)
		trusted := false
		for _, t := range cfg.TrustedRegistries {
			if t == reg || (t == "hub.docker.com" && reg == "docker.io") {
				trusted = true
			} else if ok, _ := path.Match(t, reg); ok {
				trusted = true
			}
		}
		if !trusted {
			lines = append(lines, df.stages[i].line)
		}
	}
	return lines
}

func checkFromPlatform(df *dockerfile, _ *Config) []int {
	var lines []int
	for _, st := range df.stages {
		p := strings.Trim(st.platform, "{}$")
		if st.hasPlatform && p != "BUILDPLATFORM" && p != "TARGETPLATFORM" {
			lines = append(lines, st.line)
		}
	}
	return lines
}

func checkExposeRange(df *dockerfile, _ *Config) []int {
	var lines []int
	for _, in := range df.instrs {
		if in.cmd != "expose" {
			continue
		}
		for _, a := range in.args {
			ports, _, _ := strings.Cut(a, "/")
			bad := false
			for _, p := range strings.Split(ports, "-") {
				if n, err := strconv.Atoi(p); err == nil && (n < 0 || n > 65535) {
					bad = true
				}
			}
			if bad {
				lines = append(lines, in.line)
				break
			}
		}
	}
	return lines
}

// repeatedInStage reports every second and later cmd instruction of a stage.
func repeatedInStage(cmd string) func(*dockerfile, *Config) []int {
	return func(df *dockerfile, _ *Config) []int {
		seen := map[int]bool{}
		var lines []int
		for _, in := range df.instrs {
			if in.cmd != cmd || in.onBuild {
				continue
			}
			if seen[in.stage] {
				lines = append(lines, in.line)
			}
			seen[in.stage] = true
		}
		return lines
	}
}

var archiveSuffixes = []string{
	".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz", ".tbz2", ".tb2", ".tar.xz", ".txz",
	".tar.lz", ".tlz", ".tar.lzma", ".tlzma", ".tar.Z", ".taz", ".tz", ".tar.zst", ".tzst",
	".gz", ".bz2", ".xz", ".lz", ".lzma", ".Z", ".zst",
}

// checkAddForFiles: ADD only earns its keep for URLs, git and archives.
func checkAddForFiles(df *dockerfile, _ *Config) []int {
	var lines []int
	for _, in := range df.instrs {
		if in.cmd != "add" || len(in.args) < 2 || len(in.heredocs) > 0 {
			continue
		}
		for _, src := range in.args[:len(in.args)-1] {
			src = unquote(src)
			remote := strings.HasPrefix(src, "http://") || strings.HasPrefix(src, "https://") || strings.HasPrefix(src, "git@")
			archive := false
			for _, s := range archiveSuffixes {
				archive = archive || strings.HasSuffix(src, s)
			}
			if !remote && !archive {
				lines = append(lines, in.line)
				break
			}
		}
	}
	return lines
}

func checkCopyManyToFile(df *dockerfile, _ *Config) []int {
	var lines []int
	for _, in := range df.instrs {
		if in.cmd == "copy" && len(in.args) > 2 && len(in.heredocs) == 0 {
			if dest := unquote(in.args[len(in.args)-1]); !strings.HasSuffix(dest, "/") {
				lines = append(lines, in.line)
			}
		}
	}
	return lines
}

// checkCopyFromUnknown: --from names an earlier stage, by alias or index.
// A value that reads as an image reference (with ':', '/' or '@') is a
// valid external source and is left alone, as are variables.
func checkCopyFromUnknown(df *dockerfile, _ *Config) []int {
	var lines []int
	for _, in := range df.instrs {
		from, ok := in.flag("from")
		if in.cmd != "copy" || !ok || in.onBuild || strings.ContainsAny(from, ":/@$") {
			continue
		}
		if n, err := strconv.Atoi(from); err == nil {
			if n < 0 || n >= in.stage {
				lines = append(lines, in.line)
			}
			continue
		}
		if !df.aliasBefore(from, in.stage) {
			lines = append(lines, in.line)
		}
	}
	return lines
}

func checkCopyFromSelf(df *dockerfile, _ *Config) []int {
	var lines []int
	for _, in := range df.instrs {
		from, ok := in.flag("from")
		if in.cmd != "copy" || !ok || in.onBuild || in.stage < 0 {
			continue
		}
		st := df.stages[in.stage]
		if (st.alias != "" && strings.EqualFold(from, st.alias)) || from == strconv.Itoa(in.stage) {
			lines = append(lines, in.line)
		}
	}
	return lines
}

func checkDuplicateAlias(df *dockerfile, _ *Config) []int {
	seen := map[string]bool{}
	var lines []int
	for _, st := range df.stages {
		a := strings.ToLower(st.alias)
		if a == "" {
			continue
		}
		if seen[a] {
			lines = append(lines, st.line)
		}
		seen[a] = true
	}
	return lines
}

func checkExecForm(df *dockerfile, _ *Config) []int {
	var lines []int
	for _, in := range df.instrs {
		if (in.cmd == "cmd" || in.cmd == "entrypoint") && !in.json && len(in.args) > 0 {
			lines = append(lines, in.line)
		}
	}
	return lines
}

func checkOnBuildTrigger(df *dockerfile, _ *Config) []int {
	var lines []int
	for _, in := range df.instrs {
		if in.onBuild && (in.cmd == "onbuild" || in.cmd == "from" || in.cmd == "maintainer") {
			lines = append(lines, in.line)
		}
	}
	return lines
}

var varRefRe = regexp.MustCompile(`\$(?:\{([A-Za-z_][A-Za-z0-9_]*)|([A-Za-z_][A-Za-z0-9_]*))`)

// checkEnvSelfReference: in "ENV A=1 B=$A", $A is the value A had before
// this ENV, not 1.
func checkEnvSelfReference(df *dockerfile, _ *Config) []int {
	var lines []int
	for _, in := range df.instrs {
		if in.cmd != "env" {
			continue
		}
		defined := map[string]bool{}
		bad := false
		// The parser yields key, value, separator triples.
		for i := 0; i+1 < len(in.args); i += 3 {
			for _, m := range varRefRe.FindAllStringSubmatch(in.args[i+1], -1) {
				if defined[m[1]+m[2]] {
					bad = true
				}
			}
			defined[in.args[i]] = true
		}
		if bad {
			lines = append(lines, in.line)
		}
	}
	return lines
}

// checkCopyRelative: a relative COPY destination depends on a WORKDIR
// inherited from who knows where. Stages built FROM an earlier stage
// inherit its WORKDIR.
func checkCopyRelative(df *dockerfile, _ *Config) []int {
	hasWorkdir := make([]bool, len(df.stages))
	var lines []int
	for _, in := range df.instrs {
		switch {
		case in.onBuild || in.stage < 0:
		case in.cmd == "from":
			st := df.stages[in.stage]
			for j := 0; j < in.stage; j++ {
				if df.stages[j].alias != "" && strings.EqualFold(df.stages[j].alias, st.image) {
					hasWorkdir[in.stage] = hasWorkdir[j]
				}
			}
		case in.cmd == "workdir":
			hasWorkdir[in.stage] = true
		case in.cmd == "copy" && len(in.args) >= 2 && !hasWorkdir[in.stage]:
			dest := unquote(in.args[len(in.args)-1])
			if !isAbsolute(dest) {
				lines = append(lines, in.line)
			}
		}
	}
	return lines
}

// checkConsecutiveRun reports a RUN right after another RUN of the same
// stage with the same flags (different mounts cannot be merged).
func checkConsecutiveRun(df *dockerfile, _ *Config) []int {
	var lines []int
	var prev *instruction
	for _, in := range df.instrs {
		if in.onBuild {
			continue
		}
		if in.cmd == "run" && prev != nil && prev.cmd == "run" && prev.stage == in.stage &&
			strings.Join(prev.flags, " ") == strings.Join(in.flags, " ") {
			lines = append(lines, in.line)
		}
		prev = in
	}
	return lines
}

func checkInstructionOrder(df *dockerfile, _ *Config) []int {
	var lines []int
	for _, in := range df.instrs {
		if in.cmd == "from" {
			break
		}
		if in.cmd != "arg" && !in.onBuild {
			lines = append(lines, in.line)
		}
	}
	return lines
}

func checkMaintainer(df *dockerfile, _ *Config) []int {
	var lines []int
	for _, in := range df.instrs {
		if in.cmd == "maintainer" && !in.onBuild {
			lines = append(lines, in.line)
		}
	}
	return lines
}

// checkWgetAndCurl reports, per stage, each RUN using one of wget and curl
// once both have been used.
func checkWgetAndCurl(df *dockerfile, _ *Config) []int {
	var lines []int
	used := map[string]bool{}
	stage := -2
	for _, in := range df.instrs {
		if in.stage != stage {
			stage, used = in.stage, map[string]bool{}
		}
		if in.cmd != "run" {
			continue
		}
		here := false
		for _, c := range in.script.commands {
			if c.name == "wget" || c.name == "curl" {
				used[c.name], here = true, true
			}
		}
		if here && len(used) == 2 {
			lines = append(lines, in.line)
		}
	}
	return lines
}

// checkPipefail: a pipe hides the failure of all but its last command
// unless the stage's SHELL sets -o pipefail (or is not a POSIX shell).
func checkPipefail(df *dockerfile, _ *Config) []int {
	var lines []int
	safe, stage := false, -2
	for _, in := range df.instrs {
		if in.stage != stage {
			stage, safe = in.stage, false
		}
		switch {
		case in.onBuild:
		case in.cmd == "shell":
			safe = shellIsSafe(in.args)
		case in.cmd == "run" && !in.json && !safe && in.script.hasPipe:
			lines = append(lines, in.line)
		}
	}
	return lines
}

func shellIsSafe(args []string) bool {
	if len(args) == 0 {
		return false
	}
	switch path.Base(args[0]) {
	case "pwsh", "powershell", "cmd", "cmd.exe", "powershell.exe":
		return true
	case "bash", "zsh", "ash":
		for i, a := range args {
			if a == "pipefail" && i > 0 && strings.HasPrefix(args[i-1], "-") && strings.Contains(args[i-1], "o") {
				return true
			}
		}
	}
	return false
}

var labelKeyRe = regexp.MustCompile(`^[a-z]([a-z0-9.-]*[a-z0-9])?$`)

// checkLabelKeys follows Docker's key format: lower-case letters, digits,
// dots and dashes, starting with a letter, no doubled separators, and
// none of Docker's reserved namespaces.
func checkLabelKeys(df *dockerfile, _ *Config) []int {
	var lines []int
	for _, in := range df.instrs {
		if in.cmd != "label" {
			continue
		}
		// The parser yields key, value, separator triples.
		for i := 0; i < len(in.args); i += 3 {
			k := unquote(in.args[i])
			if !labelKeyRe.MatchString(k) || strings.Contains(k, "..") || strings.Contains(k, "--") ||
				strings.HasPrefix(k, "com.docker.") || strings.HasPrefix(k, "io.docker.") || strings.HasPrefix(k, "org.dockerproject.") {
				lines = append(lines, in.line)
				break
			}
		}
	}
	return lines
}
