package budget

import (
	"fmt"
	"math"
	"slices"

	"github.com/aclements/go-moremath/mathx"
	"github.com/aclements/go-moremath/stats"
)

// The statistical budget's unit of replication is the copy (a probe
// iteration), not the call: calls of one copy share the page cache, the
// device queue and a throttle's token bucket, and the first call of a cold
// copy differs from the rest, so calls are not independent and a test over
// them gives p-values that are too small. Each copy is summarised by its
// median call latency, which the cold first call does not move, and the
// copies' medians go through a one-sided Mann-Whitney U test (exact for the
// copy counts workloads use, see SmallestP).
//
// The alpha guarantee rests on one assumption: under H0 the phase's copies
// are a rescaling of the reference's (the same distribution of copy
// medians, only the scale moved), so at the boundary of H0 (phase =
// maxSlowdown x reference) the copies' medians are exchangeable and the
// test holds alpha whatever happens between the calls of a copy. A phase
// whose copies spread much more than the reference's, with the same median,
// breaks it: the U test can then take the spread for a slowdown more often
// than alpha (simulation_test.go, TestSimulationUnequalSpread: copy spread
// 0.6 against 0.05, 5 vs 5 copies, about 2% false alarms at alpha 1%).
//
// Chosen by simulation (simulation_test.go: 5 vs 5 copies of 16 calls,
// correlated inside a copy). The per-call test it replaced raised false
// alarms in 16-32% of trials at alpha 1-5%. Against the U test on copy
// medians: a permutation test on the mean of log medians (exact under the
// same exchangeability, same smallest p) was within a point of it in false
// alarms and power; the geometric mean of a copy's calls instead of its
// median gained 1-5 points of power but moves with the cold first call; a
// hierarchical bootstrap (copies, then calls) gained power but did not hold
// alpha with 5 copies (2.4-3.2% false alarms at alpha 1%, 7-8% at 5%).

// MinIterations returns the smallest n such that n copies of a phase against
// n copies of its reference can ever reach p < alpha with the statistical
// budget's test: the smallest p the exact one-sided U test can give is
// 1/C(2n, n), so alpha 0.01 needs 5 copies and alpha 0.05 needs 4. It returns
// 0 when alpha is not positive (no n can).
func MinIterations(alpha float64) int {
	if !(alpha > 0) {
		return 0
	}
	for n := 1; ; n++ {
		// C(2n, n) grows without bound (to +Inf), so this ends for any alpha > 0.
		if Reachable(n, n, alpha) {
			return n
		}
	}
}

// Reachable reports whether n copies of a phase against m of its reference
// can ever reach p < alpha (SmallestP(n, m) < alpha).
func Reachable(n, m int, alpha float64) bool {
	return SmallestP(n, m) < alpha
}

// SmallestP is the smallest p-value n copies against m can give: the most
// extreme outcome (every copy of the phase slower than every scaled copy of
// the reference) has probability 1/C(n+m, n) under H0, which is what
// go-moremath's exact U test gives up to stats.MannWhitneyExactLimit (50)
// copies a side. Beyond, the library uses its normal approximation (with
// continuity correction), and so does SmallestP: 1 copy against 1000 can
// never reach 0.01 that way, although 1/C(1001, 1) is 0.001. It is 1 when
// either side has no copies. (With tied copy medians the library is exact
// only up to stats.MannWhitneyTiesExactLimit, 25, a side and approximates
// beyond: above 50 a side its smallest p is then at most the value here,
// but from 26 to 50 it can be larger, about 3e-10 at 26 vs 26 instead of
// 1/C(52, 26), and more for very unequal sides.)
func SmallestP(n, m int) float64 {
	if n < 1 || m < 1 {
		return 1
	}
	if n <= stats.MannWhitneyExactLimit && m <= stats.MannWhitneyExactLimit {
		return 1 / mathx.Choose(n+m, n)
	}
	return uCDF(n, m, 0)
}

// MaxCopies bounds the copies on each side of a statistical budget: the
// ratio's interval is read from all n x m pairwise ratios of the copies'
// medians, so a hostile result with 40,000 copies a side would need some
// 13 GB. A phase or reference with more copies fails closed.
// scenario.MaxIterations keeps a scenario's workload within it.
const MaxCopies = 1000

