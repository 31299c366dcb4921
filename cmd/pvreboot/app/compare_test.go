package app

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pvreboot/pvreboot/framework/report"
	"sigs.k8s.io/yaml"
)

// compare refuses two runs of different workloads (exit 2, naming what
// differs) unless told otherwise; runs of the same workload compare.
func TestCompareRefusesDifferentWorkloads(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	probeTo := func(name string, args ...string) string {
		t.Helper()
		code, out, stderr := run(t, append([]string{"probe", "--dir", dir, "--file-size", "1Mi", "--chunk-size", "256Ki", "--iterations", "5", "-o", "json"}, args...)...)
		if code != 0 {
			t.Fatalf("probe %v: exit %d: %s", args, code, stderr)
		}
		f := filepath.Join(t.TempDir(), name)
		if err := os.WriteFile(f, []byte(out), 0o644); err != nil {
			t.Fatal(err)
		}
		return f
	}
	a := probeTo("a.json", "--method", "sendfile")
	b := probeTo("b.json", "--method", "sendfile")
	c := probeTo("c.json", "--method", "readwrite", "--chunk-size", "128Ki")

	code, _, stderr := run(t, "compare", a, c)
	if code != 2 || !strings.Contains(stderr, "measured different workloads (method: sendfile vs readwrite; chunk size: 256Ki vs 128Ki)") {
		t.Errorf("different workloads: exit %d, stderr %q", code, stderr)
	}
	code, out, stderr := run(t, "compare", "--allow-different-workloads", "--max-slowdown", "1000", a, c)
	if code != 0 || !strings.Contains(out, "warning: different workloads (method: sendfile vs readwrite") {
		t.Errorf("--allow-different-workloads: exit %d, out %q, stderr %q", code, out, stderr)
	}
	if code, out, stderr := run(t, "compare", "--max-slowdown", "1000", a, b); code != 0 || strings.Contains(out, "different workloads") {
		t.Errorf("same workload: exit %d, out %q, stderr %q", code, out, stderr)
	}
}

