package app

import (
	"errors"
	"io"

	"github.com/pvreboot/pvreboot/cmd/internal/exitcode"
	"github.com/pvreboot/pvreboot/cmd/internal/probeflags"
	"github.com/pvreboot/pvreboot/framework/probe"
	"github.com/spf13/cobra"
)

func newProbeCmd(g *globals) *cobra.Command {
	var f probeflags.Flags
	var output string
	cmd := &cobra.Command{
		Use:   "probe --dir DIR [flags]",
		Short: "Measure per-call copy latency in a directory on this host",
		Long: "probe runs the copy probe in-process: it writes a random file in DIR, copies it --iterations times\n" +
			"with the chosen syscall, timing every call, checks every copy's sha256, and prints a summary.",
		Example: `  # BusyBox cp's pattern on a local disk
  pvreboot probe --dir /mnt/disk --file-size 64Mi
  # GNU cp >= 9.0, warm cache, JSON
  pvreboot probe --dir /mnt/disk --method copy_file_range --cache warm -o json`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if output != "text" && output != "json" {
				return exitcode.Usagef("--output: unknown format %q (want text or json)", output)
			}
			opts, err := f.Options()
			if err != nil {
				return exitcode.UsageError(err)
			}
			rep, err := probe.Run(cmd.Context(), opts, g.logger())
			if err != nil {
				if errors.Is(err, probe.ErrChecksumMismatch) {
					return exitcode.ViolationError(err)
				}
				return err
			}
			if output == "json" {
				return writeJSON(g.s.Out, rep)
			}
			return WriteProbeSummary(g.s.Out, rep)
		},
	}
	f.Bind(cmd.Flags())
	cmd.Flags().StringVarP(&output, "output", "o", "text", "output format: text or json")
	return cmd
}

// WriteProbeSummary prints a human table of a probe report: the copy
// probe's own text (per copy: latency, the share of the source already
// cached, the data path).
func WriteProbeSummary(w io.Writer, r *probe.Report) error { return probe.WriteText(w, r) }
