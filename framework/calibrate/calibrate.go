package calibrate

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"time"

	"github.com/pvreboot/pvreboot/framework/budget"
	"github.com/pvreboot/pvreboot/framework/scenario"
	"gonum.org/v1/gonum/stat"
	"gonum.org/v1/gonum/stat/distuv"
)

// Headroom multiplies the worst value the noise produced when a budget is
// suggested: a budget at the noise's edge would fail about as often as the
// repeats were out of line.
const Headroom = 1.5

// Confidence of the upper bound given with each false-alarm rate.
const Confidence = 0.95

// Calibration is what K repeats of one phase without a reboot (A/A) say about
// the noise of a cluster, and about the scenario's budgets on that noise.
type Calibration struct {
	Scenario string    `json:"scenario"`
	Node     string    `json:"node,omitempty"`
	Phase    string    `json:"phase"` // what was repeated: the baseline measurement
	Repeats  int       `json:"repeats"`
	At       time.Time `json:"at"`
	// Noise is the spread of each metric over the repeats.
	Noise []Noise `json:"noise"`
	// Budgets is each scenario budget judged on pairs of repeats.
	Budgets []BudgetNoise `json:"budgets"`
	// Suggested are the scenario's budgets with limits the noise would
	// leave alone, in scenario form.
	Suggested []scenario.Budget `json:"suggested"`
	Notes     []string          `json:"notes,omitempty"`
}

// Noise is one metric over the repeats.
type Noise struct {
	Metric string    `json:"metric"` // p50, p90, p99, max, mean, throughput
	Unit   string    `json:"unit"`   // ns or B/s
	Values []float64 `json:"values"` // one per repeat, in order
	Mean   float64   `json:"mean"`
	Min    float64   `json:"min"`
	Max    float64   `json:"max"`
	// CV is the coefficient of variation (sample standard deviation over the
	// mean).
	CV float64 `json:"cv"`
	// MaxRatio is the largest ratio between two repeats (slower over faster:
	// for throughput, faster over slower), the noise a relative budget sees.
	MaxRatio float64 `json:"maxRatio"`
}

// BudgetNoise is one budget evaluated on the noise alone: every failure is a
// false alarm.
type BudgetNoise struct {
	Name string `json:"name"`
	// Trials are the evaluations: each repeat for an absolute budget, each
	// ordered pair of repeats (one as the phase, one as its reference) for a
	// relative or statistical one.
	Trials int `json:"trials"`
	Alarms int `json:"alarms"`
	// Rate is Alarms/Trials. RateHi is a one-sided upper bound of the
	// false-alarm rate at Confidence (Clopper-Pearson) on independent
	// trials only: the repeats for an absolute budget; for a paired budget
	// the disjoint pairs (1,2), (3,4), ..., since pairs that share a repeat
	// are not independent. BoundTrials and BoundAlarms are what it rests on.
	Rate        float64 `json:"rate"`
	RateHi      float64 `json:"rateHi"`
	BoundTrials int     `json:"boundTrials"`
	BoundAlarms int     `json:"boundAlarms"`
	// Worst is the measured value closest to (or past) the limit, in the
	// budget's unit.
	Worst float64 `json:"worst"`
	Limit float64 `json:"limit"`
	Unit  string  `json:"unit"`
	// MinPValue is the smallest p-value a statistical budget saw.
	MinPValue float64 `json:"minPValue,omitempty"`
}

// Metrics returns the metrics whose noise is reported.
func Metrics() []string { return []string{"p50", "p90", "p99", "max", "mean", "throughput"} }

// Compute judges the scenario's budgets on repeats of one phase. At least
// two repeats are needed.
func Compute(name, phase string, specs []scenario.Budget, repeats []budget.Phase) (*Calibration, error) {
	if len(repeats) < 2 {
		return nil, fmt.Errorf("calibration needs at least 2 repeats, got %d", len(repeats))
	}
	budgets := scenario.Rules(specs)
	c := &Calibration{Scenario: name, Phase: phase, Repeats: len(repeats), At: time.Now().UTC()}
	for _, m := range Metrics() {
		n, err := noise(m, repeats)
		if err != nil {
			return nil, fmt.Errorf("calibration: %s: %w", m, err)
		}
		c.Noise = append(c.Noise, n)
	}
	paired := false
	for i, b := range budgets {
		bn := judge(b, repeats)
		c.Budgets = append(c.Budgets, bn)
		c.Suggested = append(c.Suggested, suggest(specs[i], b, c, repeats))
		paired = paired || b.Kind != budget.Absolute
	}
	if paired {
		c.Notes = append(c.Notes, fmt.Sprintf("relative and statistical budgets are judged on the %d ordered pairs of repeats; pairs that share a repeat are not independent, so their upper bound rests on the %d disjoint pairs only: more repeats tighten it", len(repeats)*(len(repeats)-1), len(repeats)/2))
	}
	return c, nil
}

func noise(metric string, repeats []budget.Phase) (Noise, error) {
	n := Noise{Metric: metric, Unit: "ns"}
	if metric == "throughput" {
		n.Unit = "B/s"
	}
	for i, p := range repeats {
		v, err := budget.Metric(p, metric)
		if err != nil {
			return n, fmt.Errorf("repeat %d: %w", i+1, err)
		}
		if !(v > 0) || math.IsInf(v, 0) {
			return n, fmt.Errorf("repeat %d: %s is %g", i+1, metric, v)
		}
		n.Values = append(n.Values, v)
	}
	n.Mean, n.Min, n.Max = stat.Mean(n.Values, nil), slices.Min(n.Values), slices.Max(n.Values)
	n.CV = stat.StdDev(n.Values, nil) / n.Mean
	n.MaxRatio = n.Max / n.Min
	return n, nil
}

