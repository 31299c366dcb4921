// Package app is the copyprobe command line.
package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"

	"github.com/pvreboot/pvreboot/cmd/internal/exitcode"
	"github.com/pvreboot/pvreboot/cmd/internal/probeflags"
	"github.com/pvreboot/pvreboot/cmd/internal/usage"
	"github.com/pvreboot/pvreboot/framework/probe"
	"github.com/spf13/cobra"
)

// Streams are the command's standard streams.
type Streams struct {
	In       io.Reader
	Out, Err io.Writer
}

// Run executes copyprobe with args and returns the exit code: 0 done, 1 a
// copy's checksum did not match, 2 invalid input or usage, 3 environment
// failure.
func Run(ctx context.Context, args []string, s Streams) int {
	root := newRoot(s)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err != nil {
		usage.PrintError(s.Err, root.Name(), err)
	}
	return exitcode.Of(err)
}

func newRoot(s Streams) *cobra.Command {
	root := &cobra.Command{
		Use:   "copyprobe",
		Short: "Measure file copies per syscall (sendfile, copy_file_range, read/write, an external cp)",
		Example: `  copyprobe run --dir /data
  copyprobe run --dir /data --method exec --exec-cmd 'busybox cp {src} {dst}'
  copyprobe env --dir /data`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(s.Out)
	root.SetErr(s.Err)
	root.AddCommand(newRunCmd(s), newEnvCmd(s), newServeCmd(s), newTraceAgentCmd(s))
	usage.Strict(root)
	return root
}

func newRunCmd(s Streams) *cobra.Command {
	var f probeflags.Flags
	var verbose bool
	var output string
	cmd := &cobra.Command{
		Use:   "run (--dir DIR | --device DEV) [flags]",
		Short: "Copy a random file in DIR (or region of a block device) and print per-call latency as JSON (pvreboot.dev/probe/v1) or text",
		Long: "run copies a random file --iterations times, timing every call. Before each copy's first call it records how much\n" +
			"of the source is in page cache (mincore); after each copy, whether data moved or the destination shares the\n" +
			"source's extents (FIEMAP: copy_file_range on xfs or btrfs clones, reading and writing nothing).",
		Example: `  # BusyBox cp's pattern: sendfile, 16 MiB calls, cold cache, 5 copies of 256 MiB
  copyprobe run --dir /data
  # GNU cp >= 9.0
  copyprobe run --dir /data --method copy_file_range --file-size 64Mi
  # a raw block device (a volumeMode Block PV): its first 512Mi are overwritten
  copyprobe run --device /dev/pvreboot-data
  # for people: per-copy latency, cached source, data path, memory cgroup
  copyprobe run --dir /data -o text`,
		Args: usage.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if output != "json" && output != "text" {
				return exitcode.Usagef("--output: unknown format %q (want json or text)", output)
			}
			opts, err := f.Options()
			if err != nil {
				return exitcode.UsageError(err)
			}
			var log *slog.Logger
			if verbose {
				log = slog.New(slog.NewTextHandler(s.Err, &slog.HandlerOptions{Level: slog.LevelDebug}))
			}
			rep, err := probe.Run(cmd.Context(), opts, log)
			if err != nil {
				if errors.Is(err, probe.ErrChecksumMismatch) {
					return exitcode.ViolationError(err)
				}
				return err
			}
			if output == "text" {
				return probe.WriteText(s.Out, rep)
			}
			return writeJSON(s.Out, rep)
		},
	}
	f.Bind(cmd.Flags())
	cmd.Flags().BoolVarP(&verbose, "verbose", "v", false, "log progress to stderr")
	cmd.Flags().StringVarP(&output, "output", "o", "json", "output format: json (pvreboot.dev/probe/v1) or text")
	return cmd
}

func newEnvCmd(s Streams) *cobra.Command {
	var dir, device string
	cmd := &cobra.Command{
		Use:   "env (--dir DIR | --device DEV)",
		Short: "Print only the environment block for DIR or a block device: mount, cgroup limits, sysctls, readahead",
		Example: `  copyprobe env --dir /data
  copyprobe env --device /dev/pvreboot-data`,
		Args: usage.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			switch {
			case dir == "" && device == "":
				return exitcode.Usagef("--dir: required (or --device for a block device)")
			case dir != "" && device != "":
				return exitcode.Usagef("--device: exclusive with --dir")
			case device != "":
				env, err := probe.CollectDeviceEnv(device)
				if err != nil {
					return exitcode.UsageError(fmt.Errorf("--device: %w", err))
				}
				return writeJSON(s.Out, env)
			}
			env, err := probe.CollectEnv(dir)
			if err != nil {
				return exitcode.UsageError(fmt.Errorf("--dir: %w", err))
			}
			return writeJSON(s.Out, env)
		},
	}
	cmd.Flags().StringVar(&dir, "dir", "", "directory to describe")
	cmd.Flags().StringVar(&device, "device", "", "block device to describe")
	return cmd
}

func newServeCmd(s Streams) *cobra.Command {
	return &cobra.Command{
		Use:   "serve",
		Short: "Wait until SIGTERM or SIGINT: the main process of a workload pod, exiting promptly on stop",
		Long: "serve keeps a workload container alive so that measurements can be exec'd into it. " +
			"It exits at once on SIGTERM, so that a node's clean shutdown is not held up by systemd's stop timeout.",
		Example: `  copyprobe serve`,
		Args:    usage.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			fmt.Fprintln(s.Err, "copyprobe: serving; exec `copyprobe run` to measure")
			<-cmd.Context().Done()
			fmt.Fprintln(s.Err, "copyprobe: stopping")
			return nil
		},
	}
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return fmt.Errorf("write JSON: %w", err)
	}
	return nil
}
