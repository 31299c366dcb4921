//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/pvreboot/pvreboot/framework/report"
	"github.com/pvreboot/pvreboot/framework/runner"
	"github.com/pvreboot/pvreboot/framework/scenario"
	"github.com/pvreboot/pvreboot/framework/wait"
	"sigs.k8s.io/yaml"
)

// artifactsRunTimeout bounds one failing `pvreboot run`: the cluster reused,
// prepare, a baseline, a reboot cut short, the artifacts (kind's log export
// included) and the cleanup.
const artifactsRunTimeout = 8 * time.Minute

// A run of the real CLI that fails in a step still leaves everything a
// pipeline and a person need: result.json and junit.xml naming the step,
// the summaries and the HTML report, the namespace's events and the node's
// conditions taken before cleanup deleted them, and the kind cluster's logs.
var _ = Describe("artifacts of a failed run of the real CLI", Ordered, Serial, Label("kind", "disruptive", "artifacts"), func() {
	var (
		bin   string
		state string
		setup runner.KindSetup
		cfg   suiteConfig
	)
	BeforeAll(func(ctx SpecContext) {
		var s *scenario.Scenario
		cfg, s, _, setup = shippedScenario("sendfile-after-reboot.yaml")
		// The cluster and the probe image in it, before the runs time anything.
		_, _, err := runner.Kind(ctx, s, setup)
		Expect(err).NotTo(HaveOccurred())
		dir := GinkgoT().TempDir()
		bin, state = filepath.Join(dir, "pvreboot"), filepath.Join(dir, "state")
		out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, "../cmd/pvreboot").CombinedOutput()
		Expect(err).NotTo(HaveOccurred(), string(out))
	}, NodeTimeout(setupTimeout))

	// runFailing writes s to a file, runs `pvreboot run` on it into a fresh
	// output directory and returns that directory, the exit code and the result.
	runFailing := func(ctx context.Context, s *scenario.Scenario) (string, int, *report.Result) {
		GinkgoHelper()
		root, _ := filepath.Abs("..")
		s.Spec.Cluster.Kind.Config = filepath.Join(root, s.Spec.Cluster.Kind.Config)
		Expect(s.Validate()).To(Succeed())
		dir := GinkgoT().TempDir()
		b, err := yaml.Marshal(s)
		Expect(err).NotTo(HaveOccurred())
		file := filepath.Join(dir, "failing.yaml")
		Expect(os.WriteFile(file, b, 0o644)).To(Succeed())
		outDir := filepath.Join(dir, "out")
		cmd := exec.CommandContext(ctx, bin, "run", file, "--image", cfg.NodeImage, "--probe-image", cfg.ProbeImage, "--output-dir", outDir)
		cmd.Stdout, cmd.Stderr = GinkgoWriter, GinkgoWriter
		cmd.Env = append(os.Environ(), "XDG_STATE_HOME="+state)
		err = cmd.Run()
		code := 0
		if ee := (*exec.ExitError)(nil); errors.As(err, &ee) {
			code = ee.ExitCode()
		} else {
			Expect(err).NotTo(HaveOccurred())
		}
		res, err := report.ReadFile(filepath.Join(outDir, "result.json"))
		Expect(err).NotTo(HaveOccurred(), "a failed run writes result.json")
		if res.Provenance != nil && res.Provenance.RunID != "" {
			id := res.Provenance.RunID
			DeferCleanup(func(ctx SpecContext) {
				// Whatever the run could not remove (its node was down).
				out, err := exec.CommandContext(ctx, bin, "cleanup", "--run", id, "--name", s.Spec.Cluster.Kind.Name).CombinedOutput()
				Expect(err).NotTo(HaveOccurred(), string(out))
			}, NodeTimeout(5*time.Minute))
		}
		return outDir, code, res
	}

	// outputsNameStep checks the files every failed run leaves, and that
	// result.json and junit.xml name the step it failed in.
	outputsNameStep := func(outDir string, res *report.Result, step string) {
		GinkgoHelper()
		for _, f := range []string{"result.json", "junit.xml", "summary.md", "summary.txt", "report.html", "metrics.prom", runner.EventsText, runner.EventsJSON} {
			Expect(filepath.Join(outDir, f)).To(BeAnExistingFile())
		}
		Expect(res.Failure).NotTo(BeNil(), "result.json has no failure")
		Expect(res.Failure.Step).To(Equal(step))
		Expect(res.Errors).NotTo(BeEmpty())
		Expect(res.Failure.Artifacts).To(ContainElements(runner.EventsText, runner.ClusterLogsDir+"/"))
		junit, err := os.ReadFile(filepath.Join(outDir, "junit.xml"))
		Expect(err).NotTo(HaveOccurred())
		Expect(string(junit)).To(ContainSubstring(`<testcase name="step ` + step + `" classname="pvreboot.run.` + step + `">`))
		Expect(string(junit)).To(ContainSubstring("<error "))
		md, err := os.ReadFile(filepath.Join(outDir, "summary.md"))
		Expect(err).NotTo(HaveOccurred())
		Expect(string(md)).To(ContainSubstring("in step `" + step + "`"))
		page, err := os.ReadFile(filepath.Join(outDir, "report.html"))
		Expect(err).NotTo(HaveOccurred())
		Expect(string(page)).To(ContainSubstring(`data-step="` + step + `"`))
		// kind's log bundle: one directory per node, with its journal.
		logs, err := os.ReadDir(filepath.Join(outDir, runner.ClusterLogsDir))
		Expect(err).NotTo(HaveOccurred(), "no cluster logs")
		Expect(logs).NotTo(BeEmpty())
	}

	It("a run whose node is not back within spec.reboot.timeout fails in step reboot and leaves its outputs, events, node conditions and cluster logs", func(ctx SpecContext) {
		_, s, _, _ := shippedScenario("sendfile-after-reboot.yaml")
		// A power cut of 20 s against the shortest timeout: the rebooter
		// starts the node again when the timeout ends, and the step fails.
		s.Spec.Reboot.Method, s.Spec.Reboot.Down = scenario.RebootKindKill, scenario.Duration{Duration: 20 * time.Second}
		s.Spec.Reboot.Timeout = scenario.Duration{Duration: scenario.MinRebootTimeout}
		s.Spec.Workload.FileSize = "64Mi"
		outDir, code, res := runFailing(ctx, s)
		node := s.Spec.Cluster.Nodes.Names[0]
		DeferCleanup(func(ctx SpecContext) {
			// The next spec needs the node Ready again.
			rc, _, err := runner.Kind(ctx, s, setup)
			Expect(err).NotTo(HaveOccurred())
			wctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
			defer cancel()
			_, err = wait.NodeReady(wctx, rc.Client, node)
			Expect(err).NotTo(HaveOccurred())
		}, NodeTimeout(5*time.Minute))

		Expect(code).To(Equal(3), "an infrastructure failure")
		outputsNameStep(outDir, res, runner.StepReboot)
		Expect(res.Phase(scenario.PhaseBaseline)).NotTo(BeNil(), "the baseline measured before the reboot is kept")
		events, err := os.ReadFile(filepath.Join(outDir, runner.EventsText))
		Expect(err).NotTo(HaveOccurred())
		Expect(string(events)).To(ContainSubstring("pvreboot-"+res.Provenance.RunID+"/pod/pvreboot-workload"), "the run namespace's events, saved before cleanup")
		var nc struct {
			Node       string `json:"node"`
			Conditions []struct {
				Type string `json:"type"`
			} `json:"conditions"`
		}
		b, err := os.ReadFile(filepath.Join(outDir, runner.NodeConditionsJSON))
		Expect(err).NotTo(HaveOccurred())
		Expect(json.Unmarshal(b, &nc)).To(Succeed())
		Expect(nc.Node).To(Equal(node))
		Expect(nc.Conditions).To(ContainElement(HaveField("Type", "Ready")))
		Expect(filepath.Join(outDir, runner.ClusterLogsDir, node)).To(BeADirectory())
	}, SpecTimeout(artifactsRunTimeout+5*time.Minute))

	It("a run on a node that does not exist fails in step prepare and leaves its outputs and cluster logs", func(ctx SpecContext) {
		_, s, _, _ := shippedScenario("sendfile-after-reboot.yaml")
		s.Spec.Cluster.Nodes.Names = []string{s.Spec.Cluster.Kind.Name + "-no-such-node"}
		outDir, code, res := runFailing(ctx, s)
		Expect(code).NotTo(BeZero())
		outputsNameStep(outDir, res, runner.StepPrepare)
		Expect(res.Phases).To(BeEmpty())
		// Its conditions cannot be read, and the result says so.
		Expect(filepath.Join(outDir, runner.NodeConditionsJSON)).NotTo(BeAnExistingFile())
		Expect(res.Failure.ArtifactErrors).To(ContainElement(ContainSubstring(runner.NodeConditionsJSON)))
	}, SpecTimeout(artifactsRunTimeout))
})
