package exec

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	osexec "os/exec"
	"strings"
)

// RunError is a command that could not start or exited non-zero. It keeps the
// argv and the combined output so that callers can show what went wrong.
type RunError struct {
	Argv   []string
	Output string
	Err    error
}

func (e *RunError) Error() string {
	out := strings.TrimSpace(e.Output)
	if len(out) > 2048 {
		out = "..." + out[len(out)-2048:]
	}
	if out == "" {
		return fmt.Sprintf("run %q: %v", ShortArgv(e.Argv), e.Err)
	}
	return fmt.Sprintf("run %q: %v: %s", ShortArgv(e.Argv), e.Err, out)
}

// ShortArgv is argv for messages: an embedded script (a long or multi-line
// element) is shown by its first comment line and size, not in full.
func ShortArgv(argv []string) []string {
	out := make([]string, len(argv))
	for i, a := range argv {
		if len(a) <= 120 && !strings.Contains(a, "\n") {
			out[i] = a
			continue
		}
		first := ""
		for _, l := range strings.Split(a, "\n") {
			if l = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(l), "#")); l != "" && !strings.HasPrefix(l, "!") {
				first = l
				break
			}
		}
		if len(first) > 60 {
			first = first[:60] + "..."
		}
		out[i] = fmt.Sprintf("<script of %d bytes: %s>", len(a), first)
	}
	return out
}

func (e *RunError) Unwrap() error { return e.Err }

// Cmd describes one command. Argv[0] is looked up in PATH.
type Cmd struct {
	Argv  []string
	Env   []string // appended to the current environment
	Dir   string
	Stdin io.Reader
	// Stream, when set, also receives the combined output as it is produced.
	Stream io.Writer
	// Stdout, when set, receives standard output instead of the returned
	// bytes (Output only), e.g. to pipe into another command.
	Stdout io.Writer
}

// Output runs the command and returns its stdout. Stderr goes into the error
// (and Stream) only.
func Output(ctx context.Context, c Cmd) ([]byte, error) {
	if len(c.Argv) == 0 {
		return nil, errors.New("run: empty argv")
	}
	cmd := osexec.CommandContext(ctx, c.Argv[0], c.Argv[1:]...)
	cmd.Dir = c.Dir
	cmd.Stdin = c.Stdin
	if len(c.Env) > 0 {
		cmd.Env = append(cmd.Environ(), c.Env...)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	if c.Stdout != nil {
		cmd.Stdout = c.Stdout
	}
	cmd.Stderr = &stderr
	if c.Stream != nil {
		cmd.Stderr = io.MultiWriter(&stderr, c.Stream)
	}
	if err := cmd.Run(); err != nil {
		return stdout.Bytes(), &RunError{Argv: c.Argv, Output: stderr.String() + stdout.String(), Err: err}
	}
	return stdout.Bytes(), nil
}

// Run runs the command and returns its combined output.
func Run(ctx context.Context, c Cmd) ([]byte, error) {
	if len(c.Argv) == 0 {
		return nil, errors.New("run: empty argv")
	}
	cmd := osexec.CommandContext(ctx, c.Argv[0], c.Argv[1:]...)
	cmd.Dir = c.Dir
	cmd.Stdin = c.Stdin
	if len(c.Env) > 0 {
		cmd.Env = append(cmd.Environ(), c.Env...)
	}
	var out bytes.Buffer
	var w io.Writer = &out
	if c.Stream != nil {
		w = io.MultiWriter(&out, c.Stream)
	}
	cmd.Stdout = w
	cmd.Stderr = w
	if err := cmd.Run(); err != nil {
		return out.Bytes(), &RunError{Argv: c.Argv, Output: out.String(), Err: err}
	}
	return out.Bytes(), nil
}

// LookPath reports whether a command is available, with a clear error.
func LookPath(name string) (string, error) {
	p, err := osexec.LookPath(name)
	if err != nil {
		return "", fmt.Errorf("find command %q: %w", name, err)
	}
	return p, nil
}
