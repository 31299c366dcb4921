package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/pvreboot/pvreboot/cmd/internal/exitcode"
	"github.com/pvreboot/pvreboot/cmd/internal/usage"
	"github.com/pvreboot/pvreboot/framework/trace"
	"github.com/spf13/cobra"
)

// defaultAgentMaxDuration bounds a trace whose client went away without
// ending its input: longer than `pvreboot trace --duration`'s 24h bound.
const defaultAgentMaxDuration = 25 * time.Hour

type traceAgentFlags struct {
	containerID    string
	syscalls       []string
	excludeCurrent bool
	proc           string
	mountsOf       int
	maxDuration    time.Duration
	verbose        bool
}

func newTraceAgentCmd(s Streams) *cobra.Command {
	var f traceAgentFlags
	cmd := &cobra.Command{
		Use:   "trace-agent --container-id ID [--syscalls LIST] [--exclude-current]",
		Short: "Time a container's syscalls with eBPF on this node, windows marked by commands on stdin (pvreboot's node helper pods run it)",
		Long: "trace-agent runs where the container's kernel is (a privileged hostPID pod on its node): it finds the\n" +
			"container's processes in /proc and its cgroup in the hierarchies of the node's init (--mounts-of), attaches\n" +
			"the tracer, prints \"ready\" and reads one command a line on stdin, replying to each with a line:\n\n" +
			"  begin          a window (one run of a command) starts now    -> ok begin NS\n" +
			"  end            the window ends now                          -> ok end NS\n" +
			"  evict \"PATH\"   drop PATH's page cache as the container sees it -> ok evict\n" +
			"  stop           (or the end of stdin) stop and print the trace\n\n" +
			"NS is CLOCK_MONOTONIC, the clock of the samples. At stop it prints one JSON document\n" +
			"(" + trace.AgentSchema + ": the trace, the windows, notes). Any error ends it: the tracer is\n" +
			"stopped, the error (naming the line) goes to stderr, and it exits 2 for a bad command, 3 otherwise.",
		Example: `  # what pvreboot runs in the helper pod on the workload pod's node
  copyprobe trace-agent --container-id 3f2a...e1 --syscalls sendfile,read,write --exclude-current`,
		Args: usage.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			calls, err := f.check()
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeoutCause(cmd.Context(), f.maxDuration, fmt.Errorf("no stop within --max-duration %s", f.maxDuration))
			defer cancel()
			var log *slog.Logger
			if f.verbose {
				log = slog.New(slog.NewTextHandler(s.Err, &slog.HandlerOptions{Level: slog.LevelDebug}))
			}
			a, err := trace.StartAgent(ctx, trace.AgentOptions{Host: trace.Host{Proc: f.proc, MountsOf: f.mountsOf},
				ContainerID: f.containerID, Syscalls: calls, ExcludeCurrent: f.excludeCurrent, Log: log})
			if err != nil {
				return err
			}
			in := s.In
			if in == nil {
				in = strings.NewReader("")
			}
			err = trace.ServeAgent(ctx, a, in, s.Out)
			if errors.Is(err, trace.ErrAgentProtocol) {
				return exitcode.UsageError(err)
			}
			return err
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&f.containerID, "container-id", "", "the container's runtime ID (hex, without containerd://)")
	fs.StringSliceVar(&f.syscalls, "syscalls", nil, "syscalls to time, comma-separated (default all the tracer knows)")
	fs.BoolVar(&f.excludeCurrent, "exclude-current", false, "leave out the container's processes running now: trace the commands run in it from here on")
	fs.StringVar(&f.proc, "proc", "/proc", "the procfs of the node's processes (a hostPID pod's own /proc)")
	fs.IntVar(&f.mountsOf, "mounts-of", 1, "the process whose cgroup mounts and namespace are read: 1, the node's init; 0, this process")
	fs.DurationVar(&f.maxDuration, "max-duration", defaultAgentMaxDuration, "stop with an error if no stop came by then")
	fs.BoolVarP(&f.verbose, "verbose", "v", false, "log to stderr")
	return cmd
}

// check rejects, naming the flag, what the agent cannot act on.
func (f *traceAgentFlags) check() ([]trace.Syscall, error) {
	switch {
	case f.containerID == "":
		return nil, exitcode.Usagef("--container-id: required")
	case len(f.containerID) < 12 || strings.Trim(f.containerID, "0123456789abcdef") != "":
		return nil, exitcode.Usagef("--container-id: %q is not a runtime's hex container ID (at least 12 digits, no scheme)", f.containerID)
	case f.proc == "" || !strings.HasPrefix(f.proc, "/"):
		return nil, exitcode.Usagef("--proc: %q is not an absolute path", f.proc)
	case f.mountsOf < 0:
		return nil, exitcode.Usagef("--mounts-of: %d is not a PID (or 0)", f.mountsOf)
	case f.maxDuration <= 0:
		return nil, exitcode.Usagef("--max-duration: %s is not positive", f.maxDuration)
	}
	calls, err := trace.ParseSyscalls(f.syscalls)
	if err != nil {
		return nil, exitcode.UsageError(fmt.Errorf("--syscalls: %w", err))
	}
	return calls, nil
}
