//go:build e2e

package e2e

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/pvreboot/pvreboot/framework/calibrate"
	"github.com/pvreboot/pvreboot/framework/localpv"
	"github.com/pvreboot/pvreboot/framework/runner"
	"github.com/pvreboot/pvreboot/framework/scenario"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"
)

// pvreboot calibrate, the real CLI on the kind cluster: the baseline
// repeated without a reboot, the noise table, every budget judged on it,
// suggested budgets that validate, and nothing left behind.
var _ = Describe("pvreboot calibrate", Ordered, Serial, Label("kind", "calibrate"), func() {
	It("measures the noise of the default scenario without rebooting and leaves nothing", func(ctx SpecContext) {
		cfg, s, _, setup := shippedScenario("sendfile-after-reboot.yaml")
		s.Spec.Workload.FileSize, s.Spec.Workload.Iterations = "64Mi", ptr.To(5)
		s.Spec.Volumes[0].Size = "1Gi"
		root, _ := filepath.Abs("..")
		s.Spec.Cluster.Kind.Config = filepath.Join(root, s.Spec.Cluster.Kind.Config)
		Expect(s.Validate()).To(Succeed())
		rc, _, err := runner.Kind(ctx, s, setup)
		Expect(err).NotTo(HaveOccurred())
		loops := loopDevices(ctx, rc)
		node := s.Spec.Cluster.Nodes.Names[0]
		started, err := exec.CommandContext(ctx, "docker", "inspect", "--format", "{{.State.StartedAt}}", node).Output()
		Expect(err).NotTo(HaveOccurred())

		dir := GinkgoT().TempDir()
		b, err := yaml.Marshal(s)
		Expect(err).NotTo(HaveOccurred())
		scen := filepath.Join(dir, "calibrate.yaml")
		Expect(os.WriteFile(scen, b, 0o644)).To(Succeed())
		bin := filepath.Join(dir, "pvreboot")
		out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, "../cmd/pvreboot").CombinedOutput()
		Expect(err).NotTo(HaveOccurred(), string(out))

		outDir := filepath.Join(cfg.Artifacts, "calibrate")
		cmd := exec.CommandContext(ctx, bin, "calibrate", scen, "--repeats", "3", "--image", cfg.NodeImage, "--probe-image", cfg.ProbeImage, "--output-dir", outDir)
		cmd.Env = append(os.Environ(), "XDG_STATE_HOME="+filepath.Join(dir, "state"))
		var stderr strings.Builder
		cmd.Stderr = &stderr
		t0 := time.Now()
		stdout, err := cmd.Output()
		GinkgoWriter.Printf("pvreboot calibrate (%.1fs):\n%s\n", time.Since(t0).Seconds(), stdout)
		Expect(err).NotTo(HaveOccurred(), stderr.String())
		Expect(string(stdout)).To(ContainSubstring("noise floor"))
		Expect(string(stdout)).To(ContainSubstring("suggested budgets"))

		var c calibrate.Calibration
		raw, err := os.ReadFile(filepath.Join(outDir, "calibration.json"))
		Expect(err).NotTo(HaveOccurred())
		Expect(json.Unmarshal(raw, &c)).To(Succeed())
		Expect(c.Repeats).To(Equal(3))
		Expect(c.Node).To(Equal(node))
		Expect(c.Budgets).To(HaveLen(len(s.Spec.Budgets)))
		for _, n := range c.Noise {
			Expect(n.Values).To(HaveLen(3), n.Metric)
			Expect(n.Min).To(BeNumerically(">", 0), n.Metric)
		}
		// The suggestions paste into the scenario and validate.
		s.Spec.Budgets = c.Suggested
		Expect(s.Validate()).To(Succeed())

		// Nothing rebooted: the node container is the one from before.
		after, err := exec.CommandContext(ctx, "docker", "inspect", "--format", "{{.State.StartedAt}}", node).Output()
		Expect(err).NotTo(HaveOccurred())
		Expect(string(after)).To(Equal(string(started)), "calibrate restarted the node")
		var res struct {
			Phases []struct {
				Name string `json:"name"`
			} `json:"phases"`
		}
		raw, err = os.ReadFile(filepath.Join(outDir, "result.json"))
		Expect(err).NotTo(HaveOccurred())
		Expect(json.Unmarshal(raw, &res)).To(Succeed())
		Expect(res.Phases).To(HaveLen(3))
		Expect(res.Phases[2].Name).To(Equal(scenario.PhaseBaseline + "-3"))

		owned := metav1.ListOptions{LabelSelector: localpv.LabelOwned + "=true"}
		ns, err := rc.Client.CoreV1().Namespaces().List(ctx, owned)
		Expect(err).NotTo(HaveOccurred())
		for _, n := range ns.Items {
			Expect(n.Labels["pvreboot.dev/scenario"]).NotTo(Equal(s.Metadata.Name), "namespace %s of the calibration is left", n.Name)
		}
		pvs, err := rc.Client.CoreV1().PersistentVolumes().List(ctx, owned)
		Expect(err).NotTo(HaveOccurred())
		Expect(pvs.Items).To(BeEmpty(), "PVs of the calibration are left")
		Expect(subset(loopDevices(ctx, rc), loops)).To(BeTrue(), "loop devices of the calibration are still attached")
		runs, _ := os.ReadDir(filepath.Join(dir, "state", "pvreboot", "runs"))
		Expect(runs).To(BeEmpty(), "the calibration's local ledger is left")
	}, NodeTimeout(10*time.Minute))
})
