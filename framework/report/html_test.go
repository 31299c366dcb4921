package report

import (
	"bytes"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pvreboot/pvreboot/framework/calibrate"
	"github.com/pvreboot/pvreboot/framework/probe"
	"github.com/pvreboot/pvreboot/framework/scenario"
	"gonum.org/v1/plot/plotter"
)

func renderHTML(t *testing.T, r *Result) string {
	t.Helper()
	var buf bytes.Buffer
	if err := HTML(&buf, r); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

// figureTag returns the opening tag of the figure with the id.
func figureTag(t *testing.T, page, id string) string {
	t.Helper()
	m := regexp.MustCompile(`<figure id="` + regexp.QuoteMeta(id) + `"[^>]*>`).FindString(page)
	if m == "" {
		t.Fatalf("no figure %q", id)
	}
	return m
}

// figureBody returns the figure with the id, up to its end.
func figureBody(t *testing.T, page, id string) string {
	t.Helper()
	tag := figureTag(t, page, id)
	rest := page[strings.Index(page, tag):]
	return rest[:strings.Index(rest, "</figure>")]
}

// The page names every plot and its series so that a reader (or a test)
// finds them; the regressed phase is drawn, and the p99 budget's limit is a
// line on the ECDF.
func TestHTMLFiguresHaveStableIDsAndSeries(t *testing.T) {
	t.Parallel()
	page := renderHTML(t, fixture(fixtureRegressed))
	for _, id := range []string{figureECDF, figureCalls, figureThroughput} {
		if tag := figureTag(t, page, id); !strings.Contains(tag, `data-series="baseline,after-reboot,after-recreate"`) {
			t.Errorf("figure %s: %s", id, tag)
		}
		body := figureBody(t, page, id)
		for _, p := range []string{"baseline", "after-reboot", "after-recreate"} {
			if !strings.Contains(body, `<path data-series="`+p+`"`) || !strings.Contains(body, ">"+p+"</text>") {
				t.Errorf("figure %s: no path or legend text of series %s", id, p)
			}
		}
		if !strings.Contains(body, "<svg ") || strings.Contains(body, "not drawn") {
			t.Errorf("figure %s has no plot:\n%s", id, body)
		}
	}
	ecdf := figureBody(t, page, figureECDF)
	if !strings.Contains(ecdf, `<path data-series="limit"`) || !strings.Contains(ecdf, "limit: after-reboot p99 ≤ 120.0ms: FAIL") {
		t.Errorf("ECDF lacks the p99 limit line")
	}
	tag := figureTag(t, page, figureReboot)
	want := `data-milestones="reboot issued,command returned,node NotReady (not seen),kubelet back,node Ready,pod Ready"`
	if !strings.Contains(tag, want) {
		t.Errorf("reboot timeline tag %s lacks %s", tag, want)
	}
	for _, s := range []string{`id="verdict" class="verdict fail" data-verdict="FAIL"`, "3 of 3 budgets failed",
		"Most likely cause: <b>cgroup.limits.blkio.throttle.read_bps_device</b>", `<tr class="cause">`, "×48.7"} {
		if !strings.Contains(page, s) {
			t.Errorf("page lacks %q", s)
		}
	}
}

// The page is one file: no script, nothing it would fetch (the SVG
// namespaces are names, not fetches), and a policy that forbids fetching.
func TestHTMLIsSelfContained(t *testing.T) {
	t.Parallel()
	for _, name := range []string{fixtureHealthy, fixtureRegressed, fixtureReflink} {
		page := renderHTML(t, fixture(name))
		if !strings.Contains(page, `content="default-src 'none'; style-src 'unsafe-inline'; img-src data:"`) {
			t.Errorf("%s: no Content-Security-Policy", name)
		}
		for _, bad := range []string{"<script", "<link", "<iframe", "@import", "url(", " src=", "href="} {
			if strings.Contains(page, bad) {
				t.Errorf("%s: page contains %q", name, bad)
			}
		}
		rest := regexp.MustCompile(`https?://[^"\s]*`).FindAllString(page, -1)
		for _, u := range rest {
			if u != "http://www.w3.org/2000/svg" && u != "http://www.w3.org/1999/xlink" {
				t.Errorf("%s: page names %s", name, u)
			}
		}
	}
}

// Every value from the Result is escaped, in the text, the attributes and
// the SVG.
func TestHTMLEscapes(t *testing.T) {
	t.Parallel()
	r := fixture(fixtureRegressed)
	evil := `<script>alert("x")</script>`
	r.Scenario = evil
	r.Node.Name = `"><img onerror=alert(1)>`
	r.Errors = []string{"boom </table><b>"}
	r.Phases[1].Name = `after<b>reboot`
	r.Diagnosis = DiagnoseResult(r)
	r.Diagnosis[0].Meaning = "<i>mount</i>"
	page := renderHTML(t, r)
	for _, bad := range []string{"<script", "<img", "<b>reboot", "<i>mount", "</table><b>"} {
		if strings.Contains(page, bad) {
			t.Errorf("page contains unescaped %q", bad)
		}
	}
	for _, want := range []string{"&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;", "after&lt;b&gt;reboot", `data-series="baseline,after&lt;b&gt;reboot,after-recreate"`,
		`<path data-series="after&lt;b&gt;reboot"`, ">after&lt;b&gt;reboot</text>"} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
}

func TestHTMLIsDeterministic(t *testing.T) {
	t.Parallel()
	a, b := renderHTML(t, fixture(fixtureRegressed)), renderHTML(t, fixture(fixtureRegressed))
	if a != b {
		t.Error("two renderings of one Result differ")
	}
}

// A calibration in the Result is shown: the noise, each budget's false
// alarms, the budgets suggested.
func TestHTMLShowsCalibration(t *testing.T) {
	t.Parallel()
	r := fixture(fixtureHealthy)
	r.Calibration = &calibrate.Calibration{Scenario: "sendfile-after-reboot", Node: "pvreboot-worker", Phase: "baseline", Repeats: 5,
		At: time.Date(2026, 11, 24, 11, 0, 0, 0, time.UTC),
		Noise: []calibrate.Noise{{Metric: "p50", Unit: "ns", Values: []float64{15e6, 16e6}, Mean: 15.5e6, Min: 15e6, Max: 16e6, CV: 0.046, MaxRatio: 1.0667},
			{Metric: "throughput", Unit: "B/s", Mean: 1.1e9, Min: 1.05e9, Max: 1.15e9, CV: 0.04, MaxRatio: 1.095}},
		Budgets: []calibrate.BudgetNoise{{Name: "after-reboot p99 <= 20.0ms", Trials: 5, Alarms: 2, Rate: 0.4, RateHi: 0.81, Worst: 21e6, Limit: 20e6, Unit: "ns"},
			{Name: "after-reboot not slower than 1.5 x baseline", Trials: 20, Rate: 0, RateHi: 0.139, Worst: 1.1, Limit: 1.5, Unit: "ratio", MinPValue: 0.0476}},
		Suggested: []scenario.Budget{{Phase: "after-reboot", Metric: "p99", Max: &scenario.Duration{Duration: 32 * time.Millisecond}}},
		Notes:     []string{"pairs share repeats"},
	}
	page := renderHTML(t, r)
	for _, want := range []string{`<section id="calibration">`, "baseline of sendfile-after-reboot repeated 5 times without a reboot on node pvreboot-worker, 2026-11-24T11:00:00Z",
		"<td>p50</td><td class=\"num\">15.5ms</td>", "4.6%", "×1.07", "1150MB/s",
		`<tr class="fail"><td>after-reboot p99 &lt;= 20.0ms</td><td class="num">5</td><td class="num status">2</td><td class="num">40% (≤ 81% at 95%)</td>`,
		"0.0476", "after-reboot p99: max 32ms", "note: pairs share repeats"} {
		if !strings.Contains(page, want) {
			t.Errorf("calibration section lacks %q", want)
		}
	}
}

// A Result with nothing measured (the run failed before the baseline), or a
// bare probe report, still renders: the plots say why they are missing.
func TestHTMLWithoutMeasurements(t *testing.T) {
	t.Parallel()
	r := &Result{Schema: Schema, Scenario: "broken", Phases: []PhaseResult{{Name: "baseline", Error: "pod never Ready"}},
		Errors: []string{"create pod: quota exceeded"}, Timings: []StepTiming{{Step: "provision", Elapsed: 3 * time.Second}}}
	page := renderHTML(t, r)
	for _, want := range []string{`data-verdict="ERROR"`, "the run failed: create pod: quota exceeded", "not drawn: no phase measured any call",
		"pod never Ready", `<section id="timings">`, `<section id="errors">`} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if strings.Contains(page, `id="reboot-timeline"`) {
		t.Error("a timeline is drawn for a run without a reboot")
	}
	p := fixture(fixtureHealthy).Phases[0].Probe
	page = renderHTML(t, FromProbe(p))
	if !strings.Contains(page, `data-series="probe"`) || !strings.Contains(page, `<path data-series="probe"`) || !strings.Contains(page, `data-verdict="NO BUDGETS"`) {
		t.Errorf("a probe report's page lacks its phase's plots")
	}
}

// The log axis is labelled with units at 1-2-5, and only at powers of ten
// over many decades.
func TestDurationTicks(t *testing.T) {
	t.Parallel()
	labels := func(lo, hi float64) string {
		var out []string
		for _, tk := range (durationTicks{}).Ticks(lo, hi) {
			if tk.Label != "" {
				out = append(out, tk.Label)
			}
		}
		return strings.Join(out, " ")
	}
	for _, tt := range []struct {
		lo, hi float64
		want   string
	}{
		{9, 1100, "10ms 20ms 50ms 100ms 200ms 500ms 1s"},
		{0.008, 0.03, "10µs 20µs"},
		{0.0001, 5000, "100ns 1µs 10µs 100µs 1ms 10ms 100ms 1s"},
		{0, 10, ""},
	} {
		if got := labels(tt.lo, tt.hi); got != tt.want {
			t.Errorf("ticks(%g, %g) = %q, want %q", tt.lo, tt.hi, got, tt.want)
		}
	}
}

// A phase keeps its colour in every plot and table, whatever the order of
// the phases.
func TestPaletteIsStablePerPhase(t *testing.T) {
	t.Parallel()
	r := fixture(fixtureHealthy)
	a := newPalette(r)
	r.Phases[0], r.Phases[2] = r.Phases[2], r.Phases[0]
	r.Phases = append(r.Phases, PhaseResult{Name: "extra"})
	b := newPalette(r)
	for _, p := range []string{"baseline", "after-reboot", "after-recreate"} {
		if a.hex(p) != b.hex(p) {
			t.Errorf("%s: %s then %s", p, a.hex(p), b.hex(p))
		}
	}
	seen := map[string]string{}
	for _, p := range b.names {
		if other, ok := seen[string(b.hex(p))]; ok {
			t.Errorf("%s and %s share %s", p, other, b.hex(p))
		}
		seen[string(b.hex(p))] = p
	}
}

// Tens of thousands of calls (a readwrite probe) keep the page small, and
// the slowest call still shows on the per-call plot and ends the ECDF.
func TestHTMLBoundsPlotPoints(t *testing.T) {
	t.Parallel()
	ms := make([]float64, 40000)
	for i := range ms {
		ms[i] = 1 + float64(i%7)/10
	}
	ms[12345] = 900 // one spike
	r := fixture(fixtureHealthy)
	r.Phases[1] = phase("after-reboot", ms, env("7:0", "ext4", ""), "11111111-aaaa", 1)
	page := renderHTML(t, r)
	if len(page) > 1<<20 {
		t.Errorf("page is %d bytes for 40k calls", len(page))
	}
	xs := envelope(ms, 1, 14)
	if !slices.ContainsFunc(xs, func(p plotter.XY) bool { return p.X == 12346 && p.Y == 900 }) {
		t.Error("the envelope lost the spike")
	}
	if len(xs) > 2*40000/14+2 {
		t.Errorf("envelope of 40000 calls by 14 has %d points", len(xs))
	}
	if got := ranks(5, 10); !slices.Equal(got, []int{0, 1, 2, 3, 4}) {
		t.Errorf("ranks(5, 10) = %v", got)
	}
	if got := ranks(101, 5); !slices.Equal(got, []int{0, 25, 50, 75, 100}) {
		t.Errorf("ranks(101, 5) = %v", got)
	}
}

// The environment table shows each phase's device, readahead and direct
// I/O included, and marks what differs from the first phase.
func TestHTMLEnvironmentMarksChanges(t *testing.T) {
	t.Parallel()
	r := fixture(fixtureRegressed)
	on, off := true, false
	r.Phases[0].Probe.Env.Device = &probe.BlockDevice{Name: "loop0", MajorMinor: "7:0", ReadAheadKB: 128, DirectIO: &on}
	r.Phases[1].Probe.Env.Device = &probe.BlockDevice{Name: "loop0", MajorMinor: "7:0", ReadAheadKB: 4, DirectIO: &off}
	page := renderHTML(t, r)
	for _, want := range []string{
		`<tr><td>readAheadKB</td><td class="mono">128</td><td class="mono changed">4</td><td class="mono changed">-</td></tr>`,
		`<tr><td>directIO</td><td class="mono">on</td><td class="mono changed">off</td>`,
		`<tr><td>limit blkio.throttle.read_bps_device</td><td class="mono">-</td><td class="mono changed">7:0 20971520</td><td class="mono">-</td></tr>`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("environment table lacks %s", want)
		}
	}
}
