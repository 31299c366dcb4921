package budget

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/aclements/go-moremath/stats"
	"golang.org/x/perf/benchmath"
	"gonum.org/v1/gonum/stat"
)

// Phase holds one phase's measurements.
type Phase struct {
	// CallNs is every timed call's latency in nanoseconds.
	CallNs []float64
	// BytesPerSecond is the phase's overall throughput.
	BytesPerSecond float64
}

// Kind of budget.
type Kind string

// Budget kinds.
const (
	Absolute    Kind = "absolute"
	Relative    Kind = "relative"
	Statistical Kind = "statistical"
)

// Budget is one limit, already validated by the scenario.
type Budget struct {
	Name   string
	Kind   Kind
	Phase  string
	Metric string // p50, p90, p99, max, mean, throughput
	// Absolute: MaxNs for latency metrics, MinBytesPerSecond for throughput.
	MaxNs             float64
	MinBytesPerSecond float64
	// Relative and statistical: the reference phase.
	RelativeTo string
	MaxRatio   float64
	// Statistical.
	MaxSlowdown float64
	Alpha       float64
}

// Result is one budget's outcome.
type Result struct {
	Name     string  `json:"name"`
	Kind     Kind    `json:"kind"`
	Phase    string  `json:"phase"`
	Metric   string  `json:"metric"`
	Measured float64 `json:"measured"`
	Limit    float64 `json:"limit"`
	Unit     string  `json:"unit"` // ns, B/s or ratio
	Pass     bool    `json:"pass"`
	// Skipped is set when a phase did not run; a skipped budget fails.
	Skipped bool   `json:"skipped,omitempty"`
	Detail  string `json:"detail"` // one line, also for passes
	// Statistical results.
	PValue     float64 `json:"pValue,omitempty"`
	Confidence float64 `json:"confidence,omitempty"`
	CILo       float64 `json:"ciLo,omitempty"`
	CIHi       float64 `json:"ciHi,omitempty"`
}

// Verdict is every budget's result.
type Verdict struct {
	Pass    bool     `json:"pass"`
	Results []Result `json:"results"`
}

// Failures returns the failed results.
func (v Verdict) Failures() []Result {
	var out []Result
	for _, r := range v.Results {
		if !r.Pass {
			out = append(out, r)
		}
	}
	return out
}

// Metric computes a latency percentile, max, mean (ns) or throughput (B/s).
func Metric(p Phase, metric string) (float64, error) {
	if metric == "throughput" {
		return p.BytesPerSecond, nil
	}
	if len(p.CallNs) == 0 {
		return 0, fmt.Errorf("no calls measured")
	}
	s := slices.Clone(p.CallNs)
	slices.Sort(s)
	switch metric {
	case "p50":
		return stat.Quantile(0.50, stat.Empirical, s, nil), nil
	case "p90":
		return stat.Quantile(0.90, stat.Empirical, s, nil), nil
	case "p99":
		return stat.Quantile(0.99, stat.Empirical, s, nil), nil
	case "max":
		return s[len(s)-1], nil
	case "mean":
		return stat.Mean(s, nil), nil
	}
	return 0, fmt.Errorf("unknown metric %q", metric)
}

// Evaluate checks every budget against the phases measured.
func Evaluate(budgets []Budget, phases map[string]Phase) Verdict {
	v := Verdict{Pass: true}
	for _, b := range budgets {
		r := evaluate(b, phases)
		if r.Name == "" {
			r.Name = DefaultName(b)
		}
		v.Pass = v.Pass && r.Pass
		v.Results = append(v.Results, r)
	}
	return v
}

