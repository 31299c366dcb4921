package budget

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"strings"
	"testing"

	"github.com/aclements/go-moremath/mathx"
	"github.com/aclements/go-moremath/stats"
)

// copiesAt builds a phase of one copy per median (ms), each copy's calls
// around it: a cold first call 3x slower, then the median, then faster and
// slower calls, so that the copy's median call is exactly the median given.
func copiesAt(medianMs ...float64) Phase {
	var p Phase
	for _, m := range medianMs {
		v := m * 1e6
		it := []float64{3 * v, 0.9 * v, v, v, 1.05 * v}
		p.Iterations = append(p.Iterations, it)
		p.CallNs = append(p.CallNs, it...)
	}
	return p
}

func TestMinIterations(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		alpha float64
		want  int
	}{{0.01, 5}, {0.05, 4}, {0.1, 3}, {0.001, 7}, {0.5, 2}, {0.6, 1}, {0, 0}, {-1, 0}, {math.NaN(), 0}} {
		if got := MinIterations(tt.alpha); got != tt.want {
			t.Errorf("MinIterations(%g) = %d, want %d", tt.alpha, got, tt.want)
		}
	}
	for _, tt := range []struct {
		n, m  int
		alpha float64
		want  bool
	}{
		{5, 5, 0.01, true}, {4, 4, 0.01, false}, {5, 4, 0.01, true}, {6, 3, 0.01, false},
		{7, 3, 0.01, true}, {3, 3, 0.05, false}, {0, 5, 0.05, false}, {60, 60, 1e-12, true},
	} {
		if got := Reachable(tt.n, tt.m, tt.alpha); got != tt.want {
			t.Errorf("Reachable(%d, %d, %g) = %v, want %v", tt.n, tt.m, tt.alpha, got, tt.want)
		}
	}
}

// The rule agrees with the library: the most extreme outcome of n vs n
// copies gives exactly p = 1/C(2n, n), below alpha from MinIterations on.
func TestMinIterationsMatchesTheUTest(t *testing.T) {
	t.Parallel()
	for _, alpha := range []float64{0.1, 0.05, 0.01, 0.005, 0.001} {
		minN := MinIterations(alpha)
		for n := 1; n <= minN; n++ {
			slow, fast := make([]float64, n), make([]float64, n)
			for i := range n {
				fast[i], slow[i] = float64(i+1), float64(100+i)
			}
			res, err := stats.MannWhitneyUTest(fast, slow, stats.LocationLess)
			if err != nil {
				t.Fatal(err)
			}
			if want := 1 / mathx.Choose(2*n, n); math.Abs(res.P-want) > 1e-12 {
				t.Errorf("n=%d: smallest p = %v, want 1/C(2n,n) = %v", n, res.P, want)
			}
			if reached := res.P < alpha; reached != (n == minN) {
				t.Errorf("alpha %g, n=%d: p=%v < alpha is %v, MinIterations says %d", alpha, n, res.P, reached, minN)
			}
		}
	}
}

func TestStatisticalWorkedExample(t *testing.T) {
	t.Parallel()
	ref := copiesAt(10, 11, 12, 13, 14)
	slow := copiesAt(20, 22, 24, 26, 28) // exactly 2x, copy by copy
	for _, tt := range []struct {
		name        string
		maxSlowdown float64
		pass        bool
		p           float64
		detail      string
	}{
		{
			// Scaled by 1.5 the reference is 15..21: one of 25 pairs (21 > 20)
			// goes the other way, p = P(U <= 1) = 2/252.
			name: "fail", maxSlowdown: 1.5, p: 2.0 / 252,
			detail: "after-reboot copies are significantly slower than x1.5 baseline: per-copy median x2.00 (98.4% CI x1.54..x2.60, p=0.0079 < 0.01, n=5/5 copies)",
		},
		{
			// Scaled by 2 the reference ties the phase copy for copy.
			name: "pass with ties", maxSlowdown: 2, pass: true,
			detail: "after-reboot per-copy median x2.00 of baseline (98.4% CI x1.54..x2.60, n=5/5 copies); no significant slowdown beyond x2 (p=",
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := Budget{Kind: Statistical, Phase: "after-reboot", RelativeTo: "baseline", MaxSlowdown: tt.maxSlowdown, Alpha: 0.01}
			r := Evaluate([]Budget{b}, map[string]Phase{"baseline": ref, "after-reboot": slow}).Results[0]
			if r.Pass != tt.pass {
				t.Errorf("pass = %v, want %v (%s)", r.Pass, tt.pass, r.Detail)
			}
			if tt.p != 0 && math.Abs(r.PValue-tt.p) > 1e-12 {
				t.Errorf("p = %v, want %v", r.PValue, tt.p)
			}
			// Hodges-Lehmann: the median of log(2 y_i / y_j) is log 2. Moses,
			// c = 1: the second smallest and second largest of the 25 ratios.
			for _, c := range []struct{ got, want float64 }{{r.Measured, 2}, {r.CILo, 20.0 / 13}, {r.CIHi, 26.0 / 10}, {r.Confidence, 1 - 4.0/252}, {r.Limit, tt.maxSlowdown}} {
				if math.Abs(c.got-c.want) > 1e-9 {
					t.Errorf("got %v, want %v in %+v", c.got, c.want, r)
				}
			}
			if !strings.HasPrefix(r.Detail, tt.detail) {
				t.Errorf("detail\n%s\nwant prefix\n%s", r.Detail, tt.detail)
			}
			if r.Name != fmt.Sprintf("after-reboot not slower than %g x baseline (U test on copies, alpha 0.01)", tt.maxSlowdown) {
				t.Errorf("name %q", r.Name)
			}
		})
	}
}

