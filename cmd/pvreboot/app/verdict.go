package app

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/pvreboot/pvreboot/cmd/internal/exitcode"
	"github.com/pvreboot/pvreboot/framework/budget"
	"github.com/pvreboot/pvreboot/framework/report"
	"github.com/pvreboot/pvreboot/framework/scenario"
	"github.com/spf13/cobra"
)

// fileValidation is one scenario file's validation, for -o json|yaml.
type fileValidation struct {
	File     string   `json:"file"`
	Valid    bool     `json:"valid"`
	Scenario string   `json:"scenario,omitempty"`
	Errors   []string `json:"errors,omitempty"`
}

// validation is what validate prints with -o json|yaml.
type validateReport struct {
	Files   []fileValidation `json:"files"`
	Invalid int              `json:"invalid"`
}

func newValidateCmd(g *globals) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:     "validate FILE...",
		Short:   "Check scenario files: strict decoding, defaults, every problem with its field path",
		Example: "  pvreboot validate scenarios/*.yaml\n  pvreboot validate -o json scenarios/*.yaml",
		Args:    minimumArgs(1, "FILE..."),
		RunE: func(_ *cobra.Command, args []string) error {
			if err := checkOutput(output, outputText, outputJSON, outputYAML); err != nil {
				return err
			}
			var v validateReport
			for _, f := range args {
				fv := fileValidation{File: f, Valid: true}
				s, err := loadScenario(f)
				es, listed := scenario.AsInvalid(err)
				switch {
				case err == nil:
					fv.Scenario = s.Metadata.Name
				case listed:
					fv.Valid = false
					for _, e := range es {
						fv.Errors = append(fv.Errors, e.Error())
					}
				default:
					fv.Valid, fv.Errors = false, []string{err.Error()}
				}
				if !fv.Valid {
					v.Invalid++
				}
				v.Files = append(v.Files, fv)
				if output != outputText {
					continue
				}
				switch {
				case fv.Valid:
					fmt.Fprintf(g.s.Out, "%s: valid\n", f)
				case !listed:
					fmt.Fprintf(g.s.Out, "%s: invalid: %v\n", f, err)
				default:
					fmt.Fprintf(g.s.Out, "%s: invalid:\n", f)
					for _, e := range fv.Errors {
						fmt.Fprintf(g.s.Out, "  %s\n", e)
					}
				}
			}
			if output != outputText {
				if err := writeDoc(g.s.Out, output, v); err != nil {
					return err
				}
			}
			if v.Invalid > 0 {
				return exitcode.Usagef("%d of %d scenario files are invalid", v.Invalid, len(args))
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", outputText, "output format: text, json or yaml")
	return cmd
}

func newReportCmd(g *globals) *cobra.Command {
	var format string
	var gate bool
	cmd := &cobra.Command{
		Use:   "report RESULT.json",
		Short: "Render a run's Result (or a probe report) as text, Markdown, JUnit, JSON, HTML or OpenMetrics",
		Long: "report renders a Result and exits 0 whatever its verdict, so that it can feed a step summary,\n" +
			"a dashboard or a metrics collector. With --gate it exits 1 when the verdict is FAIL (a budget\n" +
			"failed) and 3 when the run recorded errors, as the run itself did.\n\n" +
			"html is one self-contained page (inline SVG plots, nothing fetched); openmetrics is the\n" +
			"OpenMetrics text a run writes as metrics.prom (node_exporter's textfile collector and the\n" +
			"Pushgateway read it).",
		Example: `  pvreboot report _artifacts/result.json --format markdown >> "$GITHUB_STEP_SUMMARY"
  pvreboot report _artifacts/result.json -o html > report.html
  pvreboot report _artifacts/result.json -o openmetrics > /var/lib/node_exporter/textfile/pvreboot.prom
  pvreboot report _artifacts/result.json --gate          # exit 1 on FAIL
  pvreboot probe --dir /mnt/disk -o json > probe.json && pvreboot report probe.json`,
		Args: exactArgs(1, "RESULT.json"),
		RunE: func(_ *cobra.Command, args []string) error {
			if !contains(report.Formats, format) {
				return exitcode.Usagef("--format: unknown format %q (want %s)", format, strings.Join(report.Formats, ", "))
			}
			r, err := report.ReadFile(args[0])
			if err != nil {
				return exitcode.UsageError(err)
			}
			if err := report.Render(g.s.Out, r, format); err != nil {
				return err
			}
			if !gate {
				return nil
			}
			if len(r.Errors) > 0 {
				// Not an *exitcode.Error: an infrastructure failure (exit 3).
				return fmt.Errorf("the result records %d run error(s), first: %s", len(r.Errors), r.Errors[0])
			}
			if len(r.Verdict.Results) > 0 && !r.Verdict.Pass {
				return exitcode.ViolationError(fmt.Errorf("the result's verdict is FAIL: %d budget(s) violated", len(r.Verdict.Failures())))
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&format, "format", "o", "text", strings.Join(report.Formats, ", "))
	cmd.Flags().BoolVar(&gate, "gate", false, "exit 1 when the verdict is FAIL, 3 when the run recorded errors (default: exit 0 whatever the verdict)")
	return cmd
}

func newCompareCmd(g *globals) *cobra.Command {
	var phase, output string
	var maxSlowdown, alpha float64
	var differentWorkloads bool
	cmd := &cobra.Command{
		Use:   "compare BASE.json NEW.json | compare RESULT.json|DIR...",
		Short: "Test whether the newest run's copies are significantly slower than the baseline's (exit 1 if so); a trend over a history of runs",
		Long: "compare applies the statistical budget across runs (Result or probe JSON): a one-sided\n" +
			"exact Mann-Whitney U test of NEW's per-copy median call latencies against BASE's scaled by\n" +
			"--max-slowdown, the copy (probe iteration) being the unit. Each run needs enough copies to\n" +
			"reach p < --alpha at all: 5 vs 5 for alpha 0.01, 4 vs 4 for 0.05. Runs of different workloads\n" +
			"(method, file or chunk size, cache mode, filesystem, file or block device, backing) are refused\n" +
			"(exit 2), naming the runs and how they differ, unless --allow-different-workloads.\n\n" +
			"Given more than two results, or a directory, compare shows a history: one row per run with its\n" +
			"verdict, the phase's p50, p99 and throughput and their ratio to the baseline's. Results are taken\n" +
			"in the order given; a directory gives every result.json below it, ordered by the run's start\n" +
			"time. The baseline is the first run that measured the phase; the exit code judges the newest\n" +
			"(the last that measured it) against it. -o html prints a page with the trend plots (inline SVG,\n" +
			"nothing fetched); -o json|yaml the trend as a document.",
		Example: `  pvreboot compare stored-baseline.json _artifacts/result.json
  pvreboot compare warm.json cold.json --max-slowdown 1.2
  pvreboot compare stored-baseline.json history/ --phase after-reboot
  pvreboot compare history/ -o html > trend.html`,
		Args: historyArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(output, outputText, outputJSON, outputYAML, outputHTML); err != nil {
				return err
			}
			if !(maxSlowdown >= 1) {
				return exitcode.Usagef("--max-slowdown: must be >= 1, got %g", maxSlowdown)
			}
			if !(alpha > 0 && alpha <= 0.1) {
				return exitcode.Usagef("--alpha: must be in (0, 0.1], got %g", alpha)
			}
			sources, results, anyDir, err := readHistory(cmd.CommandPath(), args)
			if err != nil {
				return err
			}
			if len(results) < 2 {
				return exitcode.Usagef("want at least two results to compare, found %d in %s", len(results), strings.Join(args, " "))
			}
			// Two files are a pair, BASE and NEW, as compare always took them.
			pair := len(results) == 2 && !anyDir
			t := report.NewHistory(phase, sources, results)
			if pair {
				for i, r := range t.Runs {
					if !r.Measured() {
						return exitcode.Usagef("%s: %s", sources[i], r.Problem)
					}
				}
			}
			if t.Baseline < 0 || t.Newest == t.Baseline {
				return exitcode.Usagef("want at least two runs that measured phase %s, found %d of %d: %s", phaseName(phase), measured(t), len(t.Runs), strings.Join(t.Warnings, "; "))
			}
			base, newest := t.Runs[t.Baseline], t.Runs[t.Newest]
			var note string
			if diff := t.Differing(); len(diff) > 0 {
				if !differentWorkloads {
					if pair {
						return exitcode.Usagef("%s and %s measured different workloads (%s): their latencies do not compare; --allow-different-workloads compares them anyway",
							sources[0], sources[1], strings.Join(t.Runs[1].Differs, "; "))
					}
					return exitcode.Usagef("%d run(s) measured a different workload than the baseline, run %d (%s, %s): %s; their latencies do not compare; --allow-different-workloads compares them anyway",
						len(diff), t.Baseline+1, base.Label(t.Baseline), base.Source, strings.Join(diff, "; "))
				}
				if pair {
					note = fmt.Sprintf("warning: different workloads (%s): the comparison is of the setups, not of the runs\n", strings.Join(t.Runs[1].Differs, "; "))
				}
				for _, d := range diff {
					t.Warnings = append(t.Warnings, "different workload than the baseline, compared anyway: "+d)
				}
			}
			bp, np := base.BudgetPhase(), newest.BudgetPhase()
			if nb, nn := len(bp.Iterations), len(np.Iterations); !budget.Reachable(nn, nb, alpha) {
				return exitcode.Usagef("%d vs %d copies can never reach p < %g with the copy as the unit (the smallest p of %d vs %d copies is %.3g): probe at least %d iterations in each run, or raise --alpha",
					nn, nb, alpha, nn, nb, budget.SmallestP(nn, nb), budget.MinIterations(alpha))
			}
			b := budget.Budget{Kind: budget.Statistical, Phase: "new", RelativeTo: "base", MaxSlowdown: maxSlowdown, Alpha: alpha}
			v := budget.Evaluate([]budget.Budget{b}, map[string]budget.Phase{"base": bp, "new": np})
			res := v.Results[0]
			t.Comparison = &res
			switch {
			case output == outputHTML:
				err = report.HistoryHTML(g.s.Out, t)
			case output != outputText:
				err = writeDoc(g.s.Out, output, t)
			case pair:
				fmt.Fprint(g.s.Out, note)
				for i, n := range []string{"base", "new"} {
					r := t.Runs[i]
					fmt.Fprintf(g.s.Out, "%-4s %s: %d copies, %d calls, p50 %s, p99 %s, %s\n", n, r.Source, r.Copies, r.Calls, budget.FormatNs(r.P50Ns), budget.FormatNs(r.P99Ns), budget.FormatRate(r.BytesPerSecond))
				}
				word := "PASS"
				if !res.Pass {
					word = "FAIL"
				}
				fmt.Fprintf(g.s.Out, "%s: %s\n", word, res.Detail)
			default:
				err = report.HistoryText(g.s.Out, t)
			}
			if err != nil {
				return err
			}
			switch {
			case res.Pass:
				return nil
			case res.PValue > 0 && res.PValue < alpha:
				return exitcode.ViolationError(errors.New("significant slowdown"))
			}
			// The test could not be computed: the statistical budget fails closed.
			return exitcode.ViolationError(errors.New("no verdict: the U test on copies could not be computed"))
		},
	}
	cmd.Flags().StringVar(&phase, "phase", "", "phase to compare in Result files (default: after-reboot, or the only phase)")
	cmd.Flags().Float64Var(&maxSlowdown, "max-slowdown", 1.0, "allowed slowdown factor before a difference counts")
	cmd.Flags().Float64Var(&alpha, "alpha", 0.01, "significance level of the one-sided U test on copies")
	cmd.Flags().BoolVar(&differentWorkloads, "allow-different-workloads", false, "compare runs whose workloads differ (method, sizes, cache, filesystem, file or block, backing), with a warning")
	cmd.Flags().StringVarP(&output, "output", "o", outputText, "output format: text, json, yaml or html (a page with the trend plots)")
	return cmd
}

func phaseName(p string) string {
	if p == "" {
		return "(default: after-reboot, or a result's only phase)"
	}
	return p
}

func measured(t *report.History) int {
	n := 0
	for _, r := range t.Runs {
		if r.Measured() {
			n++
		}
	}
	return n
}

// historyArgs wants two results, or a history: more results, or directories
// of them. One argument must be a directory.
func historyArgs(cmd *cobra.Command, args []string) error {
	if len(args) == 1 {
		if fi, err := os.Stat(args[0]); err != nil || !fi.IsDir() {
			return exitcode.Usagef("%s: want 2 results (BASE.json NEW.json) or a history (RESULT.json|DIR...), got 1 argument that is no directory: %s", cmd.CommandPath(), args[0])
		}
	}
	return minimumArgs(1, "RESULT.json|DIR...")(cmd, args)
}

// readHistory reads the results args name, in order: a file is one result;
// a directory gives every result.json below it, ordered by the run's start
// time (then path). anyDir says whether a directory was given. Errors name
// the command (what) and the argument.
func readHistory(what string, args []string) (sources []string, results []*report.Result, anyDir bool, err error) {
	for _, a := range args {
		fi, err := os.Stat(a)
		if err != nil {
			return nil, nil, false, exitcode.Usagef("%s: %s: %v", what, a, err)
		}
		if !fi.IsDir() {
			r, err := report.ReadFile(a)
			if err != nil {
				return nil, nil, false, exitcode.UsageError(err)
			}
			sources, results = append(sources, a), append(results, r)
			continue
		}
		anyDir = true
		type found struct {
			path string
			r    *report.Result
		}
		var in []found
		werr := filepath.WalkDir(a, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() || d.Name() != "result.json" {
				return nil
			}
			r, err := report.ReadFile(p)
			if err != nil {
				return err
			}
			in = append(in, found{p, r})
			return nil
		})
		if werr != nil {
			return nil, nil, false, exitcode.Usagef("%s: %v", a, werr)
		}
		if len(in) == 0 {
			return nil, nil, false, exitcode.Usagef("%s: no result.json below it", a)
		}
		slices.SortStableFunc(in, func(x, y found) int {
			if c := x.r.StartedAt.Compare(y.r.StartedAt); c != 0 {
				return c
			}
			return strings.Compare(x.path, y.path)
		})
		for _, f := range in {
			sources, results = append(sources, f.path), append(results, f.r)
		}
	}
	return sources, results, anyDir, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
