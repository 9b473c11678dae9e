package lint

import (
	"regexp"
	"slices"
	"strings"
)

// Package-manager rules: pinned versions, non-interactive installs and no
// caches left in the image.

// aptGetValued are apt-get options that take a separate value.
var aptGetValued = []string{"t", "target-release", "o", "option", "c", "config-file"}

func aptGetInstall(c command) []string {
	if c.name != "apt-get" {
		return nil
	}
	return after(c.operands(aptGetValued...), "install")
}

func isAptGetInstall(c command) bool {
	return c.name == "apt-get" && slices.Contains(c.operands(aptGetValued...), "install")
}

func aptGetUnpinned(c command) bool {
	for _, p := range aptGetInstall(c) {
		if !strings.Contains(p, "=") && !strings.Contains(p, "/") && !strings.HasSuffix(p, ".deb") {
			return true
		}
	}
	return false
}

func aptGetNotAssumeYes(c command) bool {
	return isAptGetInstall(c) && !c.hasFlag("y", "yes", "assume-yes", "q", "quiet")
}

func aptGetRecommends(c command) bool {
	if !isAptGetInstall(c) || c.hasFlag("no-install-recommends") {
		return false
	}
	for _, a := range c.args {
		if strings.Contains(a, "APT::Install-Recommends=false") || strings.Contains(a, "APT::Install-Recommends=0") {
			return false
		}
	}
	return true
}

// checkAptListsKept reports RUNs that apt-get update without removing
// /var/lib/apt/lists (or caching it in a mount), in stages that end up in
// an image: the last one and those another stage builds FROM.
func checkAptListsKept(df *dockerfile, _ *Config) []int {
	var lines []int
	for _, in := range df.instrs {
		if in.cmd != "run" || !updatesApt(in.script) || removesAptLists(in.script) || mountsAptCache(in) {
			continue
		}
		if in.stage == len(df.stages)-1 || in.onBuild || df.stageIsBase(in.stage) {
			lines = append(lines, in.line)
		}
	}
	return lines
}

func updatesApt(s *script) bool {
	for _, c := range s.commands {
		if c.name == "apt-get" && slices.Contains(c.operands(aptGetValued...), "update") {
			return true
		}
	}
	return false
}

func removesAptLists(s *script) bool {
	for _, c := range s.commands {
		if c.name != "rm" {
			continue
		}
		for _, a := range c.args {
			if strings.HasPrefix(a, "/var/lib/apt/lists") {
				return true
			}
		}
	}
	return false
}

func mountsAptCache(in *instruction) bool {
	for _, f := range in.flags {
		if strings.HasPrefix(f, "--mount=") && strings.Contains(f, "type=cache") &&
			strings.Contains(f, "/var/lib/apt") {
			return true
		}
	}
	return false
}

// stageIsBase reports whether a later FROM builds on stage i.
func (df *dockerfile) stageIsBase(i int) bool {
	if i < 0 || df.stages[i].alias == "" {
		return false
	}
	for _, st := range df.stages[i+1:] {
		if strings.EqualFold(st.image, df.stages[i].alias) {
			return true
		}
	}
	return false
}

var pipValued = []string{
	"abi", "b", "build", "c", "constraint", "e", "editable", "extra-index-url", "f", "find-links",
	"i", "index-url", "implementation", "no-binary", "only-binary", "platform", "prefix",
	"progress-bar", "proxy", "python-version", "r", "requirement", "root", "src", "t", "target",
	"trusted-host", "upgrade-strategy",
}

var pythonRe = regexp.MustCompile(`^python[0-9.]*$`)
var pipRe = regexp.MustCompile(`^pip[0-9.]*$`)

// isPipInstall matches "pip install" and "python -m pip install".
func isPipInstall(c command) bool {
	if pipRe.MatchString(c.name) {
		return c.subcommand(pipValued, "install")
	}
	if pythonRe.MatchString(c.name) {
		for i := 0; i+2 < len(c.args); i++ {
			if c.args[i] == "-m" && pipRe.MatchString(c.args[i+1]) && c.args[i+2] == "install" {
				return true
			}
		}
	}
	return false
}

var pipVCS = regexp.MustCompile(`^(git|hg|svn|bzr)(\+[a-z-]+)?:`)

func pipUnpinned(c command) bool {
	if !isPipInstall(c) || c.hasFlag("r", "requirement", "c", "constraint") {
		return false
	}
	for _, p := range after(c.operands(pipValued...), "install") {
		if p == "." {
			return false
		}
	}
	for _, p := range after(c.operands(pipValued...), "install") {
		switch {
		case strings.ContainsAny(p, "=<>!~"):
		case pipVCS.MatchString(p):
			if !strings.Contains(p, "@") {
				return true
			}
		case strings.HasSuffix(p, ".whl"), strings.HasSuffix(p, ".tar.gz"), strings.Contains(p, "/"):
		default:
			return true
		}
	}
	return false
}

