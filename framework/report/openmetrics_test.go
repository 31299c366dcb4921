package report

import (
	"bytes"
	"math"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/pvreboot/pvreboot/framework/budget"
)

// parseMetrics reads the text back as node_exporter's textfile collector
// and the Pushgateway do (Prometheus text format: the UNIT and EOF lines are
// comments to them).
func parseMetrics(t *testing.T, text string) map[string]*dto.MetricFamily {
	t.Helper()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(text))
	if err != nil {
		t.Fatalf("parse: %v\n%s", err, text)
	}
	return fams
}

func labelsOf(m *dto.Metric) map[string]string {
	out := map[string]string{}
	for _, l := range m.GetLabel() {
		out[l.GetName()] = l.GetValue()
	}
	return out
}

// sample finds the metric of a family whose labels include want.
func sample(t *testing.T, fams map[string]*dto.MetricFamily, name string, want map[string]string) *dto.Metric {
	t.Helper()
	f, ok := fams[name]
	if !ok {
		t.Fatalf("no family %s", name)
	}
	for _, m := range f.GetMetric() {
		got := labelsOf(m)
		match := true
		for k, v := range want {
			match = match && got[k] == v
		}
		if match {
			return m
		}
	}
	t.Fatalf("%s: no sample with labels %v", name, want)
	return nil
}

func near(a, b float64) bool { return math.Abs(a-b) <= 1e-9*math.Max(1, math.Abs(b)) }

// The metrics parse back and say what the Result says: quantiles as the
// budgets judge them, throughput, each budget's outcome, the verdict and
// the reboot's durations.
func TestOpenMetricsParsesBackToTheResult(t *testing.T) {
	t.Parallel()
	for _, name := range []string{fixtureRegressed, fixtureHealthy} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			r := fixture(name)
			var buf bytes.Buffer
			if err := OpenMetrics(&buf, r); err != nil {
				t.Fatal(err)
			}
			fams := parseMetrics(t, buf.String())
			base := map[string]string{"scenario": r.Scenario, "cluster": "pvreboot", "node": "pvreboot-worker"}
			with := func(kv ...string) map[string]string {
				out := map[string]string{}
				for k, v := range base {
					out[k] = v
				}
				for i := 0; i < len(kv); i += 2 {
					out[kv[i]] = kv[i+1]
				}
				return out
			}
			phases := r.BudgetPhases()
			for _, p := range r.Phases {
				ph := phases[p.Name]
				m := sample(t, fams, "pvreboot_copy_call_duration_seconds", with("phase", p.Name))
				if fams["pvreboot_copy_call_duration_seconds"].GetType() != dto.MetricType_SUMMARY {
					t.Fatalf("latency is a %v", fams["pvreboot_copy_call_duration_seconds"].GetType())
				}
				qs := map[float64]float64{}
				for _, q := range m.GetSummary().GetQuantile() {
					qs[q.GetQuantile()] = q.GetValue()
				}
				for q, metric := range map[float64]string{0.5: "p50", 0.9: "p90", 0.99: "p99"} {
					want, _ := budget.Metric(ph, metric)
					if !near(qs[q], want/1e9) {
						t.Errorf("%s quantile %g = %g s, want %g", p.Name, q, qs[q], want/1e9)
					}
				}
				if got := m.GetSummary().GetSampleCount(); got != uint64(p.Probe.Summary.Calls) {
					t.Errorf("%s count = %d, want %d", p.Name, got, p.Probe.Summary.Calls)
				}
				maxNs, _ := budget.Metric(ph, "max")
				if got := sample(t, fams, "pvreboot_copy_call_max_seconds", with("phase", p.Name)).GetGauge().GetValue(); !near(got, maxNs/1e9) {
					t.Errorf("%s max = %g", p.Name, got)
				}
				if got := sample(t, fams, "pvreboot_copy_throughput_bytes_per_second", with("phase", p.Name)).GetGauge().GetValue(); !near(got, p.Probe.Summary.BytesPerSecond) {
					t.Errorf("%s throughput = %g, want %g", p.Name, got, p.Probe.Summary.BytesPerSecond)
				}
				if got := sample(t, fams, "pvreboot_data_intact", with("phase", p.Name)).GetGauge().GetValue(); got != 1 {
					t.Errorf("%s data intact = %g", p.Name, got)
				}
			}
			for _, res := range r.Verdict.Results {
				want := 0.0
				if res.Pass {
					want = 1
				}
				m := sample(t, fams, "pvreboot_budget_pass", with("budget", res.Name, "phase", res.Phase, "kind", string(res.Kind)))
				if got := m.GetGauge().GetValue(); got != want {
					t.Errorf("budget %s = %g, want %g", res.Name, got, want)
				}
			}
			state := "pass"
			if !r.Verdict.Pass {
				state = "fail"
			}
			for _, s := range verdictStates() {
				want := 0.0
				if s == state {
					want = 1
				}
				if got := sample(t, fams, "pvreboot_verdict", with("verdict", s)).GetGauge().GetValue(); got != want {
					t.Errorf("verdict %s = %g, want %g", s, got, want)
				}
			}
			for metric, want := range map[string]float64{"pvreboot_reboot_node_ready_seconds": 16, "pvreboot_reboot_pod_ready_seconds": 21} {
				if got := sample(t, fams, metric, with("reboot", "1", "method", "kind-restart")).GetGauge().GetValue(); !near(got, want) {
					t.Errorf("%s = %g, want %g", metric, got, want)
				}
			}
			if got := sample(t, fams, "pvreboot_run_duration_seconds", base).GetGauge().GetValue(); got != 95 {
				t.Errorf("run duration = %g", got)
			}
		})
	}
}

