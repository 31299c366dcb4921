// Package app is the pvreboot command line: it turns flags and environment
// into explicit configuration for the framework and maps errors to exit codes.
package app

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"runtime/debug"
	"strings"

	"github.com/pvreboot/pvreboot/cmd/internal/exitcode"
	"github.com/spf13/cobra"
	"k8s.io/klog/v2"
)

// Streams are the command's standard streams.
type Streams struct {
	In       io.Reader
	Out, Err io.Writer
}

// Run executes pvreboot with args and environ ("KEY=VALUE" entries) and
// returns the process exit code: 0 pass, 1 budget violated, 2 invalid input,
// 3 environment or infrastructure failure.
func Run(ctx context.Context, args []string, s Streams, environ []string) int {
	root := newRoot(s, envMap(environ))
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err != nil {
		fmt.Fprintf(s.Err, "pvreboot: %v\n", err)
	}
	return exitcode.Of(err)
}

func envMap(environ []string) map[string]string {
	m := map[string]string{}
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok {
			m[k] = v
		}
	}
	return m
}

type globals struct {
	s       Streams
	env     map[string]string
	verbose int
}

func (g *globals) logger() *slog.Logger {
	level := slog.LevelWarn
	switch {
	case g.verbose >= 2:
		level = slog.LevelDebug
	case g.verbose == 1:
		level = slog.LevelInfo
	}
	return slog.New(slog.NewTextHandler(g.s.Err, &slog.HandlerOptions{Level: level}))
}

func newRoot(s Streams, env map[string]string) *cobra.Command {
	g := &globals{s: s, env: env}
	root := &cobra.Command{
		Use:   "pvreboot",
		Short: "Reboot-scenario end-to-end tests of Kubernetes Local PersistentVolumes",
		Long: "pvreboot provisions (or uses) a cluster with Local PVs, measures per-call copy latency in a pod,\n" +
			"reboots the node, measures again, and checks the latency against budgets.",
		Example: `  pvreboot probe --dir /mnt/disk --file-size 64Mi
  pvreboot version`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(s.Out)
	root.SetErr(s.Err)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return exitcode.UsageError(err) })
	root.PersistentFlags().CountVarP(&g.verbose, "verbose", "v", "more logging (-v info, -vv debug)")
	// client-go logs through klog (e.g. "watch ended with error" while an API
	// server restarts): route it into the same logger, quiet unless -v.
	root.PersistentPreRun = func(*cobra.Command, []string) { klog.SetSlogLogger(g.logger()) }
	root.AddCommand(newRunCmd(g), newProbeCmd(g), newValidateCmd(g), newReportCmd(g), newCompareCmd(g), newClusterCmd(g), newCleanupCmd(g), newImageCmd(g), newVersionCmd(g))
	return root
}

func newVersionCmd(g *globals) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:     "version",
		Short:   "Print the pvreboot version and build information",
		Example: "  pvreboot version\n  pvreboot version -o json",
		Args:    noArgs,
		RunE: func(_ *cobra.Command, _ []string) error {
			v := buildVersion()
			switch output {
			case "text":
				fmt.Fprintf(g.s.Out, "pvreboot %s (%s, %s)\n", v.Version, v.GoVersion, v.Revision)
				return nil
			case "json":
				return writeJSON(g.s.Out, v)
			}
			return exitcode.Usagef("--output: unknown format %q (want text or json)", output)
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "text", "output format: text or json")
	return cmd
}

// Version describes the running binary.
type Version struct {
	Version   string `json:"version"`
	GoVersion string `json:"goVersion"`
	Revision  string `json:"revision"`
	Modified  bool   `json:"modified"`
}

func buildVersion() Version {
	v := Version{Version: "(devel)", Revision: "unknown"}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return v
	}
	v.GoVersion = bi.GoVersion
	if bi.Main.Version != "" {
		v.Version = bi.Main.Version
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			v.Revision = s.Value
		case "vcs.modified":
			v.Modified = s.Value == "true"
		}
	}
	return v
}

func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return exitcode.Usagef("%s: unexpected argument %q", cmd.CommandPath(), args[0])
	}
	return nil
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return fmt.Errorf("write JSON: %w", err)
	}
	return nil
}