// The copy is the unit: what the calls of a copy do beyond its median does
// not change the test, and n counts copies.
func TestStatisticalCopiesAreTheUnit(t *testing.T) {
	t.Parallel()
	b := Budget{Kind: Statistical, Phase: "a", RelativeTo: "b", MaxSlowdown: 1, Alpha: 0.05}
	medians := func(p Phase) Phase {
		var out Phase
		for _, it := range p.Iterations {
			out.Iterations = append(out.Iterations, []float64{median(it)})
		}
		return out
	}
	r := rand.New(rand.NewPCG(3, 3))
	nz := simNoises()[2]
	for range 50 {
		ref, p := simulatePhase(r, 5, 16, 1, nz), simulatePhase(r, 6, 16, 1.3, nz)
		full := Evaluate([]Budget{b}, map[string]Phase{"a": p, "b": ref}).Results[0]
		short := Evaluate([]Budget{b}, map[string]Phase{"a": medians(p), "b": medians(ref)}).Results[0]
		if full.PValue != short.PValue || full.Measured != short.Measured || full.CILo != short.CILo || full.Pass != short.Pass {
			t.Fatalf("16 calls per copy %+v, the copies' medians alone %+v", full, short)
		}
		if !strings.Contains(full.Detail, "n=6/5 copies") {
			t.Fatalf("detail %q does not count copies", full.Detail)
		}
	}
}

// A statistical budget that cannot be computed fails, with the reason.
func TestStatisticalFailsClosed(t *testing.T) {
	t.Parallel()
	good := copiesAt(10, 11, 12, 13, 14)
	b := Budget{Kind: Statistical, Phase: "a", RelativeTo: "b", MaxSlowdown: 1.5, Alpha: 0.01}
	withCopy := func(it []float64) Phase {
		p := copiesAt(10, 11, 12, 13)
		p.Iterations = append(p.Iterations, it)
		return p
	}
	tests := []struct {
		name   string
		b      Budget
		a, ref Phase // ref defaults to good
		detail string
	}{
		{name: "calls without copies", b: b, a: Phase{CallNs: good.CallNs}, detail: "a has 25 calls but no per-copy grouping"},
		{name: "nothing measured", b: b, a: Phase{}, detail: "a has no copies measured"},
		{name: "copy without calls", b: b, a: withCopy(nil), detail: "a copy 5 of 5 has no calls"},
		{name: "zero latency", b: b, a: withCopy([]float64{0, 0, 0}), detail: "not a positive finite time"},
		{name: "NaN latency", b: b, a: withCopy([]float64{1e6, math.NaN(), 2e6}), detail: "median call latency NaN"},
		{name: "infinite latency", b: b, a: withCopy([]float64{math.Inf(1)}), detail: "median call latency +Inf"},
		{name: "too few copies", b: b, a: copiesAt(30, 31, 32), detail: "3 vs 5 copies can never reach p < 0.01 with the copy as the unit (the smallest p of 3 vs 5 copies is 0.0179; the smallest equal split that can is 5 vs 5): fails closed"},
		{name: "one copy against many", b: b, a: copiesAt(30), ref: manyCopies(60), detail: "1 vs 60 copies can never reach p < 0.01 with the copy as the unit (the smallest p of 1 vs 60 copies is 0.0"},
		{name: "all equal", b: Budget{Kind: Statistical, Phase: "a", RelativeTo: "b", MaxSlowdown: 1, Alpha: 0.01}, a: copiesAt(12, 12, 12, 12, 12), detail: "the U test failed"},
		{name: "alpha zero", b: Budget{Kind: Statistical, Phase: "a", RelativeTo: "b", MaxSlowdown: 1.5}, a: good, detail: "out of range: fails closed"},
		{name: "maxSlowdown NaN", b: Budget{Kind: Statistical, Phase: "a", RelativeTo: "b", MaxSlowdown: math.NaN(), Alpha: 0.01}, a: good, detail: "out of range: fails closed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ref := good
			if len(tt.ref.Iterations) > 0 {
				ref = tt.ref
			}
			if tt.name == "all equal" {
				ref = copiesAt(12, 12, 12, 12, 12)
			}
			v := Evaluate([]Budget{tt.b}, map[string]Phase{"a": tt.a, "b": ref})
			r := v.Results[0]
			if r.Pass || v.Pass {
				t.Errorf("passed: %+v", r)
			}
			if !strings.Contains(r.Detail, tt.detail) {
				t.Errorf("detail %q lacks %q", r.Detail, tt.detail)
			}
			if strings.Contains(r.Detail, "\n") {
				t.Errorf("detail %q is not one line", r.Detail)
			}
		})
	}
}

