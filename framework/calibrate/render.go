package calibrate

import (
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/pvreboot/pvreboot/framework/budget"
	"github.com/pvreboot/pvreboot/framework/scenario"
	"sigs.k8s.io/yaml"
)

// Text writes the noise table, each budget's false-alarm rate on that noise
// and the suggested budgets.
func Text(w io.Writer, c *Calibration) error {
	fmt.Fprintf(w, "calibration of %s: %s repeated %d times without a reboot", c.Scenario, c.Phase, c.Repeats)
	if c.Node != "" {
		fmt.Fprintf(w, " on node %s", c.Node)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "\nnoise floor")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "metric\tmean\tmin\tmax\tCV\tmax ratio between repeats")
	for _, n := range c.Noise {
		f := budget.FormatNs
		if n.Unit == "B/s" {
			f = budget.FormatRate
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%.1f%%\tx%.2f\n", n.Metric, f(n.Mean), f(n.Min), f(n.Max), 100*n.CV, n.MaxRatio)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w, "\nbudgets on this noise (every failure is a false alarm)")
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "budget\ttrials\tfalse alarms\trate\t%.0f%% upper bound (independent trials)\tworst seen\tlimit\tmin p\n", 100*Confidence)
	for _, b := range c.Budgets {
		p := "-"
		if b.MinPValue > 0 {
			p = fmt.Sprintf("%.3g", b.MinPValue)
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%.0f%%\t<= %.0f%% (%d of %d)\t%s\t%s\t%s\n", b.Name, b.Trials, b.Alarms, 100*b.Rate, 100*b.RateHi, b.BoundAlarms, b.BoundTrials, value(b.Unit, b.Worst), value(b.Unit, b.Limit), p)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(w, "\nsuggested budgets (the worst repeat with x%g headroom; `-o yaml` prints them to paste into the scenario)\n", Headroom)
	for _, s := range c.Suggested {
		fmt.Fprintf(w, "  %s\n", Describe(s))
	}
	for _, n := range c.Notes {
		fmt.Fprintf(w, "\nnote: %s\n", n)
	}
	return nil
}

// YAML writes the suggested budgets as a scenario's spec.budgets.
func YAML(w io.Writer, c *Calibration) error {
	b, err := yaml.Marshal(map[string]any{"budgets": c.Suggested})
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "# budgets suggested by pvreboot calibrate: %s, %d repeats of %s without a reboot\n", c.Scenario, c.Repeats, c.Phase)
	_, err = w.Write(b)
	return err
}

func value(unit string, v float64) string {
	switch unit {
	case "ns":
		return budget.FormatNs(v)
	case "B/s":
		return budget.FormatRate(v)
	}
	return fmt.Sprintf("x%.2f", v)
}

// Describe puts a suggested budget in one line.
func Describe(s scenario.Budget) string {
	switch {
	case s.Statistical != nil:
		return fmt.Sprintf("%s: statistical against %s, maxSlowdown %g, alpha %g", s.Phase, s.Statistical.Against, s.Statistical.MaxSlowdown, s.Statistical.Alpha)
	case s.RelativeTo != "":
		return fmt.Sprintf("%s %s: relativeTo %s, maxRatio %g", s.Phase, s.Metric, s.RelativeTo, s.MaxRatio)
	case s.Max != nil:
		return fmt.Sprintf("%s %s: max %s", s.Phase, s.Metric, s.Max.Duration)
	case s.Min != nil:
		return fmt.Sprintf("%s throughput: min %s", s.Phase, budget.FormatRate(s.Min.BytesPerSecond))
	}
	return s.Phase
}
