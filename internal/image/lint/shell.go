package lint

import (
	"path"
	"strings"
	"unicode"

	"mvdan.cc/sh/v3/syntax"
)

// script is the shell code of a RUN, reduced to what the rules ask about:
// every simple command (also inside &&, ||, pipes, subshells, $(...) and
// control flow) and whether it pipes.
type script struct {
	source   string
	commands []command
	hasPipe  bool
}

// command is one simple command: its name without directory and its
// arguments as they read after quote removal (expansions kept as written).
type command struct {
	name string
	args []string
}

var shellParser = syntax.NewParser(syntax.Variant(syntax.LangBash))

// parseScript parses RUN's shell form. Code the shell parser rejects (the
// build would fail on it too) is split on blanks and operators, so rules
// still see its commands.
func parseScript(src string) *script {
	s := &script{source: src}
	file, err := shellParser.Parse(strings.NewReader(src), "")
	if err != nil {
		s.commands, s.hasPipe = splitCommands(src)
		return s
	}
	syntax.Walk(file, func(n syntax.Node) bool {
		switch n := n.(type) {
		case *syntax.BinaryCmd:
			if n.Op == syntax.Pipe || n.Op == syntax.PipeAll {
				s.hasPipe = true
			}
		case *syntax.CallExpr:
			if len(n.Args) == 0 {
				return true
			}
			words := make([]string, len(n.Args))
			for i, w := range n.Args {
				words[i] = wordText(w)
			}
			s.commands = append(s.commands, newCommand(words))
		}
		return true
	})
	return s
}

// execScript is RUN's exec form: one command, no shell.
func execScript(words []string) *script {
	s := &script{source: strings.Join(words, " ")}
	if len(words) > 0 {
		s.commands = []command{newCommand(words)}
	}
	return s
}

func newCommand(words []string) command {
	return command{name: path.Base(words[0]), args: words[1:]}
}

// wordText is a word after quote removal; expansions stay as written.
func wordText(w *syntax.Word) string {
	var b strings.Builder
	var parts func([]syntax.WordPart)
	parts = func(ps []syntax.WordPart) {
		for _, p := range ps {
			switch p := p.(type) {
			case *syntax.Lit:
				b.WriteString(p.Value)
			case *syntax.SglQuoted:
				b.WriteString(p.Value)
			case *syntax.DblQuoted:
				parts(p.Parts)
			default:
				var pb strings.Builder
				_ = syntax.NewPrinter().Print(&pb, p)
				b.WriteString(pb.String())
			}
		}
	}
	parts(w.Parts)
	return b.String()
}

// splitCommands is the fallback for code the shell parser rejects.
func splitCommands(src string) ([]command, bool) {
	var cmds []command
	var words []string
	hasPipe := false
	flush := func() {
		if len(words) > 0 {
			cmds = append(cmds, newCommand(words))
		}
		words = nil
	}
	for _, f := range strings.FieldsFunc(src, unicode.IsSpace) {
		switch f {
		case "&&", "||", ";", "|", "&", "(", ")", "{", "}":
			hasPipe = hasPipe || f == "|"
			flush()
		default:
			words = append(words, strings.Trim(f, `"'`))
		}
	}
	flush()
	return cmds, hasPipe
}

// is reports whether the command is named name and has one of the words
// among its arguments (or has no words asked for).
func (c command) is(name string, words ...string) bool {
	if c.name != name {
		return false
	}
	if len(words) == 0 {
		return true
	}
	for _, a := range c.args {
		for _, w := range words {
			if a == w {
				return true
			}
		}
	}
	return false
}

// flags lists the option names the command was given, as hadolint reads
// them: "--name=value" is name, "-abc" is a, b and c.
func (c command) flags() []string {
	var fs []string
	for _, a := range c.args {
		switch {
		case a == "-" || a == "--":
		case strings.HasPrefix(a, "--"):
			k, _, _ := strings.Cut(a[2:], "=")
			fs = append(fs, k)
		case strings.HasPrefix(a, "-"):
			for _, r := range a[1:] {
				fs = append(fs, string(r))
			}
		}
	}
	return fs
}

func (c command) hasFlag(names ...string) bool {
	for _, f := range c.flags() {
		for _, n := range names {
			if f == n {
				return true
			}
		}
	}
	return false
}

// operands are the arguments that are not options, leaving out the values
// of the options named in valued ("-t x", "--target x"; "--target=x" is
// one word and carries its value).
func (c command) operands(valued ...string) []string {
	var out []string
	skip := false
	for _, a := range c.args {
		if skip {
			skip = false
			continue
		}
		if a == "-" || !strings.HasPrefix(a, "-") {
			out = append(out, a)
			continue
		}
		if a == "--" || strings.Contains(a, "=") {
			continue
		}
		name := strings.TrimLeft(a, "-")
		if !strings.HasPrefix(a, "--") {
			name = a[len(a)-1:] // in "-xt", t is the one that takes a value
		}
		for _, v := range valued {
			if name == v {
				skip = true
			}
		}
	}
	return out
}

// after returns the operands that follow the first operand equal to sub
// ("install" in "apt-get -q install a b"), or nil if there is none.
func after(operands []string, sub ...string) []string {
	for i, o := range operands {
		for _, s := range sub {
			if o == s {
				return operands[i+1:]
			}
		}
	}
	return nil
}

// subcommand reports whether the first operand is one of subs.
func (c command) subcommand(valued []string, subs ...string) bool {
	ops := c.operands(valued...)
	if len(ops) == 0 {
		return false
	}
	for _, s := range subs {
		if ops[0] == s {
			return true
		}
	}
	return false
}
