package lint

import (
	"bytes"
	"errors"
	"fmt"
	"strings"

	"github.com/moby/buildkit/frontend/dockerfile/parser"
)

// instruction is one Dockerfile instruction as the rules see it. An
// instruction inside ONBUILD is flattened into its own entry with onBuild
// set, so that the RUN rules also check triggers.
type instruction struct {
	cmd      string   // lower case: "from", "run", ...
	line     int      // first line in the file, 1-based
	flags    []string // raw flags: "--from=build"
	args     []string // the parser's values, in order
	json     bool     // exec (JSON array) form
	heredocs []parser.Heredoc
	stage    int // index into dockerfile.stages; -1 before the first FROM
	onBuild  bool
	script   *script // RUN only: the parsed shell commands
}

// flag returns the value of --name=value, and whether it is present.
func (in *instruction) flag(name string) (string, bool) {
	for _, f := range in.flags {
		k, v, _ := strings.Cut(strings.TrimPrefix(f, "--"), "=")
		if strings.EqualFold(k, name) {
			return v, true
		}
	}
	return "", false
}

// stage is one FROM and what follows it.
type stage struct {
	line                      int
	image, tag, digest, alias string
	platform                  string
	hasPlatform               bool
}

type dockerfile struct {
	name   string
	instrs []*instruction
	stages []*stage
}

// parseDockerfile parses src with BuildKit's parser; errors name the file
// and line.
func parseDockerfile(name string, src []byte) (*dockerfile, error) {
	res, err := parser.Parse(bytes.NewReader(src))
	if err != nil {
		var le *parser.LocationError
		if errors.As(err, &le) && len(le.Locations) > 0 && len(le.Locations[0]) > 0 {
			return nil, fmt.Errorf("%s:%d: %w", name, le.Locations[0][0].Start.Line, errors.Unwrap(err))
		}
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	df := &dockerfile{name: name}
	for _, n := range res.AST.Children {
		in, err := newInstruction(name, n, false)
		if err != nil {
			return nil, err
		}
		if in.cmd == "from" {
			df.stages = append(df.stages, newStage(in))
		}
		in.stage = len(df.stages) - 1
		df.instrs = append(df.instrs, in)
		if in.cmd == "onbuild" && n.Next != nil && len(n.Next.Children) > 0 {
			inner, err := newInstruction(name, n.Next.Children[0], true)
			if err != nil {
				return nil, err
			}
			inner.line, inner.stage = in.line, in.stage
			df.instrs = append(df.instrs, inner)
		}
	}
	return df, nil
}

var knownInstructions = map[string]bool{
	"add": true, "arg": true, "cmd": true, "copy": true, "entrypoint": true, "env": true,
	"expose": true, "from": true, "healthcheck": true, "label": true, "maintainer": true,
	"onbuild": true, "run": true, "shell": true, "stopsignal": true, "user": true,
	"volume": true, "workdir": true,
}

func newInstruction(name string, n *parser.Node, onBuild bool) (*instruction, error) {
	in := &instruction{
		cmd:      strings.ToLower(n.Value),
		line:     n.StartLine,
		flags:    n.Flags,
		json:     n.Attributes["json"],
		heredocs: n.Heredocs,
		onBuild:  onBuild,
	}
	// BuildKit skips unknown instructions silently; a linter should not.
	if !knownInstructions[in.cmd] {
		col := strings.Index(n.Original, n.Value) + 1
		return nil, fmt.Errorf("%s:%d:%d: unknown instruction %q", name, n.StartLine, max(col, 1), n.Value)
	}
	for x := n.Next; x != nil; x = x.Next {
		in.args = append(in.args, x.Value)
	}
	if in.cmd == "run" {
		in.script = runScript(in)
	}
	return in, nil
}

func newStage(in *instruction) *stage {
	st := &stage{line: in.line}
	st.platform, st.hasPlatform = in.flag("platform")
	if len(in.args) > 0 {
		st.image, st.tag, st.digest = splitImageRef(in.args[0])
	}
	if len(in.args) >= 3 && strings.EqualFold(in.args[1], "as") {
		st.alias = in.args[2]
	}
	return st
}

// splitImageRef splits "registry:5000/name:tag@sha256:..." into its name,
// tag and digest. A colon before the last slash belongs to a registry port.
func splitImageRef(ref string) (name, tag, digest string) {
	name, digest, _ = strings.Cut(ref, "@")
	if i := strings.LastIndex(name, ":"); i > strings.LastIndex(name, "/") {
		name, tag = name[:i], name[i+1:]
	}
	return name, tag, digest
}

// runScript builds the shell script of a RUN: the command line of the
// shell form, the heredoc bodies, or the exec form's words as one command.
func runScript(in *instruction) *script {
	if in.json {
		return execScript(in.args)
	}
	src := strings.Join(in.args, " ")
	if len(in.heredocs) > 0 {
		// "RUN <<EOF" runs the heredoc body; "RUN cmd <<EOF" feeds it to cmd.
		// The former is a script; the latter a command with its input, which
		// the shell parser reads back as a here-document.
		bodyIsScript := strings.HasPrefix(strings.TrimSpace(src), "<<")
		var b strings.Builder
		if !bodyIsScript {
			b.WriteString(src + "\n")
		}
		for _, h := range in.heredocs {
			b.WriteString(h.Content)
			if !strings.HasSuffix(h.Content, "\n") {
				b.WriteString("\n")
			}
			if !bodyIsScript {
				b.WriteString(h.Name + "\n")
			}
		}
		src = b.String()
	}
	return parseScript(src)
}