// DefaultName describes a budget in one short line.
func DefaultName(b Budget) string {
	switch b.Kind {
	case Absolute:
		if b.Metric == "throughput" {
			return fmt.Sprintf("%s throughput >= %s", b.Phase, FormatRate(b.MinBytesPerSecond))
		}
		return fmt.Sprintf("%s %s <= %s", b.Phase, b.Metric, FormatNs(b.MaxNs))
	case Relative:
		if b.Metric == "throughput" {
			return fmt.Sprintf("%s throughput >= %s throughput / %g", b.Phase, b.RelativeTo, b.MaxRatio)
		}
		return fmt.Sprintf("%s %s <= %g x %s %s", b.Phase, b.Metric, b.MaxRatio, b.RelativeTo, b.Metric)
	case Statistical:
		return fmt.Sprintf("%s not slower than %g x %s (U test, alpha %g)", b.Phase, b.MaxSlowdown, b.RelativeTo, b.Alpha)
	}
	return string(b.Kind)
}

func evaluate(b Budget, phases map[string]Phase) Result {
	r := Result{Name: b.Name, Kind: b.Kind, Phase: b.Phase, Metric: b.Metric}
	p, ok := phases[b.Phase]
	if !ok {
		r.Skipped = true
		r.Detail = fmt.Sprintf("phase %s was not measured", b.Phase)
		return r
	}
	var ref Phase
	if b.Kind != Absolute {
		ref, ok = phases[b.RelativeTo]
		if !ok {
			r.Skipped = true
			r.Detail = fmt.Sprintf("reference phase %s was not measured", b.RelativeTo)
			return r
		}
	}
	switch b.Kind {
	case Absolute:
		return absolute(r, b, p)
	case Relative:
		return relative(r, b, p, ref)
	case Statistical:
		return statistical(r, b, p, ref)
	}
	r.Detail = fmt.Sprintf("unknown budget kind %q", b.Kind)
	return r
}

func absolute(r Result, b Budget, p Phase) Result {
	v, err := Metric(p, b.Metric)
	if err != nil {
		r.Detail = fmt.Sprintf("%s: %v", b.Phase, err)
		return r
	}
	r.Measured = v
	if b.Metric == "throughput" {
		r.Unit, r.Limit = "B/s", b.MinBytesPerSecond
		r.Pass = v >= b.MinBytesPerSecond
		if r.Pass {
			r.Detail = fmt.Sprintf("%s throughput %s >= %s", b.Phase, FormatRate(v), FormatRate(b.MinBytesPerSecond))
		} else {
			r.Detail = fmt.Sprintf("%s throughput %s is below the %s floor (%.0f%% of it)", b.Phase, FormatRate(v), FormatRate(b.MinBytesPerSecond), 100*v/b.MinBytesPerSecond)
		}
		return r
	}
	r.Unit, r.Limit = "ns", b.MaxNs
	r.Pass = v <= b.MaxNs
	if r.Pass {
		r.Detail = fmt.Sprintf("%s %s per call %s <= %s", b.Phase, b.Metric, FormatNs(v), FormatNs(b.MaxNs))
	} else {
		r.Detail = fmt.Sprintf("%s %s per call %s exceeds the %s budget (x%.1f)", b.Phase, b.Metric, FormatNs(v), FormatNs(b.MaxNs), v/b.MaxNs)
	}
	return r
}

func relative(r Result, b Budget, p, ref Phase) Result {
	v, err := Metric(p, b.Metric)
	if err != nil {
		r.Detail = fmt.Sprintf("%s: %v", b.Phase, err)
		return r
	}
	rv, err := Metric(ref, b.Metric)
	if err != nil || rv <= 0 {
		r.Detail = fmt.Sprintf("%s: no usable %s (%v)", b.RelativeTo, b.Metric, err)
		return r
	}
	r.Unit = "ratio"
	if b.Metric == "throughput" {
		// Slowdown = reference throughput / this throughput.
		if v <= 0 {
			r.Detail = fmt.Sprintf("%s throughput is zero", b.Phase)
			return r
		}
		r.Measured, r.Limit = rv/v, b.MaxRatio
	} else {
		r.Measured, r.Limit = v/rv, b.MaxRatio
	}
	r.Pass = r.Measured <= b.MaxRatio
	desc := fmt.Sprintf("%s %s %s vs %s %s", b.Phase, b.Metric, fmtMetric(b.Metric, v), b.RelativeTo, fmtMetric(b.Metric, rv))
	if r.Pass {
		r.Detail = fmt.Sprintf("%s: x%.2f slower, within x%g", desc, r.Measured, b.MaxRatio)
	} else {
		r.Detail = fmt.Sprintf("%s: x%.2f slower, over the x%g budget", desc, r.Measured, b.MaxRatio)
	}
	return r
}

