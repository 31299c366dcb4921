package budget

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/aclements/go-moremath/stats"
	"gonum.org/v1/gonum/stat"
)

// Phase holds one phase's measurements.
type Phase struct {
	// CallNs is every timed call's latency in nanoseconds, for absolute and
	// relative budgets (when empty, the calls of Iterations are used).
	CallNs []float64
	// Iterations holds each copy's call latencies in nanoseconds, in order:
	// the statistical budget's unit of replication is the copy.
	Iterations [][]float64
	// BytesPerSecond is the phase's overall throughput.
	BytesPerSecond float64
	// Blind, when set, says why this phase's calls cannot see the data path
	// ("copies shared extents (reflink): no data was read"). Every budget
	// judged on the phase warns so; it does not by itself fail.
	Blind string
}

// calls returns CallNs, or every call of Iterations when CallNs is empty.
func (p Phase) calls() []float64 {
	if len(p.CallNs) > 0 || len(p.Iterations) == 0 {
		return p.CallNs
	}
	var out []float64
	for _, it := range p.Iterations {
		out = append(out, it...)
	}
	return out
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
	// Warnings say why the verdict may not mean what it says: a phase
	// compared is blind to the data path (Phase.Blind).
	Warnings []string `json:"warnings,omitempty"`
	// Statistical results: the one-sided p-value, and the interval
	// [CILo, CIHi] of the ratio with the two-sided confidence it achieves.
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
	s := slices.Clone(p.calls())
	if len(s) == 0 {
		return 0, fmt.Errorf("no calls measured")
	}
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
		r = warnBlind(r, b, phases)
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
		return fmt.Sprintf("%s not slower than %g x %s (U test on copies, alpha %g)", b.Phase, b.MaxSlowdown, b.RelativeTo, b.Alpha)
	}
	return string(b.Kind)
}

// warnBlind adds a warning, to Warnings and to the detail, for each phase
// the budget judges (the phase, and the reference of a relative or
// statistical budget) whose calls cannot see the data path.
func warnBlind(r Result, b Budget, phases map[string]Phase) Result {
	names := []string{b.Phase}
	if b.Kind != Absolute && b.RelativeTo != b.Phase {
		names = append(names, b.RelativeTo)
	}
	for _, n := range names {
		p, ok := phases[n]
		if !ok || p.Blind == "" {
			continue
		}
		w := fmt.Sprintf("%s is blind to the data path: %s", n, p.Blind)
		r.Warnings = append(r.Warnings, w)
		r.Detail += "; warning: " + w
	}
	return r
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

// statistical tests H0 "the phase is no slower than MaxSlowdown x the
// reference" against H1 "it is", with the copy as the unit (see copies.go):
// a one-sided Mann-Whitney U test of the copies' median call latencies
// against the reference's scaled by MaxSlowdown. go-moremath computes it
// exactly up to 50 copies a side without ties and up to 25 with tied
// medians (stats.MannWhitneyExactLimit, MannWhitneyTiesExactLimit), beyond
// by its normal approximation. The budget fails when the test is
// significant at Alpha, so noise alone fails at most Alpha of the time,
// provided the phase's copies are a rescaling of the reference's (copies.go):
// a phase whose copies merely spread more than the reference's, at the same
// median, can fail more often than that. It fails closed when the test cannot
// be computed, or either side has more than MaxCopies copies.
func statistical(r Result, b Budget, p, ref Phase) Result {
	r.Metric, r.Unit, r.Limit = "copy median", "ratio", b.MaxSlowdown
	if !(b.MaxSlowdown > 0) || math.IsInf(b.MaxSlowdown, 0) || !(b.Alpha > 0 && b.Alpha < 1) {
		r.Detail = fmt.Sprintf("maxSlowdown %g or alpha %g is out of range: fails closed", b.MaxSlowdown, b.Alpha)
		return r
	}
	x, err := copyMedians(b.Phase, p)
	if err == nil {
		var y []float64
		if y, err = copyMedians(b.RelativeTo, ref); err == nil {
			return copiesTest(r, b, x, y)
		}
	}
	r.Detail = fmt.Sprintf("U test on copies not possible: %v: fails closed", err)
	return r
}

func copiesTest(r Result, b Budget, x, y []float64) Result {
	n := fmt.Sprintf("n=%d/%d copies", len(x), len(y))
	est, ok := estimateRatio(x, y, b.Alpha)
	r.Measured = est.Estimate
	if !ok || !Reachable(len(x), len(y), b.Alpha) {
		minN := MinIterations(b.Alpha)
		r.Detail = fmt.Sprintf("%s per-copy median x%s of %s, but %d vs %d copies can never reach p < %g with the copy as the unit (the smallest p of %d vs %d copies is %.3g; the smallest equal split that can is %d vs %d): fails closed",
			b.Phase, fmtRatio(est.Estimate), b.RelativeTo, len(x), len(y), b.Alpha, len(x), len(y), SmallestP(len(x), len(y)), minN, minN)
		return r
	}
	r.Confidence, r.CILo, r.CIHi = est.Confidence, est.Lo, est.Hi
	ci := fmt.Sprintf("%s CI x%s..x%s", fmtPercent(est.Confidence), fmtRatio(est.Lo), fmtRatio(est.Hi))
	scaled := make([]float64, len(y))
	for i, v := range y {
		scaled[i] = v * b.MaxSlowdown
	}
	res, err := stats.MannWhitneyUTest(scaled, x, stats.LocationLess)
	if err != nil {
		r.Detail = fmt.Sprintf("%s per-copy median x%s of %s (%s, %s), but the U test failed: %v: fails closed", b.Phase, fmtRatio(est.Estimate), b.RelativeTo, ci, n, err)
		return r
	}
	r.PValue = res.P
	r.Pass = res.P >= b.Alpha // NaN fails
	if r.Pass {
		r.Detail = fmt.Sprintf("%s per-copy median x%s of %s (%s, %s); no significant slowdown beyond x%g (p=%.2g >= %g)",
			b.Phase, fmtRatio(est.Estimate), b.RelativeTo, ci, n, b.MaxSlowdown, res.P, b.Alpha)
	} else {
		r.Detail = fmt.Sprintf("%s copies are significantly slower than x%g %s: per-copy median x%s (%s, p=%.2g < %g, %s)",
			b.Phase, b.MaxSlowdown, b.RelativeTo, fmtRatio(est.Estimate), ci, res.P, b.Alpha, n)
	}
	return r
}

// fmtRatio renders a ratio with three significant digits: 1.03, 48.7, 120.
func fmtRatio(v float64) string {
	switch {
	case v < 10:
		return fmt.Sprintf("%.2f", v)
	case v < 100:
		return fmt.Sprintf("%.1f", v)
	}
	return fmt.Sprintf("%.0f", v)
}

// fmtPercent renders a confidence rounded down to 0.1%, never overstating
// it: 0.99206 is 99.2%, 0.95 is 95%.
func fmtPercent(c float64) string {
	return strings.TrimSuffix(fmt.Sprintf("%.1f", math.Floor(1000*c+1e-9)/10), ".0") + "%"
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
