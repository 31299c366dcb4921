package report

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/pvreboot/pvreboot/framework/budget"
	"github.com/pvreboot/pvreboot/framework/probe"
	"github.com/pvreboot/pvreboot/framework/scenario"
)

// HistorySchema names a History document (pvreboot compare -o json|yaml).
const HistorySchema = "pvreboot.dev/history/v1"

// Workload is what a phase measured, as far as two runs must agree on it for
// their latencies to compare.
type Workload struct {
	Method     string `json:"method"`
	Cache      string `json:"cache,omitempty"`
	FileBytes  int64  `json:"fileBytes"`
	ChunkBytes int64  `json:"chunkBytes"`
	// Target is what the copies went to: "file" or "block device".
	Target string `json:"target"`
	FSType string `json:"fsType,omitempty"`
	// Backing is the Local PV's backing on the node (directory, filesystem,
	// block) from the scenario as run; empty for a probe report or a result
	// without provenance.
	Backing string `json:"backing,omitempty"`
}

// WorkloadOf is the workload of phase p of r (r may be nil).
func WorkloadOf(r *Result, p *probe.Report) Workload {
	w := Workload{Method: string(p.Method), Cache: string(p.Cache), FSType: p.Env.Mount.FSType, FileBytes: p.FileBytes, ChunkBytes: p.ChunkBytes, Target: "file"}
	if p.Device != "" {
		w.Target, w.FSType = "block device", ""
	}
	if r != nil && r.Provenance != nil && r.Provenance.Scenario != nil && len(r.Provenance.Scenario.Spec.Volumes) > 0 {
		w.Backing = r.Provenance.Scenario.Spec.Volumes[0].Backing
	}
	return w
}

// Diff says how two workloads differ, one "what: a vs b" each. A backing
// known for only one of them is not a difference.
func (w Workload) Diff(o Workload) []string {
	var out []string
	add := func(what, a, b string) {
		if a != b {
			out = append(out, fmt.Sprintf("%s: %s vs %s", what, a, b))
		}
	}
	add("method", w.Method, o.Method)
	add("file size", probe.FormatSize(w.FileBytes), probe.FormatSize(o.FileBytes))
	add("chunk size", probe.FormatSize(w.ChunkBytes), probe.FormatSize(o.ChunkBytes))
	add("cache", w.Cache, o.Cache)
	add("copies to", w.Target, o.Target)
	add("filesystem", w.FSType, o.FSType)
	if w.Backing != "" && o.Backing != "" {
		add("backing", w.Backing, o.Backing)
	}
	return out
}

