package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/pvreboot/pvreboot/cmd/internal/exitcode"
	"github.com/pvreboot/pvreboot/framework/calibrate"
	"github.com/pvreboot/pvreboot/framework/report"
	"github.com/pvreboot/pvreboot/framework/runner"
	"github.com/pvreboot/pvreboot/framework/scenario"
	"github.com/spf13/cobra"
)

// Most repeats a calibration takes (each is a whole baseline measurement).
const maxRepeats = 50

func newCalibrateCmd(g *globals) *cobra.Command {
	var (
		outputDir, output string
		repeats           int
		cf                clusterFlags
	)
	cmd := &cobra.Command{
		Use:   "calibrate SCENARIO.yaml",
		Short: "Measure the cluster's noise: the baseline repeated without a reboot, each budget's false-alarm rate, suggested budgets",
		Long: "calibrate provisions the scenario's Local PVs and workload pod as a run does, measures the baseline\n" +
			"--repeats times in the same pod without rebooting anything (A/A), and prints the noise floor of each\n" +
			"metric, how often each of the scenario's budgets would fail on that noise alone, and budgets that\n" +
			"noise would leave alone (-o yaml prints them to paste into the scenario). calibration.json goes to\n" +
			"--output-dir; `pvreboot run --calibration` records it in a run's result.\n" +
			"Exit 0 done, 2 invalid input, 3 infrastructure.",
		Example: `  pvreboot calibrate scenarios/sendfile-after-reboot.yaml --probe-image pvreboot/copyprobe:dev
  pvreboot calibrate my-scenario.yaml --repeats 10 -o yaml --probe-image REF > budgets.yaml`,
		Args: exactArgs(1, "SCENARIO.yaml"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if repeats < runner.MinRepeats || repeats > maxRepeats {
				return exitcode.Usagef("--repeats %d: want %d to %d", repeats, runner.MinRepeats, maxRepeats)
			}
			if output != "text" && output != "yaml" && output != "json" {
				return exitcode.Usagef("-o %q: want text, yaml or json", output)
			}
			s, err := loadScenario(args[0])
			if err != nil {
				return exitcode.UsageError(err)
			}
			if !slices.Contains(s.Spec.Phases, scenario.PhaseBaseline) {
				return exitcode.Usagef("%s: spec.phases has no baseline: calibrate repeats the baseline measurement", args[0])
			}
			cfg, _, err := clusterConfig(cmd, g, s, args[0], cf, false, false)
			if err != nil {
				return err
			}
			cfg.NoReboot = true
			cfg.Build = resultBuild()
			cfg.StateDir, cfg.Holder = g.stateDir(), holder()
			run, err := runner.New(cfg)
			if err != nil {
				return err
			}
			defer g.registerRun(run)()
			c, runErr := run.Calibrate(cmd.Context(), repeats)
			if cerr := run.Cleanup(context.WithoutCancel(cmd.Context())); cerr != nil {
				runErr = errors.Join(runErr, cerr)
			}
			if err := writeCalibration(outputDir, run.Result, c); err != nil {
				runErr = errors.Join(runErr, err)
			}
			if lb := (*runner.LeftBehindError)(nil); errors.As(runErr, &lb) {
				fmt.Fprintf(g.s.Err, "\nleft behind by run %s:\n  %s\nonce the cluster and node answer, remove it with:\n  %s\n",
					lb.Run, strings.Join(lb.Items, "\n  "), finishCommand(lb.Run, s, resolvedKubeconfig(cf.kubeconfig, s, g.env), cf.kubeContext, cf.probeImage))
			}
			if c == nil {
				return runErr
			}
			switch output {
			case "yaml":
				err = calibrate.YAML(g.s.Out, c)
			case "json":
				err = writeJSON(g.s.Out, c)
			default:
				fmt.Fprintln(g.s.Out)
				err = calibrate.Text(g.s.Out, c)
				fmt.Fprintf(g.s.Out, "\nresults in %s (calibration.json, calibration.txt, budgets.yaml, result.json)\n", outputDir)
			}
			return errors.Join(runErr, err)
		},
	}
	cmd.Flags().StringVar(&outputDir, "output-dir", "_artifacts/calibrate", "where calibration.json, calibration.txt, budgets.yaml and result.json go")
	cmd.Flags().StringVarP(&output, "output", "o", "text", "what to print: text (the noise and false-alarm tables), yaml (suggested budgets) or json")
	cmd.Flags().IntVar(&repeats, "repeats", 5, "how many times the baseline is measured")
	cf.add(cmd)
	return cmd
}

// writeCalibration writes the run's result (its repeats and, when computed,
// the calibration) and the calibration in its own files.
func writeCalibration(dir string, res *report.Result, c *calibrate.Calibration) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("output dir: %w", err)
	}
	files := map[string]func(io.Writer) error{"result.json": func(w io.Writer) error { return writeJSON(w, res) }}
	if c == nil {
		// No calibration: none from an earlier one may stay beside this
		// result for run --calibration to pick up.
		for _, name := range []string{"calibration.json", "calibration.txt", "budgets.yaml"} {
			if err := os.Remove(filepath.Join(dir, name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return err
			}
		}
	} else {
		files["calibration.json"] = func(w io.Writer) error { return writeJSON(w, c) }
		files["calibration.txt"] = func(w io.Writer) error { return calibrate.Text(w, c) }
		files["budgets.yaml"] = func(w io.Writer) error { return calibrate.YAML(w, c) }
	}
	for name, write := range files {
		f, err := os.Create(filepath.Join(dir, name))
		if err != nil {
			return err
		}
		err = write(f)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("write %s: %w", name, err)
		}
	}
	return nil
}

// readCalibration reads calibration.json, or a calibrate result.json that
// holds one, for run --calibration; it must be of the same scenario.
func readCalibration(path string, s *scenario.Scenario) (*calibrate.Calibration, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var c calibrate.Calibration
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, fmt.Errorf("%s: not a calibration: %w", path, err)
	}
	if c.Repeats == 0 {
		var res report.Result
		if err := json.Unmarshal(b, &res); err != nil || res.Calibration == nil {
			return nil, fmt.Errorf("%s: neither calibration.json nor a result with a calibration", path)
		}
		c = *res.Calibration
	}
	if c.Scenario != s.Metadata.Name {
		return nil, fmt.Errorf("%s: a calibration of scenario %q, not of %q", path, c.Scenario, s.Metadata.Name)
	}
	return &c, nil
}
