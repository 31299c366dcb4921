package report

import (
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/pvreboot/pvreboot/framework/budget"
)

// OpenMetrics writes the Result as OpenMetrics text: per-phase call latency
// quantiles and throughput, each budget's outcome, the verdict and the
// reboot's durations, labelled by scenario, cluster, node and phase, with
// units in the names. Only gauges and summaries are written, and no
// timestamps, so that the same text is also valid Prometheus text format
// (its parsers skip the UNIT and EOF lines as comments): node_exporter's
// textfile collector and the Pushgateway read it as it is.
func OpenMetrics(w io.Writer, r *Result) error {
	var b strings.Builder
	for _, f := range metricFamilies(r) {
		if len(f.samples) == 0 {
			continue
		}
		fmt.Fprintf(&b, "# HELP %s %s\n# TYPE %s %s\n", f.name, f.help, f.name, f.typ)
		if f.unit != "" {
			fmt.Fprintf(&b, "# UNIT %s %s\n", f.name, f.unit)
		}
		for _, s := range f.samples {
			b.WriteString(f.name + s.suffix)
			if len(s.labels) > 0 {
				b.WriteByte('{')
				for i, l := range s.labels {
					if i > 0 {
						b.WriteByte(',')
					}
					b.WriteString(l.name + `="` + escapeLabel(l.value) + `"`)
				}
				b.WriteByte('}')
			}
			b.WriteString(" " + formatValue(s.value) + "\n")
		}
	}
	b.WriteString("# EOF\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// metricFamily is one metric: its name (with its unit), type, unit and help
// text, and its samples in order.
type metricFamily struct {
	name, typ, unit, help string
	samples               []metricSample
}

type metricSample struct {
	suffix string // _sum, _count of a summary
	labels []metricLabel
	value  float64
}

type metricLabel struct{ name, value string }

// verdictStates are the values of pvreboot_verdict's verdict label.
func verdictStates() []string { return []string{"pass", "fail", "error", "no-budgets"} }

func verdictState(r *Result) string {
	return strings.ReplaceAll(strings.ToLower(verdictWord(r)), " ", "-")
}

func metricFamilies(r *Result) []*metricFamily {
	base := []metricLabel{{"scenario", r.Scenario}, {"cluster", r.Cluster.Name}, {"node", r.Node.Name}}
	with := func(extra ...metricLabel) []metricLabel {
		return append(append([]metricLabel(nil), base...), extra...)
	}
	verdict := &metricFamily{name: "pvreboot_verdict", typ: "gauge",
		help: "The run's verdict: 1 for the state it had (pass, fail, error, no-budgets), 0 for the others."}
	state := verdictState(r)
	for _, s := range verdictStates() {
		v := 0.0
		if s == state {
			v = 1
		}
		verdict.samples = append(verdict.samples, metricSample{labels: with(metricLabel{"verdict", s}), value: v})
	}
	runErrors := &metricFamily{name: "pvreboot_run_errors", typ: "gauge", help: "Errors the run reported (infrastructure, not budgets)."}
	runErrors.samples = append(runErrors.samples, metricSample{labels: with(), value: float64(len(r.Errors))})
	duration := &metricFamily{name: "pvreboot_run_duration_seconds", typ: "gauge", unit: "seconds", help: "How long the run took, start to finish."}
	finished := &metricFamily{name: "pvreboot_run_finished_timestamp_seconds", typ: "gauge", unit: "seconds", help: "When the run finished, in seconds since the Unix epoch."}
	if !r.StartedAt.IsZero() && !r.FinishedAt.Before(r.StartedAt) {
		duration.samples = append(duration.samples, metricSample{labels: with(), value: r.FinishedAt.Sub(r.StartedAt).Seconds()})
	}
	if !r.FinishedAt.IsZero() {
		finished.samples = append(finished.samples, metricSample{labels: with(), value: float64(r.FinishedAt.UnixNano()) / 1e9})
	}
	budgets := &metricFamily{name: "pvreboot_budget_pass", typ: "gauge",
		help: "Each budget's outcome: 1 pass, 0 fail (a budget that could not be evaluated fails)."}
	seen := map[string]int{}
	for _, res := range r.Verdict.Results {
		name := res.Name
		if seen[name]++; seen[name] > 1 {
			name = fmt.Sprintf("%s #%d", name, seen[name])
		}
		v := 0.0
		if res.Pass {
			v = 1
		}
		budgets.samples = append(budgets.samples, metricSample{value: v,
			labels: with(metricLabel{"budget", name}, metricLabel{"phase", res.Phase}, metricLabel{"kind", string(res.Kind)}, metricLabel{"metric", res.Metric})})
	}
	latency := &metricFamily{name: "pvreboot_copy_call_duration_seconds", typ: "summary", unit: "seconds",
		help: "Per-call copy latency of each phase: quantiles over every call, as the budgets judge them."}
	maxCall := &metricFamily{name: "pvreboot_copy_call_max_seconds", typ: "gauge", unit: "seconds", help: "The slowest copy call of each phase."}
	rate := &metricFamily{name: "pvreboot_copy_throughput_bytes_per_second", typ: "gauge", unit: "bytes_per_second",
		help: "Throughput of each phase over all its copies."}
	intact := &metricFamily{name: "pvreboot_data_intact", typ: "gauge", help: "The file written before the reboot, checked in each phase: 1 intact, 0 not."}
	for _, p := range r.Phases {
		if p.Data != nil {
			v := 0.0
			if p.Data.OK {
				v = 1
			}
			intact.samples = append(intact.samples, metricSample{labels: with(metricLabel{"phase", p.Name}), value: v})
		}
		if p.Probe == nil {
			continue
		}
		ph := PhaseFromProbe(p.Probe)
		if len(ph.CallNs) == 0 {
			continue
		}
		// The max is a gauge of its own: a summary's quantiles are below 1.
		for _, q := range []struct{ metric, q string }{{"p50", "0.5"}, {"p90", "0.9"}, {"p99", "0.99"}} {
			v, err := budget.Metric(ph, q.metric)
			if err != nil {
				continue
			}
			latency.samples = append(latency.samples, metricSample{labels: with(metricLabel{"phase", p.Name}, metricLabel{"quantile", q.q}), value: v / 1e9})
		}
		sum := 0.0
		for _, ns := range ph.CallNs {
			sum += ns
		}
		latency.samples = append(latency.samples,
			metricSample{suffix: "_sum", labels: with(metricLabel{"phase", p.Name}), value: sum / 1e9},
			metricSample{suffix: "_count", labels: with(metricLabel{"phase", p.Name}), value: float64(len(ph.CallNs))})
		if v, err := budget.Metric(ph, "max"); err == nil {
			maxCall.samples = append(maxCall.samples, metricSample{labels: with(metricLabel{"phase", p.Name}), value: v / 1e9})
		}
		rate.samples = append(rate.samples, metricSample{labels: with(metricLabel{"phase", p.Name}), value: ph.BytesPerSecond})
	}
	nodeReady := &metricFamily{name: "pvreboot_reboot_node_ready_seconds", typ: "gauge", unit: "seconds",
		help: "From the reboot being issued to the node Ready again."}
	podReady := &metricFamily{name: "pvreboot_reboot_pod_ready_seconds", typ: "gauge", unit: "seconds",
		help: "From the reboot being issued to the workload pod Ready again."}
	for i, rb := range r.Reboots {
		labels := with(metricLabel{"reboot", strconv.Itoa(i + 1)}, metricLabel{"method", rb.Method})
		for _, m := range []struct {
			f  *metricFamily
			at *time.Time
		}{{nodeReady, rb.NodeReady}, {podReady, rb.PodReady}} {
			if m.at != nil {
				m.f.samples = append(m.f.samples, metricSample{labels: labels, value: m.at.Sub(rb.Issued).Seconds()})
			}
		}
	}
	return []*metricFamily{verdict, runErrors, duration, finished, budgets, latency, maxCall, rate, intact, nodeReady, podReady}
}

// escapeLabel escapes a label value: backslash, double quote and newline.
func escapeLabel(s string) string {
	return strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(s)
}

func formatValue(v float64) string {
	switch {
	case math.IsNaN(v):
		return "NaN"
	case math.IsInf(v, 1):
		return "+Inf"
	case math.IsInf(v, -1):
		return "-Inf"
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}