// PickPhase returns the phase of r a comparison looks at: name, or when
// name is empty the only phase, else after-reboot. It must have measured.
func PickPhase(r *Result, name string) (*PhaseResult, error) {
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

// History is a history of runs, in the order given, each summarised by one
// phase and compared with a baseline run (the first that measured it).
type History struct {
	Schema string `json:"schema"`
	// Phase is the phase compared ("" asked for the default: after-reboot,
	// or a result's only phase).
	Phase string `json:"phase,omitempty"`
	// Baseline is the index in Runs of the run the others are compared
	// with; -1 when no run measured the phase.
	Baseline int          `json:"baseline"`
	Runs     []HistoryRun `json:"runs"`
	// Newest is the index of the last run that measured the phase: the one
	// Comparison tests against the baseline.
	Newest int `json:"newest"`
	// Comparison is the statistical test of the newest run against the
	// baseline (one-sided exact Mann-Whitney U test on copies).
	Comparison *budget.Result `json:"comparison,omitempty"`
	// Warnings are what makes the trend mean less than it seems: workloads
	// that differ (compared anyway), runs that measured nothing.
	Warnings []string `json:"warnings,omitempty"`
}

// HistoryRun is one run of a History.
type HistoryRun struct {
	// Source is the file the result was read from.
	Source    string    `json:"source"`
	RunID     string    `json:"runID,omitempty"`
	Scenario  string    `json:"scenario"`
	StartedAt time.Time `json:"startedAt"`
	// Verdict is the run's own: PASS, FAIL, ERROR or NO BUDGETS.
	Verdict string `json:"verdict"`
	// Phase is the phase summarised; empty when the run did not measure it
	// (Problem says why).
	Phase   string `json:"phase,omitempty"`
	Problem string `json:"problem,omitempty"`
	Copies  int    `json:"copies,omitempty"`
	Calls   int    `json:"calls,omitempty"`
	// P50Ns and P99Ns are per-call latency percentiles over every call.
	P50Ns          float64 `json:"p50Ns,omitempty"`
	P99Ns          float64 `json:"p99Ns,omitempty"`
	BytesPerSecond float64 `json:"bytesPerSecond,omitempty"`
	// P50Ratio and ThroughputRatio are against the baseline run's values.
	P50Ratio        float64   `json:"p50Ratio,omitempty"`
	ThroughputRatio float64   `json:"throughputRatio,omitempty"`
	Workload        *Workload `json:"workload,omitempty"`
	// Differs says how the run's workload differs from the baseline's.
	Differs []string `json:"differs,omitempty"`

	phase budget.Phase
}

// Measured reports whether the run measured the trend's phase.
func (t HistoryRun) Measured() bool { return t.Phase != "" }

// BudgetPhase is the run's phase as budget input (nothing when not measured).
func (t HistoryRun) BudgetPhase() budget.Phase { return t.phase }

// Label names the run in tables and plots: its run ID, else its number.
func (t HistoryRun) Label(i int) string {
	if t.RunID != "" {
		return t.RunID
	}
	return fmt.Sprintf("#%d", i+1)
}

// NewHistory summarises results (read from sources, in that order) by phase
// (empty: the default of PickPhase).
func NewHistory(phase string, sources []string, results []*Result) *History {
	t := &History{Schema: HistorySchema, Phase: phase, Baseline: -1, Newest: -1}
	for i, r := range results {
		tr := HistoryRun{Source: sources[i], Scenario: r.Scenario, StartedAt: r.StartedAt, Verdict: verdictWord(r)}
		if r.Provenance != nil {
			tr.RunID = r.Provenance.RunID
		}
		p, err := PickPhase(r, phase)
		if err != nil {
			tr.Problem = err.Error()
			t.Warnings = append(t.Warnings, fmt.Sprintf("run %d (%s): %v", i+1, sources[i], err))
			t.Runs = append(t.Runs, tr)
			continue
		}
		tr.Phase = p.Name
		tr.phase = PhaseFromProbe(p.Probe)
		tr.Copies, tr.Calls = len(tr.phase.Iterations), len(tr.phase.CallNs)
		tr.P50Ns, _ = budget.Metric(tr.phase, "p50")
		tr.P99Ns, _ = budget.Metric(tr.phase, "p99")
		tr.BytesPerSecond = tr.phase.BytesPerSecond
		w := WorkloadOf(r, p.Probe)
		tr.Workload = &w
		if t.Baseline < 0 {
			t.Baseline = i
		}
		t.Newest = i
		t.Runs = append(t.Runs, tr)
	}
	if t.Baseline < 0 {
		return t
	}
	base := t.Runs[t.Baseline]
	for i := range t.Runs {
		tr := &t.Runs[i]
		if !tr.Measured() {
			continue
		}
		if base.P50Ns > 0 {
			tr.P50Ratio = tr.P50Ns / base.P50Ns
		}
		if base.BytesPerSecond > 0 {
			tr.ThroughputRatio = tr.BytesPerSecond / base.BytesPerSecond
		}
		if i != t.Baseline {
			tr.Differs = base.Workload.Diff(*tr.Workload)
		}
	}
	return t
}

// Differing lists the runs whose workload differs from the baseline's, one
// line each: "run 3 (ID, FILE): method: sendfile vs readwrite".
func (t *History) Differing() []string {
	var out []string
	for i, tr := range t.Runs {
		if len(tr.Differs) > 0 {
			out = append(out, fmt.Sprintf("run %d (%s, %s): %s", i+1, tr.Label(i), tr.Source, strings.Join(tr.Differs, "; ")))
		}
	}
	return out
}

func ratioString(x float64) string {
	if !(x > 0) {
		return "-"
	}
	return fmt.Sprintf("x%.2f", x)
}

// historyRow is one run of the trend table as text.
type historyRow struct {
	N, Run, Started, Verdict, Phase, Copies, P50, P99, Rate, P50Ratio, RateRatio, Source string
	Baseline, Newest, Measured                                                           bool
}

func historyRows(t *History) []historyRow {
	var out []historyRow
	for i, tr := range t.Runs {
		row := historyRow{N: fmt.Sprint(i + 1), Run: tr.Label(i), Started: "-", Verdict: tr.Verdict, Phase: "-", Copies: "-",
			P50: "-", P99: "-", Rate: "-", P50Ratio: "-", RateRatio: "-", Source: tr.Source,
			Baseline: i == t.Baseline, Newest: i == t.Newest && t.Newest != t.Baseline, Measured: tr.Measured()}
		if !tr.StartedAt.IsZero() {
			row.Started = tr.StartedAt.UTC().Format(time.RFC3339)
		}
		if tr.Measured() {
			row.Phase, row.Copies = tr.Phase, fmt.Sprint(tr.Copies)
			row.P50, row.P99, row.Rate = budget.FormatNs(tr.P50Ns), budget.FormatNs(tr.P99Ns), budget.FormatRate(tr.BytesPerSecond)
			row.P50Ratio, row.RateRatio = ratioString(tr.P50Ratio), ratioString(tr.ThroughputRatio)
		}
		out = append(out, row)
	}
	return out
}

// HistoryText writes the trend table: one row per run, its p50, p99 and
// throughput of the phase and their ratio to the baseline's, then the
// newest run's test against the baseline.
func HistoryText(w io.Writer, t *History) error {
	phase := t.Phase
	if phase == "" && t.Baseline >= 0 {
		phase = t.Runs[t.Baseline].Phase
	}
	fmt.Fprintf(w, "history of %d runs, phase %s", len(t.Runs), phase)
	if t.Baseline >= 0 {
		fmt.Fprintf(w, ", baseline run %d (%s)", t.Baseline+1, t.Runs[t.Baseline].Label(t.Baseline))
	}
	fmt.Fprintln(w, ":")
	for _, x := range t.Warnings {
		fmt.Fprintf(w, "warning: %s\n", x)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  #\tRUN\tSTARTED\tVERDICT\tCOPIES\tP50\tP99\tTHROUGHPUT\tP50 VS BASE\tTHROUGHPUT VS BASE\tFILE")
	for _, x := range historyRows(t) {
		mark := ""
		switch {
		case x.Baseline:
			mark = " (baseline)"
		case x.Newest:
			mark = " (newest)"
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s%s\n", x.N, x.Run, x.Started, x.Verdict, x.Copies, x.P50, x.P99, x.Rate, x.P50Ratio, x.RateRatio, x.Source, mark)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if c := t.Comparison; c != nil {
		word := "PASS"
		if !c.Pass {
			word = "FAIL"
		}
		fmt.Fprintf(w, "newest (run %d) vs baseline (run %d): %s: %s\n", t.Newest+1, t.Baseline+1, word, c.Detail)
	}
	return nil
}
