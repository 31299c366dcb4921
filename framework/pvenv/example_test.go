//go:build e2e

package pvenv_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	kindprovider "github.com/pvreboot/pvreboot/framework/cluster/kind"
	"github.com/pvreboot/pvreboot/framework/pvenv"
	"github.com/pvreboot/pvreboot/framework/scenario"
	"sigs.k8s.io/e2e-framework/pkg/env"
	"sigs.k8s.io/e2e-framework/pkg/envconf"
	"sigs.k8s.io/e2e-framework/pkg/features"
)

var testenv env.Environment

// TestMain shows an e2e-framework suite adding pvreboot's steps to a
// cluster the suite made itself: Setup makes (or reuses) the kind cluster
// and names its kubeconfig in the envconf.Config, as e2e-framework's own
// envfuncs.CreateCluster does; pvenv.Prepare then makes the Local PV and the
// workload pod on that cluster, and pvenv.Cleanup removes them in Finish.
func TestMain(m *testing.M) {
	node, probe := os.Getenv("PVREBOOT_NODE_IMAGE"), os.Getenv("PVREBOOT_PROBE_IMAGE")
	if node == "" || probe == "" {
		// Nothing to run against: say so and pass, like a skipped test.
		fmt.Println("pvenv example: PVREBOOT_NODE_IMAGE and PVREBOOT_PROBE_IMAGE not set, skipping")
		os.Exit(0)
	}
	root, _ := filepath.Abs("../..")
	s, err := scenario.Load(filepath.Join(root, "scenarios", "sendfile-after-reboot.yaml"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	kubeconfig := filepath.Join(os.TempDir(), "pvenv-example.kubeconfig")
	testenv = env.NewWithConfig(envconf.New())
	testenv.Setup(
		kindCluster(s.Spec.Cluster.Kind.Name, node, filepath.Join(root, s.Spec.Cluster.Kind.Config), kubeconfig),
		pvenv.Prepare(s, pvenv.Options{ProbeImage: probe, Progress: os.Stderr}),
	)
	testenv.Finish(pvenv.Cleanup(filepath.Join(root, "_artifacts", "pvenv")))
	os.Exit(testenv.Run(m))
}

// kindCluster is the suite's own cluster step (in a suite with the kind CLI
// on PATH it would be e2e-framework's envfuncs.CreateClusterWithConfig): it
// reuses or creates the kind cluster and names its kubeconfig in cfg.
func kindCluster(name, image, config, kubeconfig string) env.Func {
	return func(ctx context.Context, cfg *envconf.Config) (context.Context, error) {
		c, err := kindprovider.New(nil, os.Stderr).Create(ctx, kindprovider.CreateOptions{Name: name, ConfigFile: config,
			Image: image, Reuse: true, ReplaceUnhealthy: true, WaitForReady: 3 * time.Minute})
		if err != nil {
			return ctx, err
		}
		b, err := c.Kubeconfig(ctx)
		if err != nil {
			return ctx, err
		}
		if err := os.WriteFile(kubeconfig, b, 0o600); err != nil {
			return ctx, err
		}
		cfg.WithKubeconfigFile(kubeconfig)
		return ctx, nil
	}
}

func TestLocalPVSurvivesReboot(t *testing.T) {
	f := features.New("local PV copy latency across a node reboot").
		Assess("the suite's cluster is the run's", func(ctx context.Context, t *testing.T, cfg *envconf.Config) context.Context {
			if run := pvenv.RunFrom(ctx); run == nil {
				t.Fatal(pvenv.ErrNoRun)
			}
			if got := cfg.KubeconfigFile(); got != filepath.Join(os.TempDir(), "pvenv-example.kubeconfig") {
				t.Errorf("kubeconfig file %q: pvenv replaced the suite's cluster", got)
			}
			return ctx
		}).
		Assess("baseline", pvenv.Baseline()).
		Assess("reboot the node", pvenv.RebootNode()).
		Assess("after the reboot, same pod", pvenv.MeasureAfterReboot()).
		Assess("after recreating the pod", pvenv.RecreateAndMeasure()).
		Assess("budgets hold", pvenv.AssertBudgets()).
		Feature()
	testenv.Test(t, f)
}
