// Package usage makes a cobra command tree report every usage mistake (a
// wrong argument count, an unknown command, an unknown flag or a bad flag
// value) as an exitcode usage error (exit 2) that names the command and what
// it wants. Shared by pvreboot and copyprobe; it imports no framework package.
package usage

import (
	"fmt"
	"io"
	"strings"

	"github.com/pvreboot/pvreboot/cmd/internal/exitcode"
	"github.com/spf13/cobra"
)

// NoArgs rejects any argument.
func NoArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return exitcode.Usagef("%s: unexpected argument %q", cmd.CommandPath(), args[0])
	}
	return nil
}

// ExactArgs wants exactly n arguments; names (e.g. "SCENARIO.yaml") say what
// they are in the error: "pvreboot run: want 1 argument (SCENARIO.yaml), got 0".
func ExactArgs(n int, names ...string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != n {
			return exitcode.Usagef("%s: want %s, got %d", cmd.CommandPath(), count(n, names), len(args))
		}
		return nil
	}
}

// MinimumArgs wants at least n arguments, named in the error like ExactArgs:
// "pvreboot validate: want at least 1 argument (FILE...), got 0".
func MinimumArgs(n int, names ...string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) < n {
			return exitcode.Usagef("%s: want at least %s, got %d", cmd.CommandPath(), count(n, names), len(args))
		}
		return nil
	}
}

func count(n int, names []string) string {
	s := fmt.Sprintf("%d argument", n)
	if n != 1 {
		s += "s"
	}
	if len(names) > 0 {
		s += " (" + strings.Join(names, " ") + ")"
	}
	return s
}

// Strict makes every command under root, root included, report usage
// mistakes as usage errors:
//   - a bad or unknown flag (root's flag error function, inherited by all);
//   - a command group (subcommands and nothing of its own to run) given an
//     unknown command or none: cobra would print help and exit 0, or, at the
//     root, return a plain error;
//   - a wrong argument count: every validator is wrapped, so that one written
//     with cobra's own (cobra.ExactArgs) is a usage error too, naming its
//     command; a command without a validator takes no arguments;
//   - `help` for an unknown command (cobra prints "Unknown help topic" and
//     succeeds).
//
// cobra's completion command is added here, so that it is made strict too.
// Call Strict once every command has been added.
func Strict(root *cobra.Command) {
	root.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error {
		return exitcode.UsageError(fmt.Errorf("%s: %w", cmd.CommandPath(), err))
	})
	root.SetHelpCommand(helpCommand(root))
	root.InitDefaultCompletionCmd()
	strict(root)
	// A group runs only to reject a missing command: its usage shows
	// "pvreboot cluster [command]", not "pvreboot cluster [flags]" too.
	root.SetUsageTemplate(strings.Replace(root.UsageTemplate(), "{{if .Runnable}}", "{{if and .Runnable (not .HasAvailableSubCommands)}}", 1))
}

func strict(c *cobra.Command) {
	for _, sub := range c.Commands() {
		strict(sub)
	}
	switch {
	case c.HasSubCommands() && !c.Runnable():
		c.Args = groupArgs
		c.RunE = func(cmd *cobra.Command, _ []string) error {
			return exitcode.Usagef("%s: want a command (%s); see %s --help", cmd.CommandPath(), commandNames(cmd), cmd.CommandPath())
		}
	case c.Args == nil:
		c.Args = NoArgs
	default:
		c.Args = asUsage(c.Args)
	}
}

// groupArgs rejects an argument to a command group: it names no subcommand
// (cobra would have run that one).
func groupArgs(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return nil
	}
	return unknownCommand(cmd, args[0])
}

func unknownCommand(cmd *cobra.Command, name string) error {
	if cmd.SuggestionsMinimumDistance <= 0 {
		cmd.SuggestionsMinimumDistance = 2
	}
	hint := ""
	if s := cmd.SuggestionsFor(name); len(s) > 0 {
		hint = "; did you mean " + strings.Join(s, " or ") + "?"
	}
	return exitcode.Usagef("%s: unknown command %q (commands: %s)%s", cmd.CommandPath(), name, commandNames(cmd), hint)
}

func commandNames(cmd *cobra.Command) string {
	var names []string
	for _, c := range cmd.Commands() {
		if c.IsAvailableCommand() {
			names = append(names, c.Name())
		}
	}
	return strings.Join(names, ", ")
}

// asUsage turns an argument validator's error into a usage error naming
// the command, unless it is one already.
func asUsage(validate cobra.PositionalArgs) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		err := validate(cmd, args)
		if err == nil || exitcode.Of(err) == exitcode.Usage {
			return err
		}
		return exitcode.UsageError(fmt.Errorf("%s: %w", cmd.CommandPath(), err))
	}
}

// helpCommand replaces cobra's, which prints "Unknown help topic" and exits
// 0 for a command that does not exist.
func helpCommand(root *cobra.Command) *cobra.Command {
	return &cobra.Command{
		Use:     "help [command]",
		Short:   "Help about any command",
		Example: fmt.Sprintf("  %[1]s help\n  %[1]s help COMMAND", root.Name()),
		RunE: func(_ *cobra.Command, args []string) error {
			target, rest, err := root.Find(args)
			if err != nil {
				return exitcode.UsageError(err)
			}
			if len(rest) > 0 {
				return unknownCommand(target, rest[0])
			}
			return target.Help()
		},
	}
}

// PrintError writes a command's error to w as one line "name: error"; an
// error that already begins with the program's name (one naming its
// command, "pvreboot run: ...") is written as it is.
func PrintError(w io.Writer, name string, err error) {
	msg := err.Error()
	if !strings.HasPrefix(msg, name+" ") && !strings.HasPrefix(msg, name+":") {
		msg = name + ": " + msg
	}
	fmt.Fprintln(w, msg)
}
