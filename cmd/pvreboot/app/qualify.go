package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/pvreboot/pvreboot/cmd/internal/exitcode"
	"github.com/pvreboot/pvreboot/framework/qualify"
	"github.com/pvreboot/pvreboot/framework/report"
	"github.com/pvreboot/pvreboot/framework/runner"
	"github.com/pvreboot/pvreboot/framework/scenario"
	"github.com/spf13/cobra"
)

// loadPlan loads a qualification plan named on the command line: a file
// when one exists at that path, else a shipped plan of that name. A base
// scenario file it names is read relative to the plan, else as a shipped
// scenario's name.
func loadPlan(arg string) (*scenario.Plan, string, error) {
	var b []byte
	dir := ""
	if _, err := os.Lstat(arg); !errors.Is(err, fs.ErrNotExist) {
		f, err := os.Open(arg)
		if err != nil {
			return nil, "", fmt.Errorf("load plan: %w", err)
		}
		defer f.Close()
		if b, err = io.ReadAll(io.LimitReader(f, scenario.MaxFileBytes+1)); err != nil {
			return nil, "", fmt.Errorf("load plan %s: %w", arg, err)
		}
		dir = filepath.Dir(arg)
	} else {
		sb, _, ok := shippedScenario(arg)
		if !ok || scenario.KindOf(sb) != scenario.KindQualification {
			return nil, "", exitcode.Usagef("plan %q: no such file, and no shipped qualification plan of that name (shipped: %s)", arg, strings.Join(shippedPlans(), ", "))
		}
		b = sb
	}
	if k := scenario.KindOf(b); k == scenario.Kind {
		return nil, "", exitcode.Usagef("%s is a Scenario: run it with `pvreboot run`; qualify takes a plan of kind %s", arg, scenario.KindQualification)
	}
	read := func(name string) ([]byte, string, error) {
		if dir != "" && !filepath.IsAbs(name) {
			p := filepath.Join(dir, name)
			if _, err := os.Lstat(p); err == nil {
				b, err := os.ReadFile(p)
				return b, p, err
			}
		} else if filepath.IsAbs(name) {
			b, err := os.ReadFile(name)
			return b, name, err
		}
		if sb, base, ok := shippedScenario(name); ok && scenario.KindOf(sb) == scenario.Kind {
			return sb, "shipped " + base, nil
		}
		return nil, "", fmt.Errorf("no such file next to the plan, and no shipped scenario of that name")
	}
	p, err := scenario.ParseQualification(b, read)
	if err != nil {
		return nil, "", fmt.Errorf("%s: %w", arg, err)
	}
	return p, arg, nil
}

func newQualifyCmd(g *globals) *cobra.Command {
	var (
		outputDir, output   string
		dryRun, allowReboot bool
		parallel            int
		cf                  clusterFlags
	)
	cmd := &cobra.Command{
		Use:   "qualify PLAN.yaml",
		Short: "Run a qualification: a matrix of cases x reboot cycles x nodes, one report",
		Long: "qualify expands a plan (kind: Qualification) into cases, the base scenario with each combination of\n" +
			"the matrix, and runs them on the plan's node pool: several at once (parallel), with at most\n" +
			"maxUnavailable nodes down, each rebooted for its cycles in the same pod, then recreated. It writes\n" +
			"qualification.json, junit.xml, summary.md and report.html, and each case's own results under\n" +
			"cases/<id>/. Run it again with the same --output-dir to resume: finished cases are kept.\n" +
			"Exit 0 every case passed, 1 a case failed, 2 invalid input, 3 a case could not run.",
		Example: `  pvreboot qualify qualify-filesystems --dry-run
  pvreboot qualify scenarios/qualify-filesystems.yaml --output-dir _artifacts/qualify
  pvreboot qualify plan.yaml --parallel 1   # the same cases one after another`,
		Args: exactArgs(1, "PLAN.yaml"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if output != "text" && output != "json" {
				return exitcode.Usagef("--output: unknown format %q (want text or json)", output)
			}
			if parallel < 0 || parallel > scenario.MaxParallel {
				return exitcode.Usagef("--parallel %d: want 1 to %d (0: the plan's)", parallel, scenario.MaxParallel)
			}
			plan, path, err := loadPlan(args[0])
			if err != nil {
				return exitcode.UsageError(err)
			}
			if dryRun {
				return printCases(g.s.Out, plan, output)
			}
			if v, ok := g.env["PVREBOOT_ALLOW_REBOOT"]; ok && !cmd.Flags().Changed("allow-reboot") {
				b, perr := strconv.ParseBool(v)
				if perr != nil {
					return exitcode.Usagef("PVREBOOT_ALLOW_REBOOT=%q: want true or false", v)
				}
				allowReboot = b
			}
			return runQualification(cmd, g, plan, path, cf, allowReboot, outputDir, parallel)
		},
	}
	cmd.Flags().StringVar(&outputDir, "output-dir", "_artifacts/qualify", "where qualification.json, the summaries and cases/<id>/ go; the same directory resumes")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "print the cases the plan expands to and change nothing")
	cmd.Flags().StringVarP(&output, "output", "o", "text", "--dry-run output: text or json")
	cmd.Flags().IntVar(&parallel, "parallel", 0, "cases at once, overriding the plan's (1: one after another)")
	cmd.Flags().BoolVar(&allowReboot, "allow-reboot", false, "confirm rebooting real machines (ssh, command, node-pod methods); also PVREBOOT_ALLOW_REBOOT=true")
	cf.add(cmd)
	return cmd
}

