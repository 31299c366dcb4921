package runner

import (
	"strings"
	"testing"

	"github.com/pvreboot/pvreboot/framework/probe"
	"github.com/pvreboot/pvreboot/framework/report"
)

// measured is a phase of five copies of four calls of about p50 ns.
func measured(name string, cycle int, p50 int64) report.PhaseResult {
	var its []probe.Iteration
	for i := range 5 {
		var calls []probe.Call
		for j := range 4 {
			calls = append(calls, probe.Call{Ns: p50 + int64(i*4+j)})
		}
		its = append(its, probe.Iteration{Calls: calls})
	}
	return report.PhaseResult{Name: name, Cycle: cycle, Probe: &probe.Report{Iterations: its,
		Summary: probe.Summary{P50Ns: p50, P99Ns: p50 + 19, BytesPerSecond: 1e15 / float64(p50)}}}
}

// Each cycle's after-reboot phase is judged by the budgets about it; a
// later cycle's failure fails the run, named by its cycle; budgets about
// other phases are judged once. A further volume is judged by the same
// budgets, named by the volume.
func TestFinishJudgesCyclesAndVolumes(t *testing.T) {
	t.Parallel()
	s := mustScenario(t, `apiVersion: pvreboot.dev/v1alpha1
kind: Scenario
metadata: {name: c}
spec:
  budgets:
  - {phase: after-reboot, metric: p50, relativeTo: baseline, maxRatio: 3}
  - {phase: after-recreate, metric: p50, relativeTo: baseline, maxRatio: 3}
`)
	r := &Run{cfg: Config{Scenario: s, Cycles: 3}, Result: &report.Result{}}
	r.Result.Phases = []report.PhaseResult{measured("baseline", 0, 1000), measured("after-reboot", 1, 1100),
		measured("after-reboot", 2, 9000), measured("after-reboot", 3, 1200), measured("after-recreate", 0, 1000)}
	r.Result.Volumes = []report.VolumeResult{{Name: "data-1", Phases: []report.PhaseResult{measured("baseline", 0, 1000),
		measured("after-reboot", 1, 5000), measured("after-recreate", 0, 1000)}}}
	r.Finish()
	res := r.Result
	if res.Verdict.Pass {
		t.Fatal("passed with a cycle x9 and a volume x5")
	}
	if len(res.Cycles) != 3 || !res.Cycles[0].Pass || res.Cycles[1].Pass || !res.Cycles[2].Pass || res.Cycles[1].P50Ns != 9000 {
		t.Fatalf("cycles %+v", res.Cycles)
	}
	var failed []string
	for _, f := range res.Verdict.Failures() {
		failed = append(failed, f.Name)
	}
	got := strings.Join(failed, "\n")
	for _, want := range []string{"cycle 2: ", "volume data-1: "} {
		if !strings.Contains(got, want) {
			t.Errorf("failures lack %q:\n%s", want, got)
		}
	}
	if len(failed) != 2 {
		t.Errorf("%d failures, want 2 (cycle 2, volume data-1):\n%s", len(failed), got)
	}
}

// A run of three cycles that stopped after the first: the cycles never
// measured fail.
func TestUnmeasuredCyclesFail(t *testing.T) {
	t.Parallel()
	s := mustScenario(t, "apiVersion: pvreboot.dev/v1alpha1\nkind: Scenario\nmetadata: {name: c}\n")
	r := &Run{cfg: Config{Scenario: s, Cycles: 3}, Result: &report.Result{Phases: []report.PhaseResult{measured("baseline", 0, 1000), measured("after-reboot", 1, 1000)}}}
	r.Finish()
	if r.Result.Verdict.Pass || len(r.Result.Cycles) != 3 || r.Result.Cycles[2].Pass || !strings.Contains(r.Result.Cycles[2].Error, "not measured") {
		t.Fatalf("verdict %v cycles %+v", r.Result.Verdict.Pass, r.Result.Cycles)
	}
}
