package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"
)

// needArgs is cobra.ExactArgs whose error names what is missing or extra
// ("missing MANIFEST"), in one line with the usage, instead of cobra's
// "accepts 1 arg(s), received 0".
func needArgs(names ...string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		switch {
		case len(args) < len(names):
			return fmt.Errorf("missing %s (usage: %s)", strings.Join(names[len(args):], " and "), cmd.UseLine())
		case len(args) > len(names):
			return fmt.Errorf("unexpected argument %q (usage: %s)", args[len(names)], cmd.UseLine())
		}
		return nil
	}
}

// projectArg is the PROJECT of a command that takes it as its first
// argument, as every server command does; the older --project flag of
// the env commands still works, with a notice on stderr. rest are the
// names of the arguments after PROJECT.
func projectArg(cmd *cobra.Command, args []string, flag string, rest ...string) (string, []string, error) {
	if flag != "" {
		fmt.Fprintf(cmd.ErrOrStderr(), "slipway: --project is deprecated: give the project as the first argument (%s)\n", cmd.UseLine())
		if len(args) == len(rest)+1 && args[0] != flag {
			return "", nil, fmt.Errorf("project %q as argument and %q as --project: give one", args[0], flag)
		}
		if len(args) == len(rest)+1 {
			args = args[1:]
		}
		return flag, args, needArgs(rest...)(cmd, args)
	}
	if err := needArgs(append([]string{"PROJECT"}, rest...)...)(cmd, args); err != nil {
		return "", nil, err
	}
	return args[0], args[1:], nil
}

// minArgs wants at least one NAME argument.
func minArgs(name string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) == 0 {
			return fmt.Errorf("missing %s (usage: %s)", name, cmd.UseLine())
		}
		return nil
	}
}

// oldShorthand keeps a shorthand that once belonged to the string flag
// name working for scripts, with a deprecation notice on stderr: a hidden
// flag of its own sets the same variable.
func oldShorthand(cmd *cobra.Command, p *string, name, short, def string) {
	hidden := name + "-shorthand"
	cmd.Flags().StringVarP(p, hidden, short, def, "")
	_ = cmd.Flags().MarkHidden(hidden)
	_ = cmd.Flags().MarkShorthandDeprecated(hidden, "use --"+name)
}
