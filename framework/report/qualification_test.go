package report

import (
	"bytes"
	"encoding/xml"
	"strings"
	"testing"
	"time"

	"github.com/pvreboot/pvreboot/framework/budget"
	"github.com/pvreboot/pvreboot/framework/probe"
	"github.com/pvreboot/pvreboot/framework/scenario"
)

func sampleQualification() *Qualification {
	t0 := time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)
	q := &Qualification{Schema: QualificationSchema, Name: "q", StartedAt: t0, FinishedAt: t0.Add(5 * time.Minute),
		Axes: []string{"fsType", "fault"}, Nodes: []string{"w1", "w2"}, Cycles: 2, Parallel: 2, MaxUnavailable: 1}
	base := &Figures{P50Ns: 10e6, P99Ns: 12e6, BytesPerSecond: 1.6e9}
	q.Cases = []CaseResult{
		{ID: "ext4-none", Name: "fsType=ext4 fault=none", Params: []scenario.Param{{Axis: "fsType", Value: "ext4"}, {Axis: "fault", Value: "none"}},
			Node: "w1", Outcome: OutcomePassed, Baseline: base, Ratio: 1.1, Dir: "cases/ext4-none", Elapsed: 40 * time.Second,
			Cycles: []CycleResult{{Cycle: 1, Pass: true, P50Ns: 11e6}, {Cycle: 2, Pass: true, P50Ns: 10e6}},
			Trend:  &TrendResult{Metric: "p50", Slope: budget.Slope{Slope: -0.1, N: 2}}},
		{ID: "ext4-io-throttle", Name: "fsType=ext4 fault=io-throttle", Params: []scenario.Param{{Axis: "fsType", Value: "ext4"}, {Axis: "fault", Value: "io-throttle"}},
			Node: "w2", Outcome: OutcomeFailed, Baseline: base, Ratio: 67.4, FlakeRate: 0.5, Dir: "cases/ext4-io-throttle", Elapsed: 50 * time.Second,
			Failed:    []string{"after-reboot p50 <= 3.0 x baseline", "cycle 2: after-reboot p50 <= 3.0 x baseline"},
			Cycles:    []CycleResult{{Cycle: 1, Pass: false, P50Ns: 674e6, Failed: []string{"after-reboot p50 <= 3.0 x baseline"}}, {Cycle: 2, Pass: true, P50Ns: 10e6}},
			Diagnosis: []Change{{From: "baseline", To: "after-reboot", Field: "cgroup.blkio.throttle.read_bps_device", Before: "", After: "7:0 20971520", Meaning: "an io limit"}}},
		{ID: "xfs-none", Name: "fsType=xfs fault=none", Params: []scenario.Param{{Axis: "fsType", Value: "xfs"}, {Axis: "fault", Value: "none"}},
			Outcome: OutcomeSkipped, Error: "not run: failFast", Dir: "cases/xfs-none"},
	}
	q.Tally()
	return q
}

func TestQualificationRenderings(t *testing.T) {
	t.Parallel()
	q := sampleQualification()
	if q.Pass || q.Counts != (Counts{Passed: 1, Failed: 1, Skipped: 1}) {
		t.Fatalf("tally: pass %v %+v", q.Pass, q.Counts)
	}
	var md bytes.Buffer
	if err := QualificationMarkdown(&md, q); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"## pvreboot qualification q: FAIL", "| ext4 | io-throttle | w2 | 10.0ms | 674.0ms ✗ / 10.0ms | x67.40 |", "50%",
		"**fsType=ext4 fault=io-throttle** (failed)", "most likely cause: "} {
		if !strings.Contains(md.String(), want) {
			t.Errorf("markdown lacks %q:\n%s", want, md.String())
		}
	}
	var ju bytes.Buffer
	if err := QualificationJUnit(&ju, q); err != nil {
		t.Fatal(err)
	}
	var doc junitSuites
	if err := xml.Unmarshal(ju.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	// One testsuite per case; a testcase per cycle, plus the failed case's verdict and the skipped case.
	if len(doc.Suites) != 3 || doc.Failures != 2 || doc.Tests != 6 {
		t.Fatalf("junit: %d suites, %d tests, %d failures\n%s", len(doc.Suites), doc.Tests, doc.Failures, ju.String())
	}
	var html bytes.Buffer
	if err := QualificationHTML(&html, q); err != nil {
		t.Fatal(err)
	}
	h := html.String()
	for _, want := range []string{`<tr data-case="ext4-io-throttle">`, `class="num ratio bad">x67.40`, `class="num ratio good">x1.10`,
		`<a href="cases/ext4-none/report.html">PASSED</a>`, `class="outcome none">SKIPPED`, "most likely cause: ", "default-src 'none'"} {
		if !strings.Contains(h, want) {
			t.Errorf("html lacks %q", want)
		}
	}
	if strings.Contains(h, "http://") || strings.Contains(h, "https://") {
		t.Error("the page names a network address")
	}
}

func TestSummarizeCaseCyclesAndTrend(t *testing.T) {
	t.Parallel()
	res := &Result{Phases: []PhaseResult{phaseWith(scenario.PhaseBaseline, 10e6)}, Verdict: budget.Verdict{Pass: true}}
	for c, p50 := range []int64{10e6, 12e6, 14e6, 16e6} {
		ph := phaseWith(scenario.PhaseAfterReboot, p50)
		ph.Cycle = c + 1
		res.Phases = append(res.Phases, ph)
		res.Cycles = append(res.Cycles, CycleResult{Cycle: c + 1, Pass: true, P50Ns: p50})
	}
	var c CaseResult
	SummarizeCase(&c, res, &scenario.Trend{Metric: scenario.TrendP50, MaxTrendPerCycle: 0.1})
	// +20% of the baseline every cycle, exactly: the interval is the point.
	if c.Trend == nil || !c.Trend.Judged || c.Trend.Pass || c.Outcome != OutcomeFailed || c.Ratio != 1.6 {
		t.Fatalf("case %+v trend %+v", c, c.Trend)
	}
	SummarizeCase(&c, res, &scenario.Trend{Metric: scenario.TrendP50, MaxTrendPerCycle: 0.5})
	if !c.Trend.Pass || c.Outcome != OutcomePassed {
		t.Fatalf("within the limit: %+v %+v", c, c.Trend)
	}
}

// phaseWith is a measured phase whose p50 is p50Ns.
func phaseWith(name string, p50Ns int64) PhaseResult {
	return PhaseResult{Name: name, Probe: &probe.Report{Summary: probe.Summary{P50Ns: p50Ns, P99Ns: p50Ns, BytesPerSecond: 1e15 / float64(p50Ns)}}}
}