var truthy = []string{"1", "true", "True", "TRUE", "on", "On", "ON", "yes", "Yes", "YES"}

// checkPipCache: pip's cache is dead weight in an image, unless
// PIP_NO_CACHE_DIR turns it off (by ENV in the stage or its base stage, or
// inline in the RUN).
func checkPipCache(df *dockerfile, _ *Config) []int {
	noCache := make([]bool, len(df.stages)+1) // index stage+1, so -1 fits
	var lines []int
	for _, in := range df.instrs {
		i := in.stage + 1
		switch in.cmd {
		case "from":
			for j := 0; j < in.stage; j++ {
				if a := df.stages[j].alias; a != "" && strings.EqualFold(a, df.stages[in.stage].image) {
					noCache[i] = noCache[j+1]
				}
			}
		case "env", "arg":
			for k := 0; k+1 < len(in.args); k++ {
				if in.args[k] == "PIP_NO_CACHE_DIR" && slices.Contains(truthy, unquote(in.args[k+1])) {
					noCache[i] = true
				}
			}
		case "run":
			if noCache[i] || inlineNoCache(in.script.source) {
				continue
			}
			for _, c := range in.script.commands {
				if isPipInstall(c) && !slices.Contains(c.args, "--no-cache-dir") && !isPipWrapper(c) {
					lines = append(lines, in.line)
					break
				}
			}
		}
	}
	return lines
}

var inlineNoCacheRe = regexp.MustCompile(`PIP_NO_CACHE_DIR=["']?(1|true|True|TRUE|on|On|ON|yes|Yes|YES)\b`)

func inlineNoCache(src string) bool { return inlineNoCacheRe.MatchString(src) }

func isPipWrapper(c command) bool {
	return strings.Contains(c.name, "pipx") || strings.Contains(c.name, "pipenv")
}

func npmUnpinned(c command) bool {
	if c.name != "npm" {
		return false
	}
	ops := c.operands()
	if len(ops) == 0 || (ops[0] != "install" && ops[0] != "i" && ops[0] != "add") {
		return false
	}
	for _, p := range ops[1:] {
		switch {
		case strings.HasPrefix(p, "git://"), strings.HasPrefix(p, "git+"):
			if !strings.Contains(p, "#") {
				return true
			}
		case strings.HasSuffix(p, ".tar"), strings.HasSuffix(p, ".tar.gz"), strings.HasSuffix(p, ".tgz"):
		case strings.HasPrefix(p, "/"), strings.HasPrefix(p, "./"), strings.HasPrefix(p, "../"), strings.HasPrefix(p, "~/"):
		default:
			name := p
			if strings.HasPrefix(p, "@") { // a scope: @scope/name@version
				_, name, _ = strings.Cut(p, "/")
			}
			if !strings.Contains(name, "@") {
				return true
			}
		}
	}
	return false
}

var apkValued = []string{"t", "virtual", "repository", "X", "p", "root", "keys-dir", "repositories-file", "cache-dir", "arch"}

func apkUnpinned(c command) bool {
	if c.name != "apk" {
		return false
	}
	for _, p := range after(c.operands(apkValued...), "add") {
		if !strings.ContainsAny(p, "=~") && !strings.HasSuffix(p, ".apk") {
			return true
		}
	}
	return false
}

func apkCached(c command) bool {
	return c.name == "apk" && slices.Contains(c.operands(apkValued...), "add") && !c.hasFlag("no-cache")
}

func gemUnpinned(c command) bool {
	if c.name != "gem" || !c.subcommand([]string{"v", "version"}, "install", "i") || c.hasFlag("v", "version") {
		return false
	}
	for _, p := range c.operands()[1:] {
		if !strings.Contains(p, ":") {
			return true
		}
	}
	return false
}

func goInstallUnpinned(c command) bool {
	if c.name != "go" || !c.subcommand(nil, "install") {
		return false
	}
	for _, p := range c.operands()[1:] {
		if !strings.Contains(p, "@") {
			return true
		}
	}
	return false
}

// rpmValued are yum/dnf options that take a separate value.
var rpmValued = []string{"c", "config", "d", "e", "x", "exclude", "releasever", "installroot", "setopt", "enablerepo", "disablerepo", "repo", "repoid"}

