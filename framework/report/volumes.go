package report

import "github.com/pvreboot/pvreboot/framework/budget"

// VolumeResult is what a further volume of a run measured: each phase as
// Phases has it for the first volume, in the same pods.
type VolumeResult struct {
	// Name is the volume's PVC name (its instance name in the scenario).
	Name   string        `json:"name"`
	Phases []PhaseResult `json:"phases"`
}

// BudgetPhases turns the volume's measured phases into budget input (the
// first of each name, as Result.BudgetPhases).
func (v VolumeResult) BudgetPhases() map[string]budget.Phase {
	return (&Result{Phases: v.Phases}).BudgetPhases()
}