// manyCopies is n one-call copies of 10ms, 10.01ms, ...
func manyCopies(n int) Phase {
	p := Phase{Iterations: make([][]float64, n)}
	for i := range p.Iterations {
		p.Iterations[i] = []float64{10e6 + float64(i)*1e4}
	}
	return p
}

// More than MaxCopies copies on either side fails closed before the n x m
// pairwise ratios are made: a hostile result cannot make the budget
// allocate gigabytes. Not parallel: it counts the bytes allocated.
func TestStatisticalCopiesCapped(t *testing.T) {
	if MaxCopies != 1000 {
		t.Errorf("MaxCopies = %d, the test below assumes 1000", MaxCopies)
	}
	b := Budget{Kind: Statistical, Phase: "a", RelativeTo: "b", MaxSlowdown: 1.5, Alpha: 0.01}
	over, at := manyCopies(MaxCopies+1), manyCopies(MaxCopies)
	for _, tt := range []struct {
		name   string
		a, ref Phase
		detail string
	}{
		{name: "phase", a: over, ref: at, detail: "a has 1001 copies, more than the 1000 a statistical budget compares"},
		{name: "reference", a: at, ref: over, detail: "b has 1001 copies, more than the 1000 a statistical budget compares"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			r := Evaluate([]Budget{b}, map[string]Phase{"a": tt.a, "b": tt.ref}).Results[0]
			runtime.ReadMemStats(&after)
			if r.Pass || !strings.Contains(r.Detail, tt.detail) || !strings.HasSuffix(r.Detail, ": fails closed") {
				t.Errorf("result %+v, want a failure with %q", r, tt.detail)
			}
			// Failing closed costs the copies' medians at most (some 40 KB),
			// never the 8 MB of a million pairwise ratios.
			if n := after.TotalAlloc - before.TotalAlloc; n > 1<<20 {
				t.Errorf("%d bytes allocated to fail closed", n)
			}
		})
	}
	// At the cap the test runs.
	r := Evaluate([]Budget{b}, map[string]Phase{"a": at, "b": at}).Results[0]
	if !r.Pass || !strings.Contains(r.Detail, "n=1000/1000 copies") {
		t.Errorf("at the cap: %+v", r)
	}
}

// Beyond the exact limit SmallestP is what the library's approximation
// gives, so that Reachable and the test agree: 1 copy against 60 can never
// reach 0.01, though 1/C(61, 1) is below it.
func TestSmallestPMatchesTheUTestBeyondTheExactLimit(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ n, m int }{{1, 60}, {60, 1}, {3, 51}, {51, 51}, {5, 5}, {50, 50}} {
		fast, slow := make([]float64, tt.m), make([]float64, tt.n)
		for i := range fast {
			fast[i] = float64(i + 1)
		}
		for i := range slow {
			slow[i] = float64(1000 + i)
		}
		res, err := stats.MannWhitneyUTest(fast, slow, stats.LocationLess)
		if err != nil {
			t.Fatal(err)
		}
		if got := SmallestP(tt.n, tt.m); math.Abs(got-res.P) > 1e-12*max(1, res.P) && math.Abs(got/res.P-1) > 1e-9 {
			t.Errorf("SmallestP(%d, %d) = %v, the U test's most extreme p = %v", tt.n, tt.m, got, res.P)
		}
	}
	if Reachable(1, 60, 0.01) {
		t.Errorf("Reachable(1, 60, 0.01), but the U test's smallest p is %v", SmallestP(1, 60))
	}
}