// judge evaluates one budget on the noise.
func judge(b budget.Budget, repeats []budget.Phase) BudgetNoise {
	bn := BudgetNoise{Name: b.Name}
	if bn.Name == "" {
		bn.Name = budget.DefaultName(b)
	}
	bn.MinPValue = math.Inf(1)
	worst := math.Inf(-1)
	if b.Kind == budget.Absolute && b.Metric == "throughput" {
		worst = math.Inf(1)
	}
	eval := func(phases map[string]budget.Phase) bool {
		r := budget.Evaluate([]budget.Budget{b}, phases).Results[0]
		bn.Trials++
		if !r.Pass {
			bn.Alarms++
		}
		bn.Limit, bn.Unit = r.Limit, r.Unit
		if b.Kind == budget.Absolute && b.Metric == "throughput" {
			worst = math.Min(worst, r.Measured)
		} else {
			worst = math.Max(worst, r.Measured)
		}
		if b.Kind == budget.Statistical {
			bn.MinPValue = math.Min(bn.MinPValue, r.PValue)
		}
		return !r.Pass
	}
	for i := range repeats {
		if b.Kind == budget.Absolute {
			if eval(map[string]budget.Phase{b.Phase: repeats[i]}) {
				bn.BoundAlarms++
			}
			bn.BoundTrials++
			continue
		}
		for j := range repeats {
			if i == j {
				continue
			}
			alarm := eval(map[string]budget.Phase{b.RelativeTo: repeats[i], b.Phase: repeats[j]})
			if i%2 == 0 && j == i+1 {
				bn.BoundTrials++
				if alarm {
					bn.BoundAlarms++
				}
			}
		}
	}
	if math.IsInf(bn.MinPValue, 1) {
		bn.MinPValue = 0
	}
	bn.Worst = worst
	bn.Rate = float64(bn.Alarms) / float64(bn.Trials)
	bn.RateHi = UpperBound(bn.BoundAlarms, bn.BoundTrials, Confidence)
	return bn
}

// UpperBound is the one-sided Clopper-Pearson upper bound at confidence of
// a rate seen as k events in n trials.
func UpperBound(k, n int, confidence float64) float64 {
	if n <= 0 {
		return 1
	}
	if k >= n {
		return 1
	}
	return distuv.Beta{Alpha: float64(k + 1), Beta: float64(n - k)}.Quantile(confidence)
}

// suggest returns the budget with a limit the noise would leave alone: the
// worst value of the repeats times Headroom, rounded outwards.
func suggest(spec scenario.Budget, b budget.Budget, c *Calibration, repeats []budget.Phase) scenario.Budget {
	out := spec
	metricNoise := func(m string) Noise {
		for _, n := range c.Noise {
			if n.Metric == m {
				return n
			}
		}
		return Noise{}
	}
	switch b.Kind {
	case budget.Absolute:
		n := metricNoise(b.Metric)
		if b.Metric == "throughput" {
			t := scenario.Throughput{BytesPerSecond: roundDown(n.Min / Headroom)}
			out.Min = &t
			return out
		}
		d := scenario.Duration{Duration: min(roundDuration(n.Max*Headroom), scenario.MaxLatencyBudget)}
		out.Max = &d
	case budget.Relative:
		n := metricNoise(b.Metric)
		out.MaxRatio = min(math.Max(roundRatio(n.MaxRatio*Headroom), 1.5), scenario.MaxRatio)
	case budget.Statistical:
		// The test fails exactly when the lower end of the ratio's
		// interval is above maxSlowdown: the worst lower end over the pairs
		// is how far the noise alone reaches.
		worst := 1.0
		for i := range repeats {
			for j := range repeats {
				if i == j {
					continue
				}
				probe := b
				probe.MaxSlowdown = 1
				r := budget.Evaluate([]budget.Budget{probe}, map[string]budget.Phase{b.RelativeTo: repeats[i], b.Phase: repeats[j]}).Results[0]
				if r.CILo > worst && !math.IsInf(r.CILo, 0) {
					worst = r.CILo
				}
			}
		}
		st := *spec.Statistical
		st.MaxSlowdown = min(math.Max(roundRatio(worst*Headroom), 1.2), scenario.MaxRatio)
		out.Statistical = &st
	}
	return out
}

// roundDuration rounds nanoseconds up to two significant digits.
func roundDuration(ns float64) time.Duration {
	if !(ns > 0) {
		return time.Millisecond
	}
	e := math.Pow(10, math.Floor(math.Log10(ns))-1)
	return time.Duration(math.Ceil(ns/e) * e)
}

// roundDown rounds a rate down to two significant digits.
func roundDown(v float64) float64 {
	if !(v > 0) {
		return 0
	}
	e := math.Pow(10, math.Floor(math.Log10(v))-1)
	return math.Floor(v/e) * e
}

// roundRatio rounds a ratio up to one decimal.
func roundRatio(r float64) float64 {
	v, _ := strconv.ParseFloat(strconv.FormatFloat(math.Ceil(r*10)/10, 'f', 1, 64), 64)
	return v
}
