package envfuncs

import (
	"context"
	"errors"
	"testing"

	"github.com/pvreboot/pvreboot/framework/runner"
	"github.com/pvreboot/pvreboot/framework/scenario"
	"sigs.k8s.io/e2e-framework/pkg/env"
	"sigs.k8s.io/e2e-framework/pkg/envconf"
	"sigs.k8s.io/e2e-framework/pkg/features"
)

type runKey struct{}

// ErrNoRun is returned when a step runs before PrepareKind.
var ErrNoRun = errors.New("no pvreboot run in the context: add envfuncs.PrepareKind to the environment's Setup")

// RunFrom returns the run stored in ctx, or nil.
func RunFrom(ctx context.Context) *runner.Run {
	r, _ := ctx.Value(runKey{}).(*runner.Run)
	return r
}

// PrepareKind reuses (or creates) the scenario's kind cluster and creates the
// Local PVs and the workload pod: an env.Func for Setup.
func PrepareKind(s *scenario.Scenario, ks runner.KindSetup) env.Func {
	return func(ctx context.Context, _ *envconf.Config) (context.Context, error) {
		rc, _, err := runner.Kind(ctx, s, ks)
		if err != nil {
			return ctx, err
		}
		run, err := runner.New(rc)
		if err != nil {
			return ctx, err
		}
		ctx = context.WithValue(ctx, runKey{}, run)
		return ctx, run.Prepare(ctx)
	}
}

// Cleanup removes what the run created and writes its outputs to dir (when
// set): an env.Func for Finish.
func Cleanup(dir string) env.Func {
	return func(ctx context.Context, _ *envconf.Config) (context.Context, error) {
		run := RunFrom(ctx)
		if run == nil {
			return ctx, nil
		}
		run.Finish()
		var errs []error
		if dir != "" {
			errs = append(errs, runner.WriteOutputs(dir, run.Result))
		}
		errs = append(errs, run.Cleanup(ctx))
		return ctx, errors.Join(errs...)
	}
}

func step(name string, f func(*runner.Run, context.Context) error) features.Func {
	return func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
		t.Helper()
		run := RunFrom(ctx)
		if run == nil {
			t.Fatal(ErrNoRun)
		}
		if err := f(run, ctx); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		return ctx
	}
}

// Baseline writes the canary file and measures before the reboot.
func Baseline() features.Func { return step("baseline", (*runner.Run).Baseline) }

// RebootNode reboots the node and waits for the node and the same pod.
func RebootNode() features.Func { return step("reboot", (*runner.Run).Reboot) }

// MeasureAfterReboot measures in the same pod after the reboot.
func MeasureAfterReboot() features.Func { return step("after-reboot", (*runner.Run).AfterReboot) }

// RecreateAndMeasure recreates the pod and measures again.
func RecreateAndMeasure() features.Func {
	return step("after-recreate", func(r *runner.Run, ctx context.Context) error {
		if err := r.Recreate(ctx); err != nil {
			return err
		}
		return r.AfterRecreate(ctx)
	})
}

// AssertBudgets fails the test for every violated budget or lost data.
func AssertBudgets() features.Func {
	return func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
		t.Helper()
		run := RunFrom(ctx)
		if run == nil {
			t.Fatal(ErrNoRun)
		}
		run.Finish()
		for _, f := range run.Result.Verdict.Failures() {
			t.Errorf("budget %s: %s", f.Name, f.Detail)
		}
		for _, c := range run.Result.Diagnosis {
			t.Logf("diagnosis: %s", c)
		}
		return ctx
	}
}
