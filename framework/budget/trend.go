package budget

import (
	"math"

	"gonum.org/v1/gonum/stat"
	"gonum.org/v1/gonum/stat/distuv"
)

// Slope is a least-squares slope of y over x with its two-sided confidence
// interval (Student's t on n-2 degrees of freedom). With fewer than three
// points there is no interval (Interval false, Lo and Hi 0); with fewer
// than two there is no slope (NaN, and FitSlope's callers must not keep it).
type Slope struct {
	Slope      float64 `json:"slope"`
	Interval   bool    `json:"interval"`
	Lo         float64 `json:"lo,omitempty"`
	Hi         float64 `json:"hi,omitempty"`
	Confidence float64 `json:"confidence"`
	N          int     `json:"n"`
}

// FitSlope fits y = a + b*x by least squares and returns b with its
// interval at the given confidence (0.95).
func FitSlope(x, y []float64, confidence float64) Slope {
	s := Slope{Slope: math.NaN(), Confidence: confidence, N: len(x)}
	if len(x) != len(y) || len(x) < 2 {
		return s
	}
	_, b := stat.LinearRegression(x, y, nil, false)
	s.Slope = b
	n := float64(len(x))
	if len(x) < 3 {
		return s
	}
	mx := stat.Mean(x, nil)
	var sxx, sse float64
	a := stat.Mean(y, nil) - b*mx
	for i := range x {
		sxx += (x[i] - mx) * (x[i] - mx)
		r := y[i] - (a + b*x[i])
		sse += r * r
	}
	if sxx == 0 {
		return s
	}
	se := math.Sqrt(sse / (n - 2) / sxx)
	t := distuv.StudentsT{Mu: 0, Sigma: 1, Nu: n - 2}.Quantile(1 - (1-confidence)/2)
	s.Lo, s.Hi, s.Interval = b-t*se, b+t*se, true
	return s
}
