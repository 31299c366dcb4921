package app

import (
	"errors"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

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

// WriteProbeSummary prints a human table of a probe report.
func WriteProbeSummary(w io.Writer, r *probe.Report) error {
	m := r.Env.Mount
	fmt.Fprintf(w, "%s of %s in %s chunks, %d iterations, %s cache\n",
		r.Method, probe.FormatSize(r.FileBytes), probe.FormatSize(r.ChunkBytes), len(r.Iterations), r.Cache)
	if d := r.Env.Device; r.Device != "" && d != nil {
		fmt.Fprintf(w, "block device %s (%s %s, %s, readahead %d KiB)\n", r.Device, d.MajorMinor, d.Name, probe.FormatSize(d.SizeBytes), d.ReadAheadKB)
	} else {
		fmt.Fprintf(w, "dir %s on %s (%s %s, %s)\n", r.Dir, m.MountPoint, m.MajorMinor, m.FSType, m.MountOptions)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "iteration\tcalls\tp50\tp90\tp99\tmax\tMB/s\t")
	for _, it := range r.Iterations {
		s := probe.Summarize([]probe.Iteration{it})
		fmt.Fprintf(tw, "%d\t%d\t%s\t%s\t%s\t%s\t%.1f\t\n", it.Index, s.Calls, dur(s.P50Ns), dur(s.P90Ns), dur(s.P99Ns), dur(s.MaxNs), it.BytesPerSecond/1e6)
	}
	s := r.Summary
	fmt.Fprintf(tw, "all\t%d\t%s\t%s\t%s\t%s\t%.1f\t\n", s.Calls, dur(s.P50Ns), dur(s.P90Ns), dur(s.P99Ns), dur(s.MaxNs), s.BytesPerSecond/1e6)
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(w, "checksums: %d copies match source sha256 %s\n", len(r.Iterations), r.SourceSHA256[:16])
	return nil
}

func dur(ns int64) string {
	d := time.Duration(ns)
	switch {
	case d >= time.Second:
		return fmt.Sprintf("%.2fs", d.Seconds())
	case d >= time.Millisecond:
		return fmt.Sprintf("%.2fms", float64(d)/1e6)
	default:
		return fmt.Sprintf("%.1fµs", float64(d)/1e3)
	}
}
