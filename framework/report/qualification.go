package report

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/pvreboot/pvreboot/framework/budget"
	"github.com/pvreboot/pvreboot/framework/scenario"
)

// QualificationSchema is the schema of a qualification's result.
const QualificationSchema = "pvreboot.dev/qualification/v1"

// Case outcomes.
const (
	OutcomePassed  = "passed"
	OutcomeFailed  = "failed"  // a budget or a data check failed
	OutcomeError   = "error"   // the case could not be run to the end
	OutcomeSkipped = "skipped" // not run: failFast, or the qualification was stopped
)

// Qualification is the result of a qualification: every case with its
// parameters, verdict, per-cycle figures, trend and diagnosis.
type Qualification struct {
	Schema     string    `json:"schema"`
	Name       string    `json:"name"`
	StartedAt  time.Time `json:"startedAt"`
	FinishedAt time.Time `json:"finishedAt"`
	// Pass: every case ran and passed.
	Pass           bool         `json:"pass"`
	Axes           []string     `json:"axes"`
	Nodes          []string     `json:"nodes"`
	Cycles         int          `json:"cycles"`
	Parallel       int          `json:"parallel"`
	MaxUnavailable int          `json:"maxUnavailable"`
	FailFast       bool         `json:"failFast,omitempty"`
	Cases          []CaseResult `json:"cases"`
	Counts         Counts       `json:"counts"`
	// Plan is the plan as run, after defaults.
	Plan       *scenario.Qualification `json:"plan,omitempty"`
	Provenance *Provenance             `json:"provenance,omitempty"`
	Notes      []string                `json:"notes,omitempty"`
}

// Counts of case outcomes.
type Counts struct {
	Passed  int `json:"passed"`
	Failed  int `json:"failed"`
	Errored int `json:"errored"`
	Skipped int `json:"skipped"`
	Resumed int `json:"resumed"`
}

// Figures are one phase's headline numbers.
type Figures struct {
	P50Ns          int64   `json:"p50Ns"`
	P99Ns          int64   `json:"p99Ns"`
	BytesPerSecond float64 `json:"bytesPerSecond"`
}

// CaseResult is one case of a qualification.
type CaseResult struct {
	ID      string           `json:"id"`
	Name    string           `json:"name"`
	Params  []scenario.Param `json:"params"`
	Node    string           `json:"node,omitempty"`
	RunID   string           `json:"runID,omitempty"`
	Outcome string           `json:"outcome"`
	// Resumed: finished by an earlier invocation, read back from its
	// result.
	Resumed    bool          `json:"resumed,omitempty"`
	StartedAt  time.Time     `json:"startedAt,omitzero"`
	FinishedAt time.Time     `json:"finishedAt,omitzero"`
	Elapsed    time.Duration `json:"elapsedNs,omitempty"`
	Error      string        `json:"error,omitempty"`
	// Failed names the budgets and checks that failed.
	Failed        []string      `json:"failed,omitempty"`
	Baseline      *Figures      `json:"baseline,omitempty"`
	Cycles        []CycleResult `json:"cycles,omitempty"`
	AfterRecreate *Figures      `json:"afterRecreate,omitempty"`
	// Ratio is the worst cycle's after-reboot p50 over the baseline's.
	Ratio float64 `json:"ratio,omitempty"`
	// FlakeRate is the share of cycles that failed.
	FlakeRate float64      `json:"flakeRate"`
	Trend     *TrendResult `json:"trend,omitempty"`
	Diagnosis []Change     `json:"diagnosis,omitempty"`
	// Warnings say why a verdict may not mean what it says (a phase blind
	// to the data path: copy_file_range served by shared extents).
	Warnings []string `json:"warnings,omitempty"`
	// Dir is the case's directory (its own result.json, report.html...),
	// relative to the qualification's.
	Dir string `json:"dir"`
}

// TrendResult is a case's slope over its cycles, as a fraction of the
// baseline per cycle.
type TrendResult struct {
	Metric string       `json:"metric"`
	Slope  budget.Slope `json:"slope"`
	// Limit is the plan's maxTrendPerCycle; 0 when the plan sets none
	// (the slope is reported, not judged).
	Limit  float64 `json:"limit,omitempty"`
	Judged bool    `json:"judged"`
	Pass   bool    `json:"pass"`
	Detail string  `json:"detail"`
}

