//go:build e2e

package ginkgo_test

import (
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	pvreboot "github.com/pvreboot/pvreboot"
	"github.com/pvreboot/pvreboot/framework/runner"
	"github.com/pvreboot/pvreboot/framework/scenario"
)

// Bounds of each step; a reboot waits up to the scenario's reboot.timeout.
const (
	setupTimeout   = 5 * time.Minute  // open the cluster, make the PV and the pod
	stepTimeout    = 10 * time.Minute // one measurement, or one reboot and the wait for the node and pod
	cleanupTimeout = 3 * time.Minute  // remove what the run made
)

func TestYourSuite(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "your suite, with a pvreboot reboot scenario")
}

// The environment is read here, in the suite, and handed to the framework as
// explicit configuration.
var _ = Describe("a Local PV across a node reboot", Ordered, Serial, Label("disruptive", "pvreboot"), func() {
	var run *runner.Run

	BeforeAll(func(ctx SpecContext) {
		kubeconfig, probe := os.Getenv("PVREBOOT_EXAMPLE_KUBECONFIG"), os.Getenv("PVREBOOT_PROBE_IMAGE")
		if kubeconfig == "" || probe == "" {
			Skip("PVREBOOT_EXAMPLE_KUBECONFIG and PVREBOOT_PROBE_IMAGE are not set")
		}
		// A shipped scenario, carried by the pvreboot module; a file of your
		// own works the same with scenario.Load.
		b, err := fs.ReadFile(pvreboot.Files(), path.Join(pvreboot.ScenarioDir, "sendfile-after-reboot.yaml"))
		Expect(err).NotTo(HaveOccurred())
		s, err := scenario.Parse(b)
		Expect(err).NotTo(HaveOccurred())
		if node := os.Getenv("PVREBOOT_EXAMPLE_NODE"); node != "" {
			s.Spec.Cluster.Nodes = scenario.NodeSelection{Names: []string{node}} // the node to reboot
		}

		// Your suite's cluster, by its kubeconfig: pvreboot never creates or
		// deletes it, and reboots kind nodes through their containers.
		cfg, err := runner.Existing(ctx, s, runner.ExistingSetup{Kubeconfig: []string{kubeconfig}, ProbeImage: probe, Progress: GinkgoWriter})
		Expect(err).NotTo(HaveOccurred())
		run, err = runner.New(cfg)
		Expect(err).NotTo(HaveOccurred())
		// Registered before Prepare so that a half-made run is removed too;
		// a fresh context, since the spec's is done by then.
		DeferCleanup(func(ctx SpecContext) {
			run.Finish()
			if dir := os.Getenv("PVREBOOT_ARTIFACTS"); dir != "" {
				Expect(runner.WriteOutputs(filepath.Join(dir, "example-ginkgo"), run.Result)).To(Succeed())
			}
			Expect(run.Cleanup(ctx)).To(Succeed())
		}, NodeTimeout(cleanupTimeout))
		Expect(run.Prepare(ctx)).To(Succeed())
	}, NodeTimeout(setupTimeout))

	It("measures the baseline", func(ctx SpecContext) {
		Expect(run.Baseline(ctx)).To(Succeed())
	}, NodeTimeout(stepTimeout))

	It("reboots the node and gets the same pod back", func(ctx SpecContext) {
		Expect(run.Reboot(ctx)).To(Succeed())
	}, NodeTimeout(stepTimeout))

	It("measures after the reboot, in the same pod", func(ctx SpecContext) {
		Expect(run.AfterReboot(ctx)).To(Succeed())
	}, NodeTimeout(stepTimeout))

	It("recreates the pod and measures again", func(ctx SpecContext) {
		Expect(run.Recreate(ctx)).To(Succeed())
		Expect(run.AfterRecreate(ctx)).To(Succeed())
	}, NodeTimeout(stepTimeout))

	It("keeps the data and every budget", func() {
		run.Finish()
		for _, c := range run.Result.Diagnosis {
			AddReportEntry("diagnosis", c)
		}
		Expect(run.Result.Verdict.Failures()).To(BeEmpty())
	})
})
