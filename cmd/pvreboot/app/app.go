// Package app is the pvreboot command line: it turns flags and environment
// into explicit configuration for the framework and maps errors to exit codes.
package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/pvreboot/pvreboot/framework/report"
	"io"
	"log/slog"
	"runtime/debug"
	"strings"

	"github.com/pvreboot/pvreboot/cmd/internal/exitcode"
	"github.com/pvreboot/pvreboot/cmd/internal/usage"
	"github.com/pvreboot/pvreboot/framework/cluster/existing"
	kindprovider "github.com/pvreboot/pvreboot/framework/cluster/kind"
	"github.com/pvreboot/pvreboot/framework/localpv"
	"github.com/pvreboot/pvreboot/framework/reboot"
	"github.com/pvreboot/pvreboot/framework/runner"
	"github.com/spf13/cobra"
	"k8s.io/klog/v2"
)

// Streams are the command's standard streams.
type Streams struct {
	In       io.Reader
	Out, Err io.Writer
}

// Run executes pvreboot with args and environ ("KEY=VALUE" entries) and
// returns the process exit code: 0 pass, 1 budget violated, 2 invalid input
// or usage, 3 environment or infrastructure failure. Main adds signal
// handling (130, 143) around it.
func Run(ctx context.Context, args []string, s Streams, environ []string) int {
	return execute(ctx, args, s, environ, &liveRun{})
}

func execute(ctx context.Context, args []string, s Streams, environ []string, live *liveRun) int {
	root := newRoot(s, envMap(environ), live)
	root.SetArgs(args)
	err := refusalIsUsage(root.ExecuteContext(ctx))
	if err != nil {
		usage.PrintError(s.Err, root.Name(), err)
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
	live    *liveRun // the run in progress, for a second interrupt to report
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

func newRoot(s Streams, env map[string]string, live *liveRun) *cobra.Command {
	g := &globals{s: s, env: env, live: live}
	root := &cobra.Command{
		Use:   "pvreboot",
		Short: "Reboot-scenario end-to-end tests of Kubernetes Local PersistentVolumes",
		Long: "pvreboot provisions (or uses) a cluster with Local PVs, measures per-call copy latency in a pod,\n" +
			"reboots the node, measures again, and checks the latency against budgets.\n\n" +
			"Exit codes: 0 pass, 1 budget violated, 2 invalid input or usage, 3 environment or infrastructure\n" +
			"failure, 130 or 143 interrupted (SIGINT or SIGTERM; the command cleans up first, a second signal\n" +
			"exits at once and prints what is left behind).",
		Example: `  pvreboot probe --dir /mnt/disk --file-size 64Mi
  pvreboot version`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(s.Out)
	root.SetErr(s.Err)
	root.PersistentFlags().CountVarP(&g.verbose, "verbose", "v", "more logging (-v info, -vv debug)")
	// client-go logs through klog (e.g. "watch ended with error" while an API
	// server restarts): route it into the same logger, quiet unless -v.
	root.PersistentPreRun = func(*cobra.Command, []string) { klog.SetSlogLogger(g.logger()) }
	root.AddCommand(newRunCmd(g), newCalibrateCmd(g), newProbeCmd(g), newValidateCmd(g), newReportCmd(g), newCompareCmd(g), newClusterCmd(g), newScenarioCmd(g), newCleanupCmd(g), newImageCmd(g), newVersionCmd(g))
	root.AddCommand(newDoctorCmd(g))
	root.AddCommand(newTraceCmd(g))
	root.AddCommand(newQualifyCmd(g))
	usage.Strict(root)
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

// resultBuild is the build a result records in its provenance.
func resultBuild() report.Build {
	v := buildVersion()
	return report.Build{Version: v.Version, Revision: v.Revision, Modified: v.Modified, GoVersion: v.GoVersion}
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

// The argument validators of pvreboot's commands: a wrong count is a usage
// error (exit 2) naming the command and what it wants, e.g.
// "pvreboot run: want 1 argument (SCENARIO.yaml), got 0".
func noArgs(cmd *cobra.Command, args []string) error { return usage.NoArgs(cmd, args) }

func exactArgs(n int, names ...string) cobra.PositionalArgs { return usage.ExactArgs(n, names...) }

func minimumArgs(n int, names ...string) cobra.PositionalArgs { return usage.MinimumArgs(n, names...) }

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return fmt.Errorf("write JSON: %w", err)
	}
	return nil
}

// refusalIsUsage classifies the framework's refusals of what the person
// asked for as invalid input (exit 2), whichever command met them: an unsafe
// plan, a method not in this build, a value the node layer refuses, a kind
// cluster pvreboot did not create, a kind config or kubeconfig that reaches
// too far. A code already set is kept.
func refusalIsUsage(err error) error {
	var coded *exitcode.Error
	var left *runner.LeftBehindError
	if err == nil || errors.As(err, &coded) || errors.As(err, &left) {
		// Something left behind is an infrastructure failure (3), whatever
		// refusal came with it.
		return err
	}
	for _, refused := range []error{reboot.ErrRefused, runner.ErrUnsupported, localpv.ErrUnsafe, kindprovider.ErrNotOwned,
		kindprovider.ErrConfigRefused, existing.ErrCredentialPlugin} {
		if errors.Is(err, refused) {
			return exitcode.UsageError(err)
		}
	}
	return err
}