func phaseFigures(p *PhaseResult) *Figures {
	if p == nil || p.Probe == nil {
		return nil
	}
	return &Figures{P50Ns: p.Probe.Summary.P50Ns, P99Ns: p.Probe.Summary.P99Ns, BytesPerSecond: p.Probe.Summary.BytesPerSecond}
}

// SummarizeCase fills a case's figures, verdict, flake rate and trend from
// its run's result. trend may be nil.
func SummarizeCase(c *CaseResult, r *Result, trend *scenario.Trend) {
	c.Baseline = phaseFigures(r.Phase(scenario.PhaseBaseline))
	c.AfterRecreate = phaseFigures(r.Phase(scenario.PhaseAfterRecreate))
	c.Cycles = slices.Clone(r.Cycles)
	if len(c.Cycles) == 0 {
		// One cycle: its after-reboot phase, judged by the run's verdict.
		if ar := r.Phase(scenario.PhaseAfterReboot); ar != nil {
			cr := CycleResult{Cycle: 1, Pass: r.Verdict.Pass, Error: ar.Error}
			if f := phaseFigures(ar); f != nil {
				cr.P50Ns, cr.P99Ns, cr.BytesPerSecond = f.P50Ns, f.P99Ns, f.BytesPerSecond
			}
			c.Cycles = []CycleResult{cr}
		}
	}
	failing := 0
	for _, cy := range c.Cycles {
		if !cy.Pass {
			failing++
		}
		if c.Baseline != nil && c.Baseline.P50Ns > 0 && cy.P50Ns > 0 {
			c.Ratio = math.Max(c.Ratio, float64(cy.P50Ns)/float64(c.Baseline.P50Ns))
		}
	}
	if len(c.Cycles) > 0 {
		c.FlakeRate = float64(failing) / float64(len(c.Cycles))
	}
	c.Failed = nil
	for _, f := range r.Verdict.Failures() {
		c.Failed = append(c.Failed, f.Name)
	}
	c.Diagnosis = r.Diagnosis
	c.Warnings = nil
	for _, br := range r.Verdict.Results {
		for _, w := range br.Warnings {
			if !slices.Contains(c.Warnings, w) {
				c.Warnings = append(c.Warnings, w)
			}
		}
	}
	c.Trend = caseTrend(c, trend)
	switch {
	case len(r.Errors) > 0:
		c.Outcome, c.Error = OutcomeError, strings.Join(r.Errors, "; ")
	case r.Verdict.Pass && (c.Trend == nil || !c.Trend.Judged || c.Trend.Pass):
		c.Outcome = OutcomePassed
	default:
		c.Outcome = OutcomeFailed
		if c.Trend != nil && c.Trend.Judged && !c.Trend.Pass {
			c.Failed = append(c.Failed, "trend: "+c.Trend.Detail)
		}
	}
}

// caseTrend fits the cycles' p50 (or throughput), relative to the
// baseline's, over the cycle number. Without a baseline or with one cycle
// there is no trend.
func caseTrend(c *CaseResult, t *scenario.Trend) *TrendResult {
	metric := scenario.TrendP50
	if t != nil {
		metric = t.Metric
	}
	if c.Baseline == nil || len(c.Cycles) < 2 {
		return nil
	}
	base := float64(c.Baseline.P50Ns)
	if metric == scenario.TrendThroughput {
		base = c.Baseline.BytesPerSecond
	}
	if base <= 0 {
		return nil
	}
	var x, y []float64
	for _, cy := range c.Cycles {
		v := float64(cy.P50Ns)
		if metric == scenario.TrendThroughput {
			v = cy.BytesPerSecond
		}
		if v > 0 {
			x = append(x, float64(cy.Cycle))
			y = append(y, v/base)
		}
	}
	if len(x) < 2 {
		return nil
	}
	tr := &TrendResult{Metric: metric, Slope: budget.FitSlope(x, y, 0.95), Pass: true}
	tr.Detail = fmt.Sprintf("%s %+.1f%% of the baseline per cycle", metric, 100*tr.Slope.Slope)
	if tr.Slope.Interval {
		tr.Detail += fmt.Sprintf(" (95%% interval %+.1f%% to %+.1f%%, %d cycles)", 100*tr.Slope.Lo, 100*tr.Slope.Hi, tr.Slope.N)
	} else {
		tr.Detail += fmt.Sprintf(" (%d cycles: no interval below %d)", tr.Slope.N, scenario.MinCyclesForTrend)
	}
	if t != nil {
		tr.Limit = t.MaxTrendPerCycle
		if tr.Slope.Interval {
			tr.Judged = true
			tr.Pass = !t.Exceeded(tr.Slope.Lo, tr.Slope.Hi)
			tr.Detail += fmt.Sprintf("; limit %.1f%% per cycle", 100*t.MaxTrendPerCycle)
		}
	}
	return tr
}

