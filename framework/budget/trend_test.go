package budget

import (
	"math"
	"testing"
)

func TestFitSlope(t *testing.T) {
	t.Parallel()
	// y = 2 + 0.5x with a known residual pattern: slope 0.5, and the
	// interval is the textbook one (se from the residuals, t on n-2 df).
	x := []float64{1, 2, 3, 4, 5}
	y := []float64{2.6, 2.9, 3.6, 4.1, 4.4}
	s := FitSlope(x, y, 0.95)
	if math.Abs(s.Slope-0.48) > 1e-9 {
		t.Fatalf("slope %v, want 0.48", s.Slope)
	}
	// sse = 0.044, sxx = 10, se = sqrt(0.044/3/10) = 0.038297; t(0.975, 3) = 3.18245.
	if !s.Interval || math.Abs(s.Lo-(0.48-3.18245*0.038297)) > 1e-4 || math.Abs(s.Hi-(0.48+3.18245*0.038297)) > 1e-4 {
		t.Fatalf("interval [%v, %v]", s.Lo, s.Hi)
	}
	two := FitSlope([]float64{1, 2}, []float64{1, 3}, 0.95)
	if two.Slope != 2 || two.Interval {
		t.Fatalf("two points: %+v, want slope 2 and no interval", two)
	}
	if one := FitSlope([]float64{1}, []float64{1}, 0.95); !math.IsNaN(one.Slope) {
		t.Fatalf("one point: %+v", one)
	}
}
