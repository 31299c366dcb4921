package probe

import (
	"math"
	"slices"

	"gonum.org/v1/gonum/stat"
)

// Percentile returns the empirical (nearest-rank) p-quantile of sorted
// samples, 0 < p <= 1: the smallest sample with at least p of the samples at
// or below it. sorted must be ascending; an empty slice gives 0.
func Percentile(sorted []float64, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	return stat.Quantile(p, stat.Empirical, sorted, nil)
}

// Summarize aggregates every call of the iterations.
func Summarize(its []Iteration) Summary {
	var s Summary
	var ns []float64
	var bytes, totalNs int64
	for _, it := range its {
		for _, c := range it.Calls {
			ns = append(ns, float64(c.Ns))
		}
		bytes += it.Bytes
		totalNs += it.Ns
		s.IterationBytesPerSecond = append(s.IterationBytesPerSecond, it.BytesPerSecond)
	}
	dp := summarizeDataPath(its)
	s.DataPath, s.DataPathCheck, s.DataPathNote = dp.path, dp.check, dp.note
	s.Calls = len(ns)
	if len(ns) == 0 {
		return s
	}
	slices.Sort(ns)
	s.P50Ns = int64(Percentile(ns, 0.50))
	s.P90Ns = int64(Percentile(ns, 0.90))
	s.P99Ns = int64(Percentile(ns, 0.99))
	s.MaxNs = int64(ns[len(ns)-1])
	s.MinNs = int64(ns[0])
	s.MeanNs = int64(math.Round(stat.Mean(ns, nil)))
	if totalNs > 0 {
		s.BytesPerSecond = float64(bytes) / (float64(totalNs) / 1e9)
	}
	return s
}