// Tally counts the outcomes and sets Pass.
func (q *Qualification) Tally() {
	q.Counts = Counts{}
	for _, c := range q.Cases {
		switch c.Outcome {
		case OutcomePassed:
			q.Counts.Passed++
		case OutcomeFailed:
			q.Counts.Failed++
		case OutcomeError:
			q.Counts.Errored++
		default:
			q.Counts.Skipped++
		}
		if c.Resumed {
			q.Counts.Resumed++
		}
	}
	q.Pass = len(q.Cases) > 0 && q.Counts.Passed == len(q.Cases)
}

// WriteJSON writes the qualification result to a file.
func (q *Qualification) WriteJSON(path string) error {
	b, err := json.MarshalIndent(q, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// ReadQualification reads a qualification result.
func ReadQualification(path string) (*Qualification, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read qualification: %w", err)
	}
	var q Qualification
	if err := json.Unmarshal(b, &q); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if q.Schema != QualificationSchema {
		return nil, fmt.Errorf("%s: schema %q is not %s", path, q.Schema, QualificationSchema)
	}
	return &q, nil
}

// fmtNs formats nanoseconds, or "-" for none.
func fmtNs(ns int64) string {
	if ns <= 0 {
		return "-"
	}
	return budget.FormatNs(float64(ns))
}

func fmtRate(bps float64) string {
	if bps <= 0 {
		return "-"
	}
	return budget.FormatRate(bps)
}

// paramValue is a case's value of an axis, "-" when it has none.
func paramValue(c CaseResult, axis string) string {
	for _, p := range c.Params {
		if p.Axis == axis {
			if p.Value == "" {
				return `""`
			}
			return p.Value
		}
	}
	return "-"
}

// cycleCell is "p50 (pass)" for each cycle, joined.
func cycleCell(c CaseResult) string {
	var parts []string
	for _, cy := range c.Cycles {
		s := fmtNs(cy.P50Ns)
		if !cy.Pass {
			s += " ✗"
		}
		parts = append(parts, s)
	}
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, " / ")
}

func ratioCell(c CaseResult) string {
	if c.Ratio == 0 {
		return "-"
	}
	return fmt.Sprintf("x%.2f", c.Ratio)
}

func trendCell(c CaseResult) string {
	if c.Trend == nil {
		return "-"
	}
	s := fmt.Sprintf("%+.1f%%/cycle", 100*c.Trend.Slope.Slope)
	if c.Trend.Judged && !c.Trend.Pass {
		s += " ✗"
	}
	return s
}

func outcomeWord(c CaseResult) string {
	w := strings.ToUpper(c.Outcome)
	if len(c.Warnings) > 0 {
		w += " ⚠"
	}
	if c.Resumed {
		w += " (resumed)"
	}
	return w
}