// statistical runs a one-sided Mann-Whitney U test of H0 "the phase's calls
// are no slower than MaxSlowdown x the reference's" against H1 "they are".
// The reference samples are scaled by MaxSlowdown, so the budget fails only
// when the test is significant at Alpha: noise alone fails at most Alpha of
// the time.
func statistical(r Result, b Budget, p, ref Phase) Result {
	r.Metric, r.Unit = "calls", "ratio"
	if len(p.CallNs) == 0 || len(ref.CallNs) == 0 {
		r.Detail = fmt.Sprintf("no calls measured in %s or %s", b.Phase, b.RelativeTo)
		return r
	}
	scaled := make([]float64, len(ref.CallNs))
	for i, x := range ref.CallNs {
		scaled[i] = x * b.MaxSlowdown
	}
	th := &benchmath.Thresholds{CompareAlpha: b.Alpha}
	confidence := 1 - b.Alpha
	cur := benchmath.AssumeNothing.Summary(benchmath.NewSample(slices.Clone(p.CallNs), th), confidence)
	base := benchmath.AssumeNothing.Summary(benchmath.NewSample(slices.Clone(ref.CallNs), th), confidence)
	r.Measured = cur.Center / base.Center
	r.Limit = b.MaxSlowdown
	r.Confidence = confidence
	// Interval of the ratio of medians from the two medians' intervals.
	if base.Hi > 0 && base.Lo > 0 {
		r.CILo, r.CIHi = cur.Lo/base.Hi, cur.Hi/base.Lo
	}
	res, err := stats.MannWhitneyUTest(scaled, p.CallNs, stats.LocationLess)
	if err != nil {
		r.PValue = 1
		r.Pass = true
		r.Detail = fmt.Sprintf("U test not possible (%v): treated as no evidence of a slowdown; median ratio x%.2f", err, r.Measured)
		return r
	}
	r.PValue = res.P
	r.Pass = !(res.P < b.Alpha)
	ci := ""
	if r.CIHi > 0 {
		ci = fmt.Sprintf(", %.0f%% CI x%.2f..x%.2f", 100*confidence, r.CILo, r.CIHi)
	}
	n := fmt.Sprintf("n=%d/%d", len(p.CallNs), len(ref.CallNs))
	if r.Pass {
		r.Detail = fmt.Sprintf("%s median x%.2f of %s%s; no significant slowdown beyond x%g (p=%.3g >= %g, %s)", b.Phase, r.Measured, b.RelativeTo, ci, b.MaxSlowdown, res.P, b.Alpha, n)
	} else {
		r.Detail = fmt.Sprintf("%s calls are significantly slower than x%g %s: median x%.2f%s (p=%.3g < %g, %s)", b.Phase, b.MaxSlowdown, b.RelativeTo, r.Measured, ci, res.P, b.Alpha, n)
	}
	return r
}

func fmtMetric(metric string, v float64) string {
	if metric == "throughput" {
		return FormatRate(v)
	}
	return FormatNs(v)
}

// FormatNs renders nanoseconds as 15.0ms, 700ms, 1.20s, 45.0µs.
func FormatNs(ns float64) string {
	d := time.Duration(ns)
	switch {
	case math.IsNaN(ns):
		return "n/a"
	case d >= time.Second:
		return fmt.Sprintf("%.2fs", d.Seconds())
	case d >= time.Millisecond:
		return fmt.Sprintf("%.1fms", ns/1e6)
	default:
		return fmt.Sprintf("%.1fµs", ns/1e3)
	}
}

// FormatRate renders bytes per second as MB/s.
func FormatRate(bps float64) string {
	return strings.TrimSuffix(fmt.Sprintf("%.1f", bps/1e6), ".0") + "MB/s"
}
