package scenario

import (
	"fmt"
	"strings"
	"testing"

	"github.com/pvreboot/pvreboot/framework/budget"
)

// statisticalScenario is a scenario with one statistical budget; an empty
// iterations or alpha leaves the default (5, 0.01).
func statisticalScenario(iterations, alpha string) []byte {
	workload := "{}"
	if iterations != "" {
		workload = "{iterations: " + iterations + "}"
	}
	st := "{against: baseline, maxSlowdown: 1.5"
	if alpha != "" {
		st += ", alpha: " + alpha
	}
	return fmt.Appendf(nil, `apiVersion: pvreboot.dev/v1alpha1
kind: Scenario
metadata: {name: statistical}
spec:
  workload: %s
  budgets:
  - {phase: after-reboot, metric: p99, max: 250ms}
  - {phase: after-reboot, statistical: %s}}
`, workload, st)
}

// A statistical budget the workload's copies can never satisfy is refused,
// naming the minimum; the copy is the test's unit, so it is the workload's
// iterations that count, not its calls.
func TestStatisticalBudgetNeedsEnoughCopies(t *testing.T) {
	t.Parallel()
	const p = "spec.budgets[1].statistical.alpha: Invalid value: "
	tests := []struct {
		name, iterations, alpha string
		want                    string // "" for valid
	}{
		{name: "defaults", want: ""},
		{name: "five copies at 0.01", iterations: "5", alpha: "0.01"},
		{name: "four copies at 0.05", iterations: "4", alpha: "0.05"},
		{name: "three copies just above 1/20", iterations: "3", alpha: "0.06"},
		{name: "many copies", iterations: "1000", alpha: "0.001"},
		{
			name: "three copies at 0.01", iterations: "3", alpha: "0.01",
			want: p + "0.01: 3 iterations per phase can never reach p < 0.01 with the copy as the unit (the smallest p of 3 vs 3 copies is 0.05); use workload.iterations >= 5 or alpha > 0.05",
		},
		{
			name: "three copies at the default alpha", iterations: "3",
			want: p + "0.01: 3 iterations per phase can never reach p < 0.01",
		},
		{
			name: "three copies at exactly 1/20", iterations: "3", alpha: "0.05",
			want: p + "0.05: 3 iterations per phase can never reach p < 0.05 with the copy as the unit (the smallest p of 3 vs 3 copies is 0.05); use workload.iterations >= 4 or alpha > 0.05",
		},
		{
			name: "four copies at 0.01", iterations: "4", alpha: "0.01",
			want: p + "0.01: 4 iterations per phase can never reach p < 0.01 with the copy as the unit (the smallest p of 4 vs 4 copies is 0.0143); use workload.iterations >= 5 or alpha > 0.0143",
		},
		{
			// 1/924 = 0.0010823: the alpha suggested is rounded up, not to nearest.
			name: "six copies at 0.001", iterations: "6", alpha: "0.001",
			want: p + "0.001: 6 iterations per phase can never reach p < 0.001 with the copy as the unit (the smallest p of 6 vs 6 copies is 0.00108); use workload.iterations >= 7 or alpha > 0.00109",
		},
		{
			// No alpha up to 0.1 helps two copies: only more copies do.
			name: "two copies", iterations: "2", alpha: "0.1",
			want: p + "0.1: 2 iterations per phase can never reach p < 0.1 with the copy as the unit (the smallest p of 2 vs 2 copies is 0.167); use workload.iterations >= 3",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := Parse(statisticalScenario(tt.iterations, tt.alpha))
			if tt.want == "" {
				if err != nil {
					t.Fatalf("invalid: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("valid, want %q", tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error\n%v\nwant\n%s", err, tt.want)
			}
			if tt.iterations == "2" && strings.Contains(err.Error(), " or alpha") {
				t.Errorf("suggests an alpha no valid alpha can be: %v", err)
			}
		})
	}
}

// Other problems are reported once, not again as unreachable copies.
func TestStatisticalBudgetCopiesErrorOnlyWhenTheRestIsValid(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ iterations, alpha, want string }{
		{"0", "0.01", "spec.workload.iterations: Invalid value: 0: must be 1 to"},
		{"3", "0.5", "spec.budgets[1].statistical.alpha: Invalid value: 0.5: must be in (0, 0.1]"},
	} {
		_, err := Parse(statisticalScenario(tt.iterations, tt.alpha))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("iterations %s alpha %s: error %v, want %q", tt.iterations, tt.alpha, err, tt.want)
			continue
		}
		if strings.Contains(err.Error(), "can never reach") {
			t.Errorf("iterations %s alpha %s: also reported as unreachable:\n%v", tt.iterations, tt.alpha, err)
		}
	}
}

// The scenario's rule is the budget's: MinIterations copies are accepted,
// one fewer is not.
func TestStatisticalBudgetAgreesWithMinIterations(t *testing.T) {
	t.Parallel()
	for _, alpha := range []float64{0.1, 0.05, 0.02, 0.01, 0.005, 0.001, 0.0001} {
		n := budget.MinIterations(alpha)
		a := fmt.Sprint(alpha)
		if _, err := Parse(statisticalScenario(fmt.Sprint(n), a)); err != nil {
			t.Errorf("alpha %g with %d iterations: %v", alpha, n, err)
		}
		if _, err := Parse(statisticalScenario(fmt.Sprint(n-1), a)); err == nil || !strings.Contains(err.Error(), fmt.Sprintf("use workload.iterations >= %d", n)) {
			t.Errorf("alpha %g with %d iterations: error %v, want one naming %d", alpha, n-1, err, n)
		}
	}
}