// QualificationMarkdown renders the matrix as a Markdown table, for a
// pipeline's summary.
func QualificationMarkdown(w io.Writer, q *Qualification) error {
	verdict := "PASS"
	if !q.Pass {
		verdict = "FAIL"
	}
	fmt.Fprintf(w, "## pvreboot qualification %s: %s\n\n", q.Name, verdict)
	fmt.Fprintf(w, "%d case(s): %d passed, %d failed, %d errored, %d skipped (%d resumed); %d cycle(s) each on %s; %s wall time.\n\n",
		len(q.Cases), q.Counts.Passed, q.Counts.Failed, q.Counts.Errored, q.Counts.Skipped, q.Counts.Resumed, q.Cycles,
		strings.Join(q.Nodes, ", "), q.FinishedAt.Sub(q.StartedAt).Round(time.Second))
	head := append(slices.Clone(q.Axes), "node", "baseline p50", "after-reboot p50 per cycle", "ratio", "after-recreate p50", "flake", "trend", "time", "outcome")
	fmt.Fprintf(w, "| %s |\n|%s\n", strings.Join(head, " | "), strings.Repeat(" --- |", len(head)))
	for _, c := range q.Cases {
		var cells []string
		for _, a := range q.Axes {
			cells = append(cells, paramValue(c, a))
		}
		var base, rec string = "-", "-"
		if c.Baseline != nil {
			base = fmtNs(c.Baseline.P50Ns)
		}
		if c.AfterRecreate != nil {
			rec = fmtNs(c.AfterRecreate.P50Ns)
		}
		cells = append(cells, orDash(c.Node), base, cycleCell(c), ratioCell(c), rec, fmt.Sprintf("%.0f%%", 100*c.FlakeRate), trendCell(c),
			c.Elapsed.Round(time.Second).String(), outcomeWord(c))
		for i := range cells {
			cells[i] = mdCell(cells[i])
		}
		fmt.Fprintf(w, "| %s |\n", strings.Join(cells, " | "))
	}
	for _, c := range q.Cases {
		if c.Outcome != OutcomeFailed && c.Outcome != OutcomeError {
			continue
		}
		fmt.Fprintf(w, "\n**%s** (%s): ", mdCell(c.Name), c.Outcome)
		switch {
		case c.Error != "":
			fmt.Fprintf(w, "%s", mdCell(c.Error))
		default:
			fmt.Fprintf(w, "%s", mdCell(strings.Join(c.Failed, "; ")))
		}
		if len(c.Diagnosis) > 0 {
			fmt.Fprintf(w, "; most likely cause: %s", mdCell(c.Diagnosis[0].String()))
		}
		fmt.Fprintln(w)
	}
	for _, c := range q.Cases {
		for _, x := range c.Warnings {
			fmt.Fprintf(w, "\n⚠ **%s**: %s\n", mdCell(c.Name), mdCell(x))
		}
	}
	for _, n := range q.Notes {
		fmt.Fprintf(w, "\n> %s\n", mdCell(n))
	}
	return nil
}

// QualificationJUnit renders one testsuite per case and one testcase per
// cycle (its after-reboot budgets), plus the case's other budgets, trend
// and errors.
func QualificationJUnit(w io.Writer, q *Qualification) error {
	doc := junitSuites{Name: "pvreboot qualification " + q.Name}
	for _, c := range q.Cases {
		s := junitSuite{Name: c.Name, Time: fmt.Sprintf("%.3f", c.Elapsed.Seconds()),
			Properties: []junitProperty{{"node", c.Node}, {"case", c.ID}, {"outcome", c.Outcome}}}
		for _, p := range c.Params {
			s.Properties = append(s.Properties, junitProperty{"param." + p.Axis, p.Value})
		}
		class := "pvreboot.qualification." + c.ID
		switch c.Outcome {
		case OutcomeSkipped:
			s.Cases = append(s.Cases, junitCase{Name: "case", Classname: class, SystemOut: "not run: " + c.Error})
		case OutcomeError:
			s.Cases = append(s.Cases, junitCase{Name: "case", Classname: class, Error: &junitFailure{Message: c.Error, Type: "error", Body: c.Error}})
			s.Errors++
		}
		for _, cy := range c.Cycles {
			jc := junitCase{Name: fmt.Sprintf("cycle %d", cy.Cycle), Classname: class,
				SystemOut: fmt.Sprintf("after-reboot p50 %s p99 %s %s", fmtNs(cy.P50Ns), fmtNs(cy.P99Ns), fmtRate(cy.BytesPerSecond))}
			if !cy.Pass {
				msg := strings.Join(cy.Failed, "; ")
				if cy.Error != "" {
					msg = cy.Error
				}
				jc.Failure = &junitFailure{Message: msg, Type: "cycle", Body: msg}
				s.Failures++
			}
			s.Cases = append(s.Cases, jc)
		}
		if c.Outcome == OutcomeFailed {
			var other []string
			for _, f := range c.Failed {
				if !strings.HasPrefix(f, "cycle ") {
					other = append(other, f)
				}
			}
			jc := junitCase{Name: "verdict", Classname: class}
			if len(other) > 0 {
				msg := strings.Join(other, "; ")
				if len(c.Diagnosis) > 0 {
					msg += "\n\nMost likely cause: " + c.Diagnosis[0].String()
				}
				jc.Failure = &junitFailure{Message: strings.Join(other, "; "), Type: "budget", Body: msg}
				s.Failures++
			}
			s.Cases = append(s.Cases, jc)
		}
		s.Tests = len(s.Cases)
		doc.Tests += s.Tests
		doc.Failures += s.Failures
		doc.Errors += s.Errors
		doc.Suites = append(doc.Suites, s)
	}
	return encodeJUnit(w, doc)
}