var rpmInstallSubs = []string{"install", "groupinstall", "localinstall", "reinstall"}

func isRPMInstall(c command, managers ...string) bool {
	if !slices.Contains(managers, c.name) {
		return false
	}
	ops := c.operands(rpmValued...)
	if len(ops) > 0 && ops[0] == "module" {
		ops = ops[1:]
	}
	return len(ops) > 0 && slices.Contains(rpmInstallSubs, ops[0])
}

func notAssumeYes(managers ...string) func(command) bool {
	return func(c command) bool {
		return isRPMInstall(c, managers...) && !c.hasFlag("y", "assumeyes")
	}
}

// rpmVersioned reads "name-1.2" and "name-1.2-3.el8" as pinned; module
// streams ("nodejs:18") as pinned too.
var rpmVersioned = regexp.MustCompile(`-[0-9]|:`)

func rpmUnpinned(managers ...string) func(command) bool {
	return func(c command) bool {
		if !isRPMInstall(c, managers...) {
			return false
		}
		for _, p := range after(c.operands(rpmValued...), rpmInstallSubs...) {
			if !rpmVersioned.MatchString(p) && !strings.HasSuffix(p, ".rpm") {
				return true
			}
		}
		return false
	}
}

// notCleaned: a RUN that installs with yum/dnf also runs "<manager> clean
// all" (or removes the manager's cache).
func notCleaned(managers ...string) func(*script) bool {
	return func(s *script) bool {
		installs, cleans := false, false
		for _, c := range s.commands {
			installs = installs || isRPMInstall(c, managers...)
			if slices.Contains(managers, c.name) && c.subcommand(rpmValued, "clean") && slices.Contains(c.args, "all") {
				cleans = true
			}
			if c.name == "rm" {
				for _, a := range c.args {
					if strings.HasPrefix(a, "/var/cache/yum") || strings.HasPrefix(a, "/var/cache/dnf") {
						cleans = true
					}
				}
			}
		}
		return installs && !cleans
	}
}

var zypperValued = []string{"c", "config", "R", "root", "p", "plus-repo", "r", "repo", "from", "t", "type"}

var zypperInstallSubs = []string{"install", "in"}

func zypperInteractive(c command) bool {
	if c.name != "zypper" || !c.subcommand(zypperValued, "install", "in", "remove", "rm", "source-install", "si", "patch") {
		return false
	}
	return !c.hasFlag("n", "non-interactive", "y", "no-confirm")
}

func zypperUnpinned(c command) bool {
	if c.name != "zypper" || !c.subcommand(zypperValued, zypperInstallSubs...) {
		return false
	}
	for _, p := range c.operands(zypperValued...)[1:] {
		if !strings.ContainsAny(p, "=<>") && !strings.HasSuffix(p, ".rpm") {
			return true
		}
	}
	return false
}

func zypperNotCleaned(s *script) bool {
	installs, cleans := false, false
	for _, c := range s.commands {
		if c.name != "zypper" {
			continue
		}
		installs = installs || c.subcommand(zypperValued, zypperInstallSubs...)
		cleans = cleans || c.subcommand(zypperValued, "clean", "cc")
	}
	return installs && !cleans
}

func yarnNotCleaned(s *script) bool {
	installs, cleans := false, false
	for _, c := range s.commands {
		if c.name != "yarn" {
			continue
		}
		installs = installs || c.subcommand(nil, "install")
		ops := c.operands()
		cleans = cleans || (len(ops) >= 2 && ops[0] == "cache" && ops[1] == "clean")
	}
	return installs && !cleans
}

// useraddLargeUID: without -l, useradd writes /var/log/faillog and lastlog
// sparse files sized by the UID, which layers store dense.
func useraddLargeUID(c command) bool {
	if c.name != "useradd" || c.hasFlag("l", "no-log-init") {
		return false
	}
	for i, a := range c.args {
		var uid string
		switch {
		case (a == "-u" || a == "--uid") && i+1 < len(c.args):
			uid = c.args[i+1]
		case strings.HasPrefix(a, "--uid="):
			uid = strings.TrimPrefix(a, "--uid=")
		case strings.HasPrefix(a, "-u") && len(a) > 2 && !strings.HasPrefix(a, "--"):
			uid = a[2:]
		}
		if len(uid) > 5 && !strings.Contains(uid, "$") {
			return true
		}
	}
	return false
}

func wgetVerbose(c command) bool {
	if c.name != "wget" {
		return false
	}
	if c.hasFlag("progress", "q", "quiet", "o", "output-file", "a", "append-output", "no-verbose") {
		return false
	}
	return !slices.Contains(c.args, "-nv")
}
