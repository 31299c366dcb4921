//go:build e2e

package envfuncs_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/pvreboot/pvreboot/framework/envfuncs"
	"github.com/pvreboot/pvreboot/framework/runner"
	"github.com/pvreboot/pvreboot/framework/scenario"
	"sigs.k8s.io/e2e-framework/pkg/env"
	"sigs.k8s.io/e2e-framework/pkg/envconf"
	"sigs.k8s.io/e2e-framework/pkg/features"
)

var testenv env.Environment

// TestMain shows an e2e-framework suite adding pvreboot's steps: Setup makes
// the Local PV and the workload pod, Finish removes them.
func TestMain(m *testing.M) {
	node, probe := os.Getenv("PVREBOOT_NODE_IMAGE"), os.Getenv("PVREBOOT_PROBE_IMAGE")
	if node == "" || probe == "" {
		// Nothing to run against: say so and pass, like a skipped test.
		os.Stdout.WriteString("envfuncs example: PVREBOOT_NODE_IMAGE and PVREBOOT_PROBE_IMAGE not set, skipping\n")
		os.Exit(0)
	}
	root, _ := filepath.Abs("../..")
	s, err := scenario.Load(filepath.Join(root, "scenarios", "sendfile-after-reboot.yaml"))
	if err != nil {
		panic(err)
	}
	testenv = env.NewWithConfig(envconf.New())
	testenv.Setup(envfuncs.PrepareKind(s, runner.KindSetup{NodeImage: node, ProbeImage: probe, BaseDir: root, Progress: os.Stderr}))
	testenv.Finish(envfuncs.Cleanup(filepath.Join(root, "_artifacts", "envfuncs")))
	os.Exit(testenv.Run(m))
}

func TestLocalPVSurvivesReboot(t *testing.T) {
	f := features.New("local PV copy latency across a node reboot").
		Assess("baseline", envfuncs.Baseline()).
		Assess("reboot the node", envfuncs.RebootNode()).
		Assess("after the reboot, same pod", envfuncs.MeasureAfterReboot()).
		Assess("after recreating the pod", envfuncs.RecreateAndMeasure()).
		Assess("budgets hold", envfuncs.AssertBudgets()).
		Feature()
	testenv.Test(t, f)
}
