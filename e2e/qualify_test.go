//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/pvreboot/pvreboot/framework/report"
	"github.com/pvreboot/pvreboot/framework/runner"
)

// qualifyTimeout bounds one qualification of three small cases.
const qualifyTimeout = 15 * time.Minute

// waitDelay bounds how long Wait waits for the output of processes a killed
// pvreboot started (a docker exec) once pvreboot itself is gone.
const waitDelay = 10 * time.Second

var _ = Describe("pvreboot qualify", Ordered, Serial, Label("kind", "disruptive", "qualify"), func() {
	var (
		cfg       suiteConfig
		bin, dir  string
		state     string
		workers   []string
		planFor   func(name, reboot, matrix, extra string) string
		runPlan   func(ctx context.Context, plan, out string) (int, string)
		readQual  func(out string) *report.Qualification
		clusterNm string
	)
	BeforeAll(func(ctx SpecContext) {
		// The suite's cluster, made or reused as every kind suite does.
		c, sc, _, setup := shippedScenario("sendfile-after-reboot.yaml")
		cfg, clusterNm = c, c.ClusterName
		sc.Spec.Cluster.Kind.Name, sc.Spec.Cluster.Kind.Config = c.ClusterName, c.KindConfig
		sc.Spec.Cluster.Nodes.Names = []string{c.ClusterName + "-worker", c.ClusterName + "-worker2"}
		_, _, err := runner.Kind(ctx, sc, setup)
		Expect(err).NotTo(HaveOccurred())
		workers = sc.Spec.Cluster.Nodes.Names
		dir = GinkgoT().TempDir()
		state = filepath.Join(dir, "state")
		bin = filepath.Join(dir, "pvreboot")
		out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, "../cmd/pvreboot").CombinedOutput()
		Expect(err).NotTo(HaveOccurred(), string(out))
		// A small copy (64 MiB, one cycle) keeps each case near half a minute.
		// reboot adds fields to the base scenario's reboot.
		planFor = func(name, reboot, matrix, extra string) string {
			GinkgoHelper()
			p := fmt.Sprintf(`apiVersion: pvreboot.dev/v1alpha1
kind: Qualification
metadata: {name: %s}
spec:
  base:
    scenario:
      apiVersion: pvreboot.dev/v1alpha1
      kind: Scenario
      metadata: {name: %s}
      spec:
        cluster:
          kind: {name: %s, config: %s}
        volumes: [{name: data, backing: filesystem, fsType: ext4, size: 1Gi}]
        workload: {method: sendfile, fileSize: 64Mi, chunkSize: 16Mi, iterations: 5, cache: cold}
        reboot: {method: kind-restart, timeout: 5m%s}
        budgets:
        - {phase: after-reboot, metric: p50, relativeTo: baseline, maxRatio: 3.0}
        - {phase: after-recreate, metric: p50, relativeTo: baseline, maxRatio: 3.0}
  matrix: %s
  nodes: {names: [%s]}
%s`, name, name, clusterNm, cfg.KindConfig, reboot, matrix, strings.Join(workers, ", "), extra)
			f := filepath.Join(dir, name+".yaml")
			Expect(os.WriteFile(f, []byte(p), 0o644)).To(Succeed())
			return f
		}
		runPlan = func(ctx context.Context, plan, out string) (int, string) {
			GinkgoHelper()
			cmd := exec.CommandContext(ctx, bin, "qualify", plan, "--image", cfg.NodeImage, "--probe-image", cfg.ProbeImage, "--output-dir", out)
			cmd.Env = append(os.Environ(), "XDG_STATE_HOME="+state)
			var stderr lockedBuffer
			cmd.Stdout, cmd.Stderr = GinkgoWriter, &stderr
			cmd.WaitDelay = waitDelay
			err := cmd.Run()
			fmt.Fprint(GinkgoWriter, stderr.String())
			code := 0
			if ee, ok := err.(*exec.ExitError); ok {
				code = ee.ExitCode()
			} else {
				Expect(err).NotTo(HaveOccurred())
			}
			return code, stderr.String()
		}
		readQual = func(out string) *report.Qualification {
			GinkgoHelper()
			q, err := report.ReadQualification(filepath.Join(out, "qualification.json"))
			Expect(err).NotTo(HaveOccurred())
			return q
		}
	}, NodeTimeout(setupTimeout))

	nothingLeft := func(ctx context.Context) {
		GinkgoHelper()
		c := exec.CommandContext(ctx, bin, "cleanup", "--dry-run", "--name", clusterNm)
		c.Env = append(os.Environ(), "XDG_STATE_HOME="+state)
		out, err := c.CombinedOutput()
		Expect(err).NotTo(HaveOccurred(), string(out))
		Expect(string(out)).To(ContainSubstring("nothing left behind"))
	}

	It("fails exactly the case with a fault (exit 1), stops there with failFast, and a re-run resumes", func(ctx SpecContext) {
		// The io-throttle case comes first: failFast skips the other two.
		plan := planFor("q-fault", "", "{method: [sendfile], fault: [io-throttle, none], include: [{method: readwrite}]}", "  parallel: 1\n  failFast: true\n")
		out := filepath.Join(cfg.Artifacts, "qualify-fault")
		_ = os.RemoveAll(out)
		code, _ := runPlan(ctx, plan, out)
		Expect(code).To(Equal(1))
		q := readQual(out)
		Expect(q.Cases).To(HaveLen(3))
		Expect(q.Cases[0].Outcome).To(Equal(report.OutcomeFailed), "%+v", q.Cases[0])
		Expect(q.Cases[0].Ratio).To(BeNumerically(">", 3))
		Expect(q.Cases[1].Outcome).To(Equal(report.OutcomeSkipped))
		Expect(q.Cases[1].Error).To(ContainSubstring("failFast"))
		Expect(q.Cases[2].Outcome).To(Equal(report.OutcomeSkipped))
		By("running the same plan again: the failed case is kept, the others run")
		code, stderr := runPlan(ctx, plan, out)
		Expect(code).To(Equal(1))
		Expect(stderr).To(ContainSubstring("failed in an earlier run, kept"))
		q = readQual(out)
		Expect(q.Counts).To(Equal(report.Counts{Passed: 2, Failed: 1, Resumed: 1}))
		Expect(q.Cases[0].Resumed).To(BeTrue())
		for _, f := range []string{"junit.xml", "summary.md", "report.html", "cases/" + q.Cases[1].ID + "/result.json", "cases/" + q.Cases[1].ID + "/report.html"} {
			Expect(filepath.Join(out, f)).To(BeAnExistingFile())
		}
		nothingLeft(ctx)
	}, SpecTimeout(2*qualifyTimeout))

	It("finishes the remaining cases after being killed midway, and leaves nothing behind", func(ctx SpecContext) {
		// Each node stays down 15 s: the kill lands while a node is down,
		// the worst moment.
		plan := planFor("q-kill", ", down: 15s", "{method: [sendfile, readwrite, copy_file_range]}", "  parallel: 1\n")
		out := filepath.Join(cfg.Artifacts, "qualify-kill")
		_ = os.RemoveAll(out)
		cmd := exec.Command(bin, "qualify", plan, "--image", cfg.NodeImage, "--probe-image", cfg.ProbeImage, "--output-dir", out)
		cmd.Env = append(os.Environ(), "XDG_STATE_HOME="+state)
		var stderr lockedBuffer
		cmd.Stdout, cmd.Stderr = GinkgoWriter, &stderr
		cmd.WaitDelay = waitDelay
		Expect(cmd.Start()).To(Succeed())
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		// Killed while the second case's node is down: its namespace, PV
		// and backing exist, and its node container is stopped.
		rebooting := regexp.MustCompile(`\[readwrite\] \[ *[0-9.]+s\] rebooting (\S+) \(kind-restart\)`)
		var node string
		Eventually(ctx, func() (bool, error) {
			select {
			case err := <-exited:
				return false, StopTrying(fmt.Sprintf("the qualification ended (%v) before the second case's reboot was seen", err))
			default:
			}
			m := rebooting.FindStringSubmatch(stderr.String())
			if m == nil {
				return false, nil
			}
			node = m[1]
			return containerRunning(ctx, node) == "false", nil
		}).WithTimeout(qualifyTimeout).WithPolling(250 * time.Millisecond).Should(BeTrue())
		Expect(cmd.Process.Signal(syscall.SIGKILL)).To(Succeed())
		<-exited
		fmt.Fprint(GinkgoWriter, stderr.String())
		q := readQual(out)
		Expect(q.Counts.Passed).To(Equal(1), "one case finished before the kill: %+v", q.Cases)
		Consistently(ctx, func() string { return containerRunning(ctx, node) }).WithTimeout(20*time.Second).WithPolling(2*time.Second).
			Should(Equal("false"), "the kill left node %s down (nobody else starts it)", node)
		By("running it again: the node the killed run left down is started, not the cluster replaced")
		code, after := runPlan(ctx, plan, out)
		Expect(code).To(Equal(0))
		Expect(after).To(ContainSubstring("left run"))
		Expect(after).To(MatchRegexp(`node %s: started its stopped container again \(run [0-9a-f]+ died during its kind-restart reboot\)`, regexp.QuoteMeta(node)))
		Expect(after).NotTo(ContainSubstring("Replacing kind cluster"))
		q = readQual(out)
		Expect(q.Counts).To(Equal(report.Counts{Passed: 3, Resumed: 1}))
		nothingLeft(ctx)
		for _, n := range append([]string{clusterNm + "-control-plane"}, workers...) {
			Expect(containerRunning(ctx, n)).To(Equal("true"), "node container %s", n)
		}
	}, SpecTimeout(2*qualifyTimeout))
})

// containerRunning is a container's State.Running ("true", "false"), or
// the error.
func containerRunning(ctx context.Context, name string) string {
	out, err := exec.CommandContext(ctx, "docker", "inspect", "--format", "{{.State.Running}}", name).CombinedOutput()
	if err != nil {
		return fmt.Sprintf("docker inspect %s: %v: %s", name, err, out)
	}
	return strings.TrimSpace(string(out))
}
