package report

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pvreboot/pvreboot/framework/budget"
)

// Fixtures of runs that stopped before their end.
const (
	// fixtureFailedReboot: the baseline measured, then the node did not come
	// back within the reboot timeout; events, node conditions and the
	// cluster's logs were saved.
	fixtureFailedReboot = "failed-reboot"
	// fixtureSetupFailed: interrupted while the kind cluster was being made:
	// no node facts, no phase, no verdict.
	fixtureSetupFailed = "setup-interrupted"
)

func failedFixture(kind string) *Result {
	t0 := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	switch kind {
	case fixtureFailedReboot:
		r := fixture(fixtureHealthy)
		r.Phases = r.Phases[:1]
		rb := r.Reboots[0]
		rb.KubeletBack, rb.NodeReady, rb.PodReady, rb.BootIDAfter, rb.Notes = nil, nil, nil, "", nil
		r.Reboots = []Reboot{rb}
		err := `node pvreboot-worker: want Ready after reboot, last Ready=Unknown (NodeStatusUnknown) 1m0s ago`
		r.Errors = []string{"reboot: kind-restart of pvreboot-worker and wait for node and pod: " + err}
		r.Failure = &Failure{Step: "reboot", Error: err, Artifacts: []string{"events.txt", "events.json", "node-conditions.json", "cluster-logs/"}}
		r.Timings = []StepTiming{{Step: "prepare: namespace, local PVs, workload pod on pvreboot-worker", Elapsed: 12 * time.Second},
			{Step: "baseline: canary and measurement", Elapsed: 9 * time.Second}, {Step: "reboot: kind-restart of pvreboot-worker and wait for node and pod", Elapsed: 60 * time.Second}}
		budgets := []budget.Budget{{Kind: budget.Statistical, Phase: "after-reboot", RelativeTo: "baseline", MaxSlowdown: 1.5, Alpha: 0.01}}
		r.Verdict = budget.Evaluate(budgets, r.BudgetPhases())
		r.Verdict.Pass = false
		r.Diagnosis = DiagnoseResult(r)
		return r
	case fixtureSetupFailed:
		err := "create kind cluster \"pvreboot\": context canceled"
		return &Result{Schema: Schema, Scenario: "sendfile-after-reboot", StartedAt: t0, FinishedAt: t0.Add(41 * time.Second),
			Cluster: ClusterFacts{Name: "pvreboot", Provider: "kind"}, Node: NodeFacts{Name: "pvreboot-worker"},
			Errors:     []string{"cluster setup: " + err},
			Failure:    &Failure{Step: "cluster-setup", Error: err, Interrupted: true, ArtifactErrors: []string{"cluster-logs/: kind cluster \"pvreboot\" not found"}},
			Provenance: &Provenance{Build: Build{Version: "(devel)"}, RunID: "1a2b3c4d", Host: HostFacts{OS: "linux", Arch: "amd64"}}}
	}
	panic("unknown fixture " + kind)
}

// A run that failed in a step, or was interrupted before anything was made,
// renders in every format: JSON that reads back, JUnit with an errored
// testcase naming the step, Markdown, text and an HTML page that says which
// step and why, whatever phases it has.
func TestGoldenFailed(t *testing.T) {
	t.Parallel()
	for _, name := range []string{fixtureFailedReboot, fixtureSetupFailed} {
		r := failedFixture(name)
		for _, f := range Formats {
			t.Run(name+"/"+f, func(t *testing.T) {
				var buf bytes.Buffer
				if err := Render(&buf, r, f); err != nil {
					t.Fatal(err)
				}
				golden := filepath.Join("testdata", name+"."+goldenExt(f))
				if *update {
					if err := os.WriteFile(golden, buf.Bytes(), 0o644); err != nil {
						t.Fatal(err)
					}
				}
				want, err := os.ReadFile(golden)
				if err != nil {
					t.Fatalf("%v (run go test -update)", err)
				}
				if !bytes.Equal(buf.Bytes(), want) {
					t.Errorf("%s differs from golden %s (run go test ./framework/report -update if intended):\n%s", f, golden, buf.String())
				}
				checkFailedRendering(t, r, f, buf.Bytes())
			})
		}
	}
}

// checkFailedRendering checks what each format must say about the failure,
// beyond matching its golden file.
func checkFailedRendering(t *testing.T, r *Result, format string, out []byte) {
	t.Helper()
	step := r.Failure.Step
	switch format {
	case "json":
		back, err := Decode(out)
		if err != nil || back.Failure == nil || back.Failure.Step != step || back.Failure.Error != r.Failure.Error || back.Failure.Interrupted != r.Failure.Interrupted {
			t.Errorf("JSON does not read back with its failure: %v %+v", err, back)
		}
	case "junit":
		var doc junitSuites
		if err := xml.Unmarshal(out, &doc); err != nil {
			t.Fatalf("JUnit: %v", err)
		}
		var errored []junitCase
		for _, c := range doc.Suites[0].Cases {
			if c.Error != nil {
				errored = append(errored, c)
			}
		}
		if doc.Errors != 1 || len(errored) != 1 || errored[0].Name != "step "+step || !strings.Contains(errored[0].Error.Message, r.Failure.Error) {
			t.Errorf("JUnit: want one errored testcase \"step %s\", got errors=%d %+v", step, doc.Errors, errored)
		}
	case "markdown", "text":
		if !strings.Contains(string(out), "in step") || !strings.Contains(string(out), step) || !strings.Contains(string(out), "ERROR") {
			t.Errorf("%s does not name the step %s", format, step)
		}
	case "html":
		if !strings.Contains(string(out), `data-kind="failure" data-step="`+step+`"`) || !strings.Contains(string(out), `data-verdict="ERROR"`) {
			t.Errorf("HTML does not name the step %s", step)
		}
	}
}

// A result written before Failure existed reads as it did.
func TestFailureIsOptional(t *testing.T) {
	t.Parallel()
	b, err := json.Marshal(fixture(fixtureHealthy))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), `"failure"`) {
		t.Error("a run that did not fail writes a failure field")
	}
}