// printCases prints the cases a plan expands to.
func printCases(w io.Writer, p *scenario.Plan, output string) error {
	spec := p.Qualification.Spec
	if output == "json" {
		type caseLine struct {
			ID     string           `json:"id"`
			Name   string           `json:"name"`
			Params []scenario.Param `json:"params"`
			Node   string           `json:"node,omitempty"`
		}
		out := struct {
			Name           string                 `json:"name"`
			Cycles         int                    `json:"cycles"`
			Parallel       int                    `json:"parallel"`
			MaxUnavailable int                    `json:"maxUnavailable"`
			Nodes          scenario.NodeSelection `json:"nodes"`
			Collapsed      int                    `json:"collapsed"`
			Cases          []caseLine             `json:"cases"`
		}{Name: p.Qualification.Metadata.Name, Cycles: spec.CyclesOrDefault(), Parallel: spec.ParallelOrDefault(),
			MaxUnavailable: spec.MaxUnavailableOrDefault(), Nodes: spec.Nodes, Collapsed: p.Collapsed, Cases: []caseLine{}}
		for _, c := range p.Cases {
			out.Cases = append(out.Cases, caseLine{c.ID, c.Name, c.Params, c.Node})
		}
		return writeJSON(w, out)
	}
	nodes := strings.Join(spec.Nodes.Names, ", ")
	if spec.Nodes.Selector != nil {
		nodes = fmt.Sprintf("nodes matching %v", spec.Nodes.Selector.MatchLabels)
	}
	fmt.Fprintf(w, "qualification %s: %d case(s) x %d cycle(s) on %s; %d at once, at most %d node(s) down\n",
		p.Qualification.Metadata.Name, len(p.Cases), spec.CyclesOrDefault(), nodes, spec.ParallelOrDefault(), spec.MaxUnavailableOrDefault())
	if p.Collapsed > 0 {
		fmt.Fprintf(w, "(%d combination(s) were the same case once fsType and mountOptions, which a block or directory volume has not, were dropped)\n", p.Collapsed)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "#\tID\tCASE\tNODE")
	for i, c := range p.Cases {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\n", i+1, c.ID, c.Name, orAny(c.Node))
	}
	return tw.Flush()
}

func orAny(s string) string {
	if s == "" {
		return "any"
	}
	return s
}

// runQualification sets the cluster up once per reboot method and runs the
// plan's cases on it.
func runQualification(cmd *cobra.Command, g *globals, plan *scenario.Plan, path string, cf clusterFlags, allowReboot bool, outputDir string, parallel int) error {
	ctx := cmd.Context()
	setup := func(_ context.Context, s *scenario.Scenario) (runner.Config, error) {
		cfg, _, err := clusterConfig(cmd, g, s, path, cf, false, allowReboot)
		return cfg, err
	}
	cr := &runner.CaseRunner{Setup: setup, Base: plan.Base, Progress: g.s.Err,
		Template: runner.Config{Build: resultBuild(), AllowReboot: allowReboot, StateDir: g.stateDir(), Holder: holder(), Log: g.logger()}}
	defer func() {
		if err := cr.Close(context.WithoutCancel(ctx)); err != nil {
			fmt.Fprintf(g.s.Err, "warning: release the cluster setup: %v\n", err)
		}
	}()
	base, err := cr.Cluster(ctx)
	if err != nil {
		return err
	}
	pool, err := qualify.ResolveNodes(ctx, base.Client, plan.Qualification.Spec.Nodes)
	if err != nil {
		return exitcode.Usagef("spec.nodes: %v", err)
	}
	if err := cr.SetPool(ctx, pool); err != nil {
		return err
	}
	prov := &report.Provenance{Build: resultBuild(), Host: runner.HostFacts()}
	q, err := qualify.Run(ctx, qualify.Options{Plan: plan, Nodes: pool, Client: base.Client, Runner: cr, OutputDir: outputDir,
		Parallel: parallel, Provenance: prov, Progress: g.s.Err})
	if err != nil {
		return err
	}
	fmt.Fprintln(g.s.Out)
	_ = report.QualificationMarkdown(g.s.Out, q)
	fmt.Fprintf(g.s.Out, "\nresults in %s (qualification.json, junit.xml, summary.md, report.html, cases/<id>/)\n", outputDir)
	if err := ctx.Err(); err != nil {
		return err
	}
	switch {
	case q.Counts.Errored > 0:
		return fmt.Errorf("qualification %s: %d case(s) could not run", q.Name, q.Counts.Errored)
	case !q.Pass:
		return exitcode.ViolationError(fmt.Errorf("qualification %s: %d case(s) failed, %d skipped", q.Name, q.Counts.Failed, q.Counts.Skipped))
	}
	return nil
}
