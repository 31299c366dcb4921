package scenario

import "github.com/pvreboot/pvreboot/framework/budget"

// Rule is the budget as the verdict engine judges it.
func (b Budget) Rule() budget.Budget {
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
	return x
}

// Rules are the budgets as the verdict engine judges them, in order.
func Rules(budgets []Budget) []budget.Budget {
	out := make([]budget.Budget, 0, len(budgets))
	for _, b := range budgets {
		out = append(out, b.Rule())
	}
	return out
}