// probeResult probes dir and returns the report wrapped as a Result.
func probeResult(t *testing.T, dir string, args ...string) *report.Result {
	t.Helper()
	code, out, stderr := run(t, append([]string{"probe", "--dir", dir, "--file-size", "1Mi", "--chunk-size", "256Ki", "--iterations", "5", "-o", "json"}, args...)...)
	if code != 0 {
		t.Fatalf("probe %v: exit %d: %s", args, code, stderr)
	}
	r, err := report.Decode([]byte(out))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// writeResult writes r as dir/sub/result.json, started at start with run ID id.
func writeResult(t *testing.T, dir, sub, id string, start time.Time, r *report.Result) string {
	t.Helper()
	r.StartedAt = start
	r.Provenance = &report.Provenance{RunID: id}
	f := filepath.Join(dir, sub, "result.json")
	if err := os.MkdirAll(filepath.Dir(f), 0o755); err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(f, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return f
}

// compare over a directory takes every result.json below it by start time
// (not path), shows one row per run with the ratio to the baseline (the
// first), and judges the newest against it; -o json|yaml|html print the
// same history as a document or a page with plots.
func TestCompareHistory(t *testing.T) {
	t.Parallel()
	work, hist := t.TempDir(), t.TempDir()
	t0 := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	// Paths sort c, b, a; start times a, b, c... reversed: c is oldest.
	writeResult(t, hist, "c", "run-old", t0, probeResult(t, work))
	writeResult(t, hist, "b", "run-mid", t0.Add(time.Hour), probeResult(t, work))
	writeResult(t, hist, "a", "run-new", t0.Add(2*time.Hour), probeResult(t, work))
	// A run that failed before it measured anything is a row, not a refusal.
	failed := &report.Result{Schema: report.Schema, Scenario: "broken", Errors: []string{"prepare: node gone"}}
	writeResult(t, hist, "d", "run-failed", t0.Add(90*time.Minute), failed)

	code, out, stderr := run(t, "compare", "--max-slowdown", "1000", hist)
	if code != 0 {
		t.Fatalf("compare DIR: exit %d, stderr %s", code, stderr)
	}
	iOld, iMid, iFailed, iNew := strings.Index(out, "run-old"), strings.Index(out, "run-mid"), strings.Index(out, "run-failed"), strings.Index(out, "run-new")
	if !strings.Contains(out, "history of 4 runs, phase probe, baseline run 1 (run-old)") || !(iOld < iMid && iMid < iFailed && iFailed < iNew) {
		t.Errorf("rows not in start-time order or no header:\n%s", out)
	}
	for _, want := range []string{"P50 VS BASE", "x1.00", "(baseline)", "(newest)", "ERROR", "newest (run 4) vs baseline (run 1): PASS:",
		`warning: run 3 (` + filepath.Join(hist, "d", "result.json") + `): no measured phase "after-reboot"`} {
		if !strings.Contains(out, want) {
			t.Errorf("history lacks %q:\n%s", want, out)
		}
	}

	code, out, stderr = run(t, "compare", "--max-slowdown", "1000", "-o", "json", hist)
	var h report.History
	if err := json.Unmarshal([]byte(out), &h); code != 0 || err != nil {
		t.Fatalf("-o json: exit %d, %v, stderr %s", code, err, stderr)
	}
	if h.Schema != report.HistorySchema || len(h.Runs) != 4 || h.Baseline != 0 || h.Newest != 3 || h.Comparison == nil || !h.Comparison.Pass ||
		h.Runs[3].RunID != "run-new" || h.Runs[2].Measured() || h.Runs[0].P50Ratio != 1 {
		t.Errorf("-o json: %+v", h)
	}
	code, out, _ = run(t, "compare", "--max-slowdown", "1000", "-o", "yaml", hist)
	var hy report.History
	if err := yaml.UnmarshalStrict([]byte(out), &hy); code != 0 || err != nil || len(hy.Runs) != 4 || hy.Runs[1].RunID != "run-mid" {
		t.Errorf("-o yaml: exit %d, %v:\n%s", code, err, out)
	}
	code, out, _ = run(t, "compare", "--max-slowdown", "1000", "-o", "html", hist)
	for _, want := range []string{`id="history-latency"`, `<path data-series="p50"`, `<path data-series="p99"`, `<path data-series="throughput"`, `data-run="run-failed"`, `data-verdict="PASS"`} {
		if code != 0 || !strings.Contains(out, want) {
			t.Errorf("-o html: exit %d, page lacks %q", code, want)
		}
	}
	if strings.Contains(out, "<script") || strings.Contains(out, "href=") {
		t.Error("-o html: the page fetches or runs something")
	}

	// A file before the directory is the baseline, whatever its start time.
	base := writeResult(t, t.TempDir(), "x", "run-stored", t0.Add(5*time.Hour), probeResult(t, work))
	code, out, stderr = run(t, "compare", "--max-slowdown", "1000", base, hist)
	if code != 0 || !strings.Contains(out, "history of 5 runs, phase probe, baseline run 1 (run-stored)") {
		t.Errorf("FILE DIR: exit %d:\n%s%s", code, out, stderr)
	}
}

// A history whose runs measured different workloads is refused, naming each
// run that differs from the baseline and how, unless told otherwise.
func TestCompareHistoryRefusesDifferentWorkloads(t *testing.T) {
	t.Parallel()
	work, hist := t.TempDir(), t.TempDir()
	t0 := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	writeResult(t, hist, "1", "run-1", t0, probeResult(t, work))
	writeResult(t, hist, "2", "run-2", t0.Add(time.Hour), probeResult(t, work))
	writeResult(t, hist, "3", "run-3", t0.Add(2*time.Hour), probeResult(t, work, "--method", "readwrite"))

	code, _, stderr := run(t, "compare", hist)
	want := "1 run(s) measured a different workload than the baseline, run 1 (run-1, " + filepath.Join(hist, "1", "result.json") +
		"): run 3 (run-3, " + filepath.Join(hist, "3", "result.json") + "): method: sendfile vs readwrite"
	if code != 2 || !strings.Contains(stderr, want) {
		t.Errorf("exit %d, stderr %q, want %q", code, stderr, want)
	}
	code, out, stderr := run(t, "compare", "--allow-different-workloads", "--max-slowdown", "1000", hist)
	if code != 0 || !strings.Contains(out, "warning: different workload than the baseline, compared anyway: run 3 (run-3") {
		t.Errorf("--allow-different-workloads: exit %d:\n%s%s", code, out, stderr)
	}
}

// The backing recorded in the scenario as run is part of the workload.
func TestWorkloadDiffNamesBacking(t *testing.T) {
	t.Parallel()
	a := report.Workload{Method: "sendfile", FileBytes: 1 << 20, ChunkBytes: 1 << 18, Target: "file", FSType: "ext4", Backing: "filesystem"}
	b := a
	b.Backing, b.FSType = "directory", "overlay"
	if got := strings.Join(a.Diff(b), "; "); got != "filesystem: ext4 vs overlay; backing: filesystem vs directory" {
		t.Errorf("diff %q", got)
	}
	b.Backing = ""
	if got := strings.Join(a.Diff(b), "; "); got != "filesystem: ext4 vs overlay" {
		t.Errorf("an unknown backing differs: %q", got)
	}
}

// Bad input to compare exits 2 naming what is wrong.
func TestCompareBadInput(t *testing.T) {
	t.Parallel()
	empty := t.TempDir()
	work := t.TempDir()
	one := writeResult(t, t.TempDir(), "x", "run-1", time.Now(), probeResult(t, work))
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"bad -o", []string{"compare", "-o", "xml", one, one}, `-o/--output: unknown format "xml" (want text, json, yaml, html)`},
		{"empty dir", []string{"compare", one, empty}, empty + ": no result.json below it"},
		{"one file", []string{"compare", one}, "pvreboot compare: want 2 results (BASE.json NEW.json) or a history (RESULT.json|DIR...), got 1 argument that is no directory"},
		{"one result in a directory", []string{"compare", filepath.Dir(filepath.Dir(one))}, "want at least two results to compare, found 1"},
		{"missing", []string{"compare", one, filepath.Join(empty, "nope.json")}, "nope.json: stat"},
		{"no such phase", []string{"compare", "--phase", "after-reboot", one, one}, `no measured phase "after-reboot"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			code, _, stderr := run(t, tc.args...)
			if code != 2 || !strings.Contains(stderr, tc.want) {
				t.Errorf("exit %d, stderr %q, want %q", code, stderr, tc.want)
			}
		})
	}
}
