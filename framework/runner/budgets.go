package runner

import (
	"github.com/pvreboot/pvreboot/framework/budget"
	"github.com/pvreboot/pvreboot/framework/scenario"
)

// Budgets converts a scenario's budgets for the verdict engine.
func Budgets(s *scenario.Scenario) []budget.Budget { return scenario.Rules(s.Spec.Budgets) }