// The text is OpenMetrics: every family has HELP and TYPE, a UNIT only when
// its name ends with the unit, names are prefixed pvreboot_, and it ends
// with # EOF; label values that need it are escaped.
func TestOpenMetricsStructure(t *testing.T) {
	t.Parallel()
	r := fixture(fixtureRegressed)
	r.Scenario = "quote \" backslash \\ newline \n end"
	r.Reboots[0].PodReady = nil // not seen: no sample
	var buf bytes.Buffer
	if err := OpenMetrics(&buf, r); err != nil {
		t.Fatal(err)
	}
	text := buf.String()
	if !strings.HasSuffix(text, "\n# EOF\n") || strings.Count(text, "# EOF") != 1 {
		t.Errorf("text does not end with one # EOF:\n%s", text)
	}
	types := map[string]string{}
	for _, l := range strings.Split(strings.TrimSuffix(text, "\n"), "\n") {
		f := strings.Fields(l)
		switch {
		case strings.HasPrefix(l, "# TYPE "):
			types[f[2]] = f[3]
		case strings.HasPrefix(l, "# UNIT "):
			if !strings.HasSuffix(f[2], "_"+f[3]) {
				t.Errorf("UNIT %s for %s: the name must end with it", f[3], f[2])
			}
			if types[f[2]] == "" {
				t.Errorf("UNIT before TYPE: %s", l)
			}
		case strings.HasPrefix(l, "# HELP "), l == "# EOF":
		case strings.HasPrefix(l, "#"):
			t.Errorf("unknown comment line %q", l)
		default:
			if !strings.HasPrefix(l, "pvreboot_") {
				t.Errorf("sample %q is not prefixed pvreboot_", l)
			}
		}
	}
	for name := range types {
		if !strings.Contains(text, "# HELP "+name+" ") {
			t.Errorf("%s has no HELP", name)
		}
	}
	fams := parseMetrics(t, text)
	m := sample(t, fams, "pvreboot_verdict", map[string]string{"verdict": "fail"})
	if got := labelsOf(m)["scenario"]; got != r.Scenario {
		t.Errorf("scenario label = %q, want %q", got, r.Scenario)
	}
	if _, ok := fams["pvreboot_reboot_pod_ready_seconds"]; ok {
		t.Error("a pod never seen Ready has a pod ready duration")
	}
}
