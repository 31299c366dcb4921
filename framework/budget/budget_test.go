package budget

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

// lognormal samples around median ms, the shape per-call latencies have.
func lognormal(r *rand.Rand, n int, medianNs, sigma float64) []float64 {
	out := make([]float64, n)
	for i := range out {
		out[i] = medianNs * math.Exp(sigma*r.NormFloat64())
	}
	return out
}

func TestStatisticalFalseAlarmsAA(t *testing.T) {
	t.Parallel()
	b := Budget{Kind: Statistical, Phase: "after-reboot", RelativeTo: "baseline", MaxSlowdown: 1.0, Alpha: 0.01}
	const seeds = 2000
	alarms := 0
	for seed := uint64(0); seed < seeds; seed++ {
		r := rand.New(rand.NewPCG(seed, 1))
		phases := map[string]Phase{
			"baseline":     {CallNs: lognormal(r, 20, 15e6, 0.3)},
			"after-reboot": {CallNs: lognormal(r, 20, 15e6, 0.3)},
		}
		if !Evaluate([]Budget{b}, phases).Pass {
			alarms++
		}
	}
	rate := float64(alarms) / seeds
	t.Logf("A/A false alarms: %d of %d (%.2f%%) at alpha 0.01, maxSlowdown 1.0", alarms, seeds, 100*rate)
	if rate > 0.01 {
		t.Errorf("false alarm rate %.2f%% > 1%%", 100*rate)
	}
}

func TestStatisticalDetects2xSlowdown(t *testing.T) {
	t.Parallel()
	// Per-call noise as lognormal sigma: 0.3 is a noisy disk, 0.15 a quiet one.
	for _, tc := range []struct {
		maxSlowdown, sigma float64
	}{{1.0, 0.3}, {1.25, 0.2}, {1.5, 0.15}} {
		b := Budget{Kind: Statistical, Phase: "after-reboot", RelativeTo: "baseline", MaxSlowdown: tc.maxSlowdown, Alpha: 0.01}
		const seeds = 2000
		caught := 0
		for seed := uint64(0); seed < seeds; seed++ {
			r := rand.New(rand.NewPCG(seed, 2))
			phases := map[string]Phase{
				"baseline":     {CallNs: lognormal(r, 20, 15e6, tc.sigma)},
				"after-reboot": {CallNs: lognormal(r, 20, 30e6, tc.sigma)},
			}
			if !Evaluate([]Budget{b}, phases).Pass {
				caught++
			}
		}
		rate := float64(caught) / seeds
		t.Logf("2x slowdown, maxSlowdown %g, noise sigma %g: caught %d of %d (%.2f%%) with 20 samples per side", tc.maxSlowdown, tc.sigma, caught, seeds, 100*rate)
		if rate < 0.99 {
			t.Errorf("maxSlowdown %g sigma %g: detection rate %.2f%% < 99%%", tc.maxSlowdown, tc.sigma, 100*rate)
		}
	}
}

func TestStatisticalWithinAllowedSlowdownPasses(t *testing.T) {
	t.Parallel()
	// 1.2x slower with 1.5x allowed: must pass (almost always).
	b := Budget{Kind: Statistical, Phase: "a", RelativeTo: "b", MaxSlowdown: 1.5, Alpha: 0.01}
	fails := 0
	for seed := uint64(0); seed < 500; seed++ {
		r := rand.New(rand.NewPCG(seed, 3))
		v := Evaluate([]Budget{b}, map[string]Phase{"b": {CallNs: lognormal(r, 20, 15e6, 0.2)}, "a": {CallNs: lognormal(r, 20, 18e6, 0.2)}})
		if !v.Pass {
			fails++
		}
	}
	if fails > 5 {
		t.Errorf("%d of 500 failed for a slowdown inside the budget", fails)
	}
}

