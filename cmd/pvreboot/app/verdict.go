package app

import (
	"errors"
	"fmt"
	"strings"

	"github.com/pvreboot/pvreboot/cmd/internal/exitcode"
	"github.com/pvreboot/pvreboot/framework/budget"
	"github.com/pvreboot/pvreboot/framework/probe"
	"github.com/pvreboot/pvreboot/framework/report"
	"github.com/pvreboot/pvreboot/framework/scenario"
	"github.com/spf13/cobra"
)

func newValidateCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:     "validate FILE...",
		Short:   "Check scenario files: strict decoding, defaults, every problem with its field path",
		Example: "  pvreboot validate scenarios/*.yaml",
		Args:    minimumArgs(1, "FILE..."),
		RunE: func(_ *cobra.Command, args []string) error {
			bad := 0
			for _, f := range args {
				if _, err := loadScenario(f); err != nil {
					bad++
					if es, ok := scenario.AsInvalid(err); ok {
						fmt.Fprintf(g.s.Out, "%s: invalid:\n", f)
						for _, e := range es {
							fmt.Fprintf(g.s.Out, "  %s\n", e)
						}
						continue
					}
					fmt.Fprintf(g.s.Out, "%s: invalid: %v\n", f, err)
					continue
				}
				fmt.Fprintf(g.s.Out, "%s: valid\n", f)
			}
			if bad > 0 {
				return exitcode.Usagef("%d of %d scenario files are invalid", bad, len(args))
			}
			return nil
		},
	}
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
	var phase string
	var maxSlowdown, alpha float64
	var differentWorkloads bool
	cmd := &cobra.Command{
		Use:   "compare BASE.json NEW.json",
		Short: "Test whether NEW's copies are significantly slower than BASE's (exit 1 if so)",
		Long: "compare applies the statistical budget across two runs (Result or probe JSON): a one-sided\n" +
			"exact Mann-Whitney U test of NEW's per-copy median call latencies against BASE's scaled by\n" +
			"--max-slowdown, the copy (probe iteration) being the unit. Each run needs enough copies to\n" +
			"reach p < --alpha at all: 5 vs 5 for alpha 0.01, 4 vs 4 for 0.05. Runs of different workloads\n" +
			"(method, file or chunk size, cache mode, filesystem, file or block device) are refused (exit 2)\n" +
			"unless --allow-different-workloads.",
		Example: `  pvreboot compare stored-baseline.json _artifacts/result.json
  pvreboot compare warm.json cold.json --max-slowdown 1.2`,
		Args: exactArgs(2, "BASE.json", "NEW.json"),
		RunE: func(_ *cobra.Command, args []string) error {
			if !(maxSlowdown >= 1) {
				return exitcode.Usagef("--max-slowdown: must be >= 1, got %g", maxSlowdown)
			}
			if !(alpha > 0 && alpha <= 0.1) {
				return exitcode.Usagef("--alpha: must be in (0, 0.1], got %g", alpha)
			}
			var phases []budget.Phase
			var workloads []workload
			for _, f := range args {
				r, err := report.ReadFile(f)
				if err != nil {
					return exitcode.UsageError(err)
				}
				p, err := pickPhase(r, phase)
				if err != nil {
					return exitcode.Usagef("%s: %v", f, err)
				}
				phases = append(phases, report.PhaseFromProbe(p.Probe))
				workloads = append(workloads, workloadOf(p.Probe))
			}
			if diff := workloads[0].diff(workloads[1]); len(diff) > 0 {
				if !differentWorkloads {
					return exitcode.Usagef("%s and %s measured different workloads (%s): their latencies do not compare; --allow-different-workloads compares them anyway",
						args[0], args[1], strings.Join(diff, "; "))
				}
				fmt.Fprintf(g.s.Out, "warning: different workloads (%s): the comparison is of the setups, not of the runs\n", strings.Join(diff, "; "))
			}
			if nb, nn := len(phases[0].Iterations), len(phases[1].Iterations); !budget.Reachable(nn, nb, alpha) {
				return exitcode.Usagef("%d vs %d copies can never reach p < %g with the copy as the unit (the smallest p of %d vs %d copies is %.3g): probe at least %d iterations in each run, or raise --alpha",
					nn, nb, alpha, nn, nb, budget.SmallestP(nn, nb), budget.MinIterations(alpha))
			}
			b := budget.Budget{Kind: budget.Statistical, Phase: "new", RelativeTo: "base", MaxSlowdown: maxSlowdown, Alpha: alpha}
			v := budget.Evaluate([]budget.Budget{b}, map[string]budget.Phase{"base": phases[0], "new": phases[1]})
			res := v.Results[0]
			for i, n := range []string{"base", "new"} {
				p50, _ := budget.Metric(phases[i], "p50")
				p99, _ := budget.Metric(phases[i], "p99")
				fmt.Fprintf(g.s.Out, "%-4s %s: %d copies, %d calls, p50 %s, p99 %s, %s\n", n, args[i], len(phases[i].Iterations), len(phases[i].CallNs), budget.FormatNs(p50), budget.FormatNs(p99), budget.FormatRate(phases[i].BytesPerSecond))
			}
			word := "PASS"
			if !res.Pass {
				word = "FAIL"
			}
			fmt.Fprintf(g.s.Out, "%s: %s\n", word, res.Detail)
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
	cmd.Flags().BoolVar(&differentWorkloads, "allow-different-workloads", false, "compare runs whose workloads differ (method, sizes, cache, filesystem, file or block), with a warning")
	return cmd
}

func pickPhase(r *report.Result, name string) (*report.PhaseResult, error) {
	if name == "" {
		if len(r.Phases) == 1 {
			name = r.Phases[0].Name
		} else {
			name = scenario.PhaseAfterReboot
		}
	}
	p := r.Phase(name)
	if p == nil || p.Probe == nil {
		return nil, fmt.Errorf("no measured phase %q", name)
	}
	return p, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// workload is what a probe measured, as far as two runs must agree on it for
// their latencies to compare.
type workload struct {
	method, cache, fsType, target string
	file, chunk                   int64
}

func workloadOf(r *probe.Report) workload {
	w := workload{method: string(r.Method), cache: string(r.Cache), fsType: r.Env.Mount.FSType, file: r.FileBytes, chunk: r.ChunkBytes, target: "file"}
	if r.Device != "" {
		w.target, w.fsType = "block device", ""
	}
	return w
}

// diff says how two workloads differ, one "what: a vs b" each.
func (w workload) diff(o workload) []string {
	var out []string
	add := func(what, a, b string) {
		if a != b {
			out = append(out, fmt.Sprintf("%s: %s vs %s", what, a, b))
		}
	}
	add("method", w.method, o.method)
	add("file size", probe.FormatSize(w.file), probe.FormatSize(o.file))
	add("chunk size", probe.FormatSize(w.chunk), probe.FormatSize(o.chunk))
	add("cache", w.cache, o.cache)
	add("copies to", w.target, o.target)
	add("filesystem", w.fsType, o.fsType)
	return out
}
