package runner

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/pvreboot/pvreboot/framework/budget"
	"github.com/pvreboot/pvreboot/framework/calibrate"
	"github.com/pvreboot/pvreboot/framework/report"
	"github.com/pvreboot/pvreboot/framework/scenario"
)

// MinRepeats is the fewest repeats a calibration takes.
const MinRepeats = 2

// StepCalibrate is the step of a calibration's repeats.
const StepCalibrate = "calibrate"

// Calibrate prepares the volumes and the workload pod, measures the
// scenario's baseline repeats times in the same pod without rebooting (A/A),
// and judges the scenario's budgets on that noise (Result.Calibration). The
// run must be made with Config.NoReboot; Cleanup removes what it made, as
// for a run.
func (r *Run) Calibrate(ctx context.Context, repeats int) (*calibrate.Calibration, error) {
	if !r.cfg.NoReboot {
		return nil, errors.New("calibrate: the run must be made with NoReboot (a calibration never reboots)")
	}
	if repeats < MinRepeats {
		return nil, fmt.Errorf("calibrate: %d repeats: want at least %d", repeats, MinRepeats)
	}
	if err := r.Prepare(ctx); err != nil {
		return nil, err
	}
	var phases []budget.Phase
	for i := 1; i <= repeats; i++ {
		name := fmt.Sprintf("%s-%d", scenario.PhaseBaseline, i)
		err := r.timed(StepCalibrate, fmt.Sprintf("calibrate: baseline repeat %d of %d, no reboot", i, repeats), func() error {
			return r.measure(ctx, name, false)
		})
		if err != nil {
			return nil, err
		}
		phases = append(phases, report.PhaseFromProbe(r.Result.Phase(name).Probe))
	}
	c, err := calibrate.Compute(r.cfg.Scenario.Metadata.Name, scenario.PhaseBaseline, r.cfg.Scenario.Spec.Budgets, phases)
	if err != nil {
		return nil, err
	}
	c.Node = r.node
	r.Result.Calibration = c
	r.Result.FinishedAt = time.Now()
	return c, nil
}
