package report

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pvreboot/pvreboot/framework/budget"
)

// historyFixture is four runs a day apart: healthy, healthy, one that failed
// before it measured, and a regressed one.
func historyFixture() *History {
	var rs []*Result
	var srcs []string
	for i, kind := range []string{fixtureHealthy, fixtureHealthy, "", fixtureRegressed} {
		var r *Result
		if kind == "" {
			r = failedFixture(fixtureSetupFailed)
		} else {
			r = fixture(kind)
		}
		r.StartedAt = r.StartedAt.Add(time.Duration(i) * 24 * time.Hour)
		r.Provenance = &Provenance{RunID: "run" + string(rune('a'+i))}
		rs, srcs = append(rs, r), append(srcs, filepath.Join("history", string(rune('a'+i)), "result.json"))
	}
	h := NewHistory("after-reboot", srcs, rs)
	b := budget.Budget{Kind: budget.Statistical, Phase: "new", RelativeTo: "base", MaxSlowdown: 1.5, Alpha: 0.01}
	v := budget.Evaluate([]budget.Budget{b}, map[string]budget.Phase{"base": h.Runs[h.Baseline].BudgetPhase(), "new": h.Runs[h.Newest].BudgetPhase()})
	h.Comparison = &v.Results[0]
	return h
}

// The history renders as a table and a page with its plots, checked against
// golden files; a run that measured nothing is a row of dashes, not a gap.
func TestHistoryGolden(t *testing.T) {
	t.Parallel()
	h := historyFixture()
	if h.Baseline != 0 || h.Newest != 3 || h.Runs[2].Measured() || h.Comparison.Pass {
		t.Fatalf("fixture: baseline %d newest %d, run 3 measured %v, comparison %+v", h.Baseline, h.Newest, h.Runs[2].Measured(), h.Comparison)
	}
	if r := h.Runs[3].P50Ratio; !(r > 40 && r < 60) {
		t.Errorf("regressed p50 ratio x%.2f, want about x48", r)
	}
	for _, tc := range []struct {
		ext    string
		render func(*bytes.Buffer) error
		want   []string
	}{
		{"txt", func(b *bytes.Buffer) error { return HistoryText(b, h) }, []string{"history of 4 runs, phase after-reboot, baseline run 1 (runa)", "(newest)", "newest (run 4) vs baseline (run 1): FAIL"}},
		{"html", func(b *bytes.Buffer) error { return HistoryHTML(b, h) }, []string{`data-verdict="FAIL"`, `<path data-series="p50"`, `<path data-series="p99"`,
			`<path data-series="throughput"`, `<path data-series="baseline"`, `data-run="runc"`}},
	} {
		t.Run(tc.ext, func(t *testing.T) {
			var buf bytes.Buffer
			if err := tc.render(&buf); err != nil {
				t.Fatal(err)
			}
			golden := filepath.Join("testdata", "history."+tc.ext)
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
				t.Errorf("differs from golden %s (run go test ./framework/report -update if intended):\n%s", golden, buf.String())
			}
			for _, w := range tc.want {
				if !strings.Contains(buf.String(), w) {
					t.Errorf("lacks %q", w)
				}
			}
			if strings.Contains(buf.String(), "<script") || strings.Contains(buf.String(), "href=") {
				t.Error("the page runs or fetches something")
			}
		})
	}
}