func TestAbsoluteAndRelative(t *testing.T) {
	t.Parallel()
	ms := func(xs ...float64) []float64 {
		for i := range xs {
			xs[i] *= 1e6
		}
		return xs
	}
	phases := map[string]Phase{
		"baseline":       {CallNs: ms(10, 12, 14, 16, 18), BytesPerSecond: 1000e6},
		"after-reboot":   {CallNs: ms(700, 720, 740, 760, 780), BytesPerSecond: 23e6},
		"after-recreate": {CallNs: ms(11, 12, 13, 14, 15), BytesPerSecond: 1100e6},
	}
	tests := []struct {
		name       string
		b          Budget
		pass       bool
		measured   float64
		wantDetail string
	}{
		{name: "p99 over", b: Budget{Kind: Absolute, Phase: "after-reboot", Metric: "p99", MaxNs: 120e6}, measured: 780e6, wantDetail: "exceeds the 120.0ms budget"},
		{name: "p99 under", b: Budget{Kind: Absolute, Phase: "after-recreate", Metric: "p99", MaxNs: 120e6}, pass: true, measured: 15e6},
		{name: "p50 exact nearest rank", b: Budget{Kind: Absolute, Phase: "baseline", Metric: "p50", MaxNs: 14e6}, pass: true, measured: 14e6},
		{name: "mean", b: Budget{Kind: Absolute, Phase: "baseline", Metric: "mean", MaxNs: 13e6}, measured: 14e6},
		{name: "throughput floor", b: Budget{Kind: Absolute, Phase: "after-reboot", Metric: "throughput", MinBytesPerSecond: 200e6}, measured: 23e6, wantDetail: "below the 200MB/s floor"},
		{name: "relative p50", b: Budget{Kind: Relative, Phase: "after-reboot", Metric: "p50", RelativeTo: "baseline", MaxRatio: 2}, measured: 740.0 / 14, wantDetail: "over the x2 budget"},
		{name: "relative p50 recovered", b: Budget{Kind: Relative, Phase: "after-recreate", Metric: "p50", RelativeTo: "baseline", MaxRatio: 2}, pass: true, measured: 13.0 / 14},
		{name: "relative throughput", b: Budget{Kind: Relative, Phase: "after-reboot", Metric: "throughput", RelativeTo: "baseline", MaxRatio: 2}, measured: 1000.0 / 23},
		{name: "missing phase", b: Budget{Kind: Absolute, Phase: "nope", Metric: "p50", MaxNs: 1}, wantDetail: "was not measured"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			v := Evaluate([]Budget{tt.b}, phases)
			r := v.Results[0]
			if r.Pass != tt.pass || v.Pass != tt.pass {
				t.Errorf("pass = %v, want %v (%s)", r.Pass, tt.pass, r.Detail)
			}
			if tt.measured != 0 && math.Abs(r.Measured-tt.measured) > 1e-9*math.Abs(tt.measured) {
				t.Errorf("measured = %v, want %v", r.Measured, tt.measured)
			}
			if !strings.Contains(r.Detail, tt.wantDetail) {
				t.Errorf("detail %q lacks %q", r.Detail, tt.wantDetail)
			}
			if r.Name == "" {
				t.Error("no name")
			}
		})
	}
}

func TestStatisticalReportsPValueAndCI(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(7, 7))
	v := Evaluate([]Budget{{Kind: Statistical, Phase: "a", RelativeTo: "b", MaxSlowdown: 1.5, Alpha: 0.01}},
		map[string]Phase{"b": {CallNs: lognormal(r, 30, 15e6, 0.1)}, "a": {CallNs: lognormal(r, 30, 700e6, 0.1)}})
	res := v.Results[0]
	if res.Pass || res.PValue <= 0 || res.PValue >= 0.01 || res.CILo <= 0 || res.CIHi < res.CILo || res.Confidence != 0.99 {
		t.Errorf("result = %+v", res)
	}
	if !strings.Contains(res.Detail, "p=") || !strings.Contains(res.Detail, "CI") {
		t.Errorf("detail %q lacks p-value or CI", res.Detail)
	}
}
