package runner

import (
	"github.com/pvreboot/pvreboot/framework/budget"
	"github.com/pvreboot/pvreboot/framework/scenario"
)

// Budgets converts a scenario's budgets for the verdict engine.
func Budgets(s *scenario.Scenario) []budget.Budget {
	var out []budget.Budget
	for _, b := range s.Spec.Budgets {
		x := budget.Budget{Name: b.Name, Phase: b.Phase, Metric: b.Metric}
		switch {
		case b.Statistical != nil:
			x.Kind, x.RelativeTo, x.MaxSlowdown, x.Alpha = budget.Statistical, b.Statistical.Against, b.Statistical.MaxSlowdown, b.Statistical.Alpha
		case b.RelativeTo != "":
			x.Kind, x.RelativeTo, x.MaxRatio = budget.Relative, b.RelativeTo, b.MaxRatio
		default:
			x.Kind = budget.Absolute
			if b.Max != nil {
				x.MaxNs = float64(b.Max.Duration.Nanoseconds())
			}
			if b.Min != nil {
				x.MinBytesPerSecond = b.Min.BytesPerSecond
			}
		}
		out = append(out, x)
	}
	return out
}