// Unequal copies are fine when they can reach alpha: 5 vs 4 at 0.01.
func TestStatisticalUnequalCopies(t *testing.T) {
	t.Parallel()
	b := Budget{Kind: Statistical, Phase: "a", RelativeTo: "b", MaxSlowdown: 1, Alpha: 0.01}
	v := Evaluate([]Budget{b}, map[string]Phase{"a": copiesAt(50, 51, 52, 53, 54), "b": copiesAt(10, 11, 12, 13)})
	r := v.Results[0]
	if r.Pass || math.Abs(r.PValue-1/mathx.Choose(9, 4)) > 1e-12 || !strings.Contains(r.Detail, "n=5/4 copies") {
		t.Errorf("result %+v", r)
	}
}

func TestStatisticalWithinAllowedSlowdownPasses(t *testing.T) {
	t.Parallel()
	// 1.2x slower with 1.5x allowed at 10-20% copy noise: passes (almost always).
	b := Budget{Kind: Statistical, Phase: "a", RelativeTo: "b", MaxSlowdown: 1.5, Alpha: 0.01}
	fails := 0
	for seed := range uint64(500) {
		r := rand.New(rand.NewPCG(seed, 3))
		nz := simNoises()[1]
		if !Evaluate([]Budget{b}, map[string]Phase{"b": simulatePhase(r, 5, 16, 1, nz), "a": simulatePhase(r, 5, 16, 1.2, nz)}).Pass {
			fails++
		}
	}
	if fails > 5 {
		t.Errorf("%d of 500 failed for a slowdown inside the budget", fails)
	}
}

func TestBlindPhasesWarn(t *testing.T) {
	t.Parallel()
	blind := copiesAt(10, 11, 12, 13, 14)
	blind.Blind = "copies shared extents (reflink): no data was read"
	phases := map[string]Phase{"baseline": copiesAt(10, 11, 12, 13, 14), "after-reboot": blind, "after-recreate": copiesAt(10, 11, 12, 13, 14)}
	tests := []struct {
		name  string
		b     Budget
		warns int
	}{
		{name: "absolute on the blind phase", b: Budget{Kind: Absolute, Phase: "after-reboot", Metric: "p50", MaxNs: 1e9}, warns: 1},
		{name: "absolute elsewhere", b: Budget{Kind: Absolute, Phase: "baseline", Metric: "p50", MaxNs: 1e9}},
		{name: "relative against the blind phase", b: Budget{Kind: Relative, Phase: "after-recreate", Metric: "p50", RelativeTo: "after-reboot", MaxRatio: 2}, warns: 1},
		{name: "statistical on the blind phase", b: Budget{Kind: Statistical, Phase: "after-reboot", RelativeTo: "baseline", MaxSlowdown: 1, Alpha: 0.01}, warns: 1},
		{name: "statistical elsewhere", b: Budget{Kind: Statistical, Phase: "after-recreate", RelativeTo: "baseline", MaxSlowdown: 1, Alpha: 0.01}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := Evaluate([]Budget{tt.b}, phases).Results[0]
			if !r.Pass {
				t.Errorf("a blind phase failed the budget by itself: %s", r.Detail)
			}
			if len(r.Warnings) != tt.warns {
				t.Fatalf("warnings %q, want %d", r.Warnings, tt.warns)
			}
			if tt.warns > 0 {
				want := "after-reboot is blind to the data path: copies shared extents (reflink): no data was read"
				if r.Warnings[0] != want || !strings.HasSuffix(r.Detail, "; warning: "+want) {
					t.Errorf("warnings %q, detail %q", r.Warnings, r.Detail)
				}
			} else if strings.Contains(r.Detail, "warning") {
				t.Errorf("detail %q warns", r.Detail)
			}
		})
	}
}

func TestMetricUsesIterationsWithoutCallNs(t *testing.T) {
	t.Parallel()
	p := Phase{Iterations: [][]float64{{1, 2}, {3, 4, 5}}}
	if v, err := Metric(p, "max"); err != nil || v != 5 {
		t.Errorf("max = %v, %v", v, err)
	}
	if _, err := Metric(Phase{}, "p50"); err == nil {
		t.Error("no error for an empty phase")
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