// copyMedians returns the median call latency of each copy of a phase. A
// phase without copies or with more than MaxCopies, a copy without calls or
// a median that is not a positive finite number is an error: the test
// cannot be computed.
func copyMedians(phase string, p Phase) ([]float64, error) {
	if len(p.Iterations) > MaxCopies {
		return nil, fmt.Errorf("%s has %d copies, more than the %d a statistical budget compares", phase, len(p.Iterations), MaxCopies)
	}
	if len(p.Iterations) == 0 {
		if len(p.CallNs) > 0 {
			return nil, fmt.Errorf("%s has %d calls but no per-copy grouping", phase, len(p.CallNs))
		}
		return nil, fmt.Errorf("%s has no copies measured", phase)
	}
	out := make([]float64, len(p.Iterations))
	for i, calls := range p.Iterations {
		if len(calls) == 0 {
			return nil, fmt.Errorf("%s copy %d of %d has no calls", phase, i+1, len(p.Iterations))
		}
		out[i] = median(calls)
		if !(out[i] > 0) || math.IsInf(out[i], 0) {
			return nil, fmt.Errorf("%s copy %d of %d has median call latency %v, not a positive finite time", phase, i+1, len(p.Iterations), out[i])
		}
	}
	return out, nil
}

// median of xs (not modified); NaN anywhere makes it NaN.
func median(xs []float64) float64 {
	if slices.ContainsFunc(xs, math.IsNaN) {
		return math.NaN()
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// logDiffs returns every pairwise log(x_i) - log(y_j), sorted: what the
// Hodges-Lehmann estimate and the Moses interval are read from. It holds
// len(x) x len(y) floats, which MaxCopies bounds (8 MB).
func logDiffs(x, y []float64) []float64 {
	d := make([]float64, 0, len(x)*len(y))
	for _, a := range x {
		for _, b := range y {
			d = append(d, math.Log(a)-math.Log(b))
		}
	}
	slices.Sort(d)
	return d
}

// ratioInterval is the Hodges-Lehmann estimate of the ratio x/y (exp of the
// median of the pairwise log differences) and its Moses (Mann-Whitney based)
// distribution-free interval [D_(c+1), D_(nm-c)] with c the largest count
// for which P(U <= c) < alpha under H0: each tail holds less than alpha, so
// the interval's nominal two-sided confidence is 1-2*alpha and its lower end
// is the one-sided 1-alpha lower bound that matches the U test (with no
// ties, the test rejects "ratio <= s" exactly when lo > s). Confidence is
// what the discrete U distribution achieves, 1 - 2*P(U <= c) >= 1-2*alpha.
type ratioInterval struct {
	Estimate, Lo, Hi, Confidence float64
}

// estimateRatio returns the estimate, and false without an interval when
// no count c has P(U <= c) < alpha (too few copies).
func estimateRatio(x, y []float64, alpha float64) (ratioInterval, bool) {
	d := logDiffs(x, y)
	est := ratioInterval{Estimate: math.Exp(median(d))}
	n, m := len(x), len(y)
	if !(uCDF(n, m, 0) < alpha) {
		return est, false
	}
	// Largest c in [0, (nm-1)/2] with P(U <= c) < alpha; P is monotone in c.
	lo, hi := 0, (n*m-1)/2
	for lo < hi {
		mid := (lo + hi + 1) / 2
		if uCDF(n, m, float64(mid)) < alpha {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	c := lo
	est.Lo, est.Hi = math.Exp(d[c]), math.Exp(d[len(d)-1-c])
	est.Confidence = 1 - 2*uCDF(n, m, float64(c))
	return est, true
}

// uCDF is P(U <= u) for samples of n and m without ties under H0: exact
// where go-moremath's U test is exact without ties (up to
// stats.MannWhitneyExactLimit, 50, a side), else its normal approximation
// with continuity correction.
func uCDF(n, m int, u float64) float64 {
	if n <= stats.MannWhitneyExactLimit && m <= stats.MannWhitneyExactLimit {
		return stats.UDist{N1: n, N2: m}.CDF(u)
	}
	mu := float64(n*m) / 2
	sigma := math.Sqrt(float64(n*m*(n+m+1)) / 12)
	return stats.StdNormal.CDF((u + 0.5 - mu) / sigma)
}
