//go:build e2e

package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/pvreboot/pvreboot/framework/report"
	"github.com/pvreboot/pvreboot/framework/runner"
	"github.com/pvreboot/pvreboot/framework/scenario"
	"github.com/pvreboot/pvreboot/framework/wait"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"
)

// faultCase is one row of the fault matrix: a signal sent to the real
// `pvreboot run` when the run reaches a point named by a structured event.
type faultCase struct {
	name   string
	when   func(runner.Event) bool // the boundary, from the run's events
	after  time.Duration           // then wait this long (inside the step)
	signal syscall.Signal
	// wantCode is the exit code of `pvreboot run`.
	wantCode int
	// measured: every phase ran before the signal (it came during
	// cleanup), so the verdict may pass.
	measured bool
}

func at(t runner.EventType, step string) func(runner.Event) bool {
	return func(e runner.Event) bool { return e.Type == t && (step == "" || e.Step == step) }
}

// The fault matrix. Labels pick a representative subset for CI (see
// README): faults-ci runs every phase boundary once.
var faultCases = []faultCase{
	{"SIGINT during prepare", at(runner.StepStarted, runner.StepPrepare), 700 * time.Millisecond, syscall.SIGINT, 130, false},
	{"SIGINT during the baseline", at(runner.StepStarted, runner.StepBaseline), 500 * time.Millisecond, syscall.SIGINT, 130, false},
	{"SIGINT while the node is down", at(runner.RebootStarted, ""), 4 * time.Second, syscall.SIGINT, 130, false},
	{"SIGINT while waiting for the pod", at(runner.NodeBack, ""), 0, syscall.SIGINT, 130, false},
	{"SIGINT during after-reboot", at(runner.StepStarted, runner.StepAfterReboot), 300 * time.Millisecond, syscall.SIGINT, 130, false},
	{"SIGTERM during recreate", at(runner.StepStarted, runner.StepRecreate), 200 * time.Millisecond, syscall.SIGTERM, 143, false},
	{"SIGINT during cleanup", at(runner.StepStarted, runner.StepCleanup), 500 * time.Millisecond, syscall.SIGINT, 130, true},
}

var _ = Describe("faults during a run of the real CLI", Ordered, Serial, Label("kind", "disruptive", "faults"), func() {
	var (
		rc       runner.Config
		bin      string
		scenFile string
		cfg      suiteConfig
		node     string
		loops    []string
		state    string // XDG_STATE_HOME of the CLI: its local ledgers
	)
	BeforeAll(func(ctx SpecContext) {
		var s *scenario.Scenario
		var setup runner.KindSetup
		cfg, s, _, setup = shippedScenario("sendfile-after-reboot.yaml")
		// A power cut with the node down for 20 s: a window to interrupt in.
		s.Spec.Reboot.Method, s.Spec.Reboot.Down = scenario.RebootKindKill, scenario.Duration{Duration: 20 * time.Second}
		s.Spec.Workload.FileSize, s.Spec.Workload.Iterations = "64Mi", ptr.To(5)
		s.Spec.Volumes[0].Size = "1Gi"
		root, _ := filepath.Abs("..")
		s.Spec.Cluster.Kind.Config = filepath.Join(root, s.Spec.Cluster.Kind.Config)
		Expect(s.Validate()).To(Succeed())
		var err error
		rc, _, err = runner.Kind(ctx, s, setup)
		Expect(err).NotTo(HaveOccurred())
		node = s.Spec.Cluster.Nodes.Names[0]
		loops = loopDevices(ctx, rc)

		dir := GinkgoT().TempDir()
		b, err := yaml.Marshal(s)
		Expect(err).NotTo(HaveOccurred())
		scenFile = filepath.Join(dir, "faults.yaml")
		Expect(os.WriteFile(scenFile, b, 0o644)).To(Succeed())
		bin = filepath.Join(dir, "pvreboot")
		state = filepath.Join(dir, "state")
		out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, "../cmd/pvreboot").CombinedOutput()
		Expect(err).NotTo(HaveOccurred(), string(out))
	}, NodeTimeout(setupTimeout))

	// start runs `pvreboot run` with its events on a pipe (fd 3).
	start := func(ctx context.Context, outDir string) (*exec.Cmd, <-chan runner.Event, *lockedBuffer) {
		GinkgoHelper()
		pr, pw, err := os.Pipe()
		Expect(err).NotTo(HaveOccurred())
		cmd := exec.Command(bin, "run", scenFile, "--image", cfg.NodeImage, "--probe-image", cfg.ProbeImage,
			"--output-dir", outDir, "--events", "/dev/fd/3")
		stderr := &lockedBuffer{}
		cmd.Stdout, cmd.Stderr = GinkgoWriter, stderr
		cmd.Env = append(os.Environ(), "XDG_STATE_HOME="+state)
		cmd.ExtraFiles = []*os.File{pw}
		Expect(cmd.Start()).To(Succeed())
		pw.Close()
		events := make(chan runner.Event, 256)
		go func() {
			defer close(events)
			defer pr.Close()
			sc := bufio.NewScanner(pr)
			for sc.Scan() {
				var e runner.Event
				if json.Unmarshal(sc.Bytes(), &e) == nil {
					events <- e
				}
			}
		}()
		return cmd, events, stderr
	}
	cleanupCmd := func(ctx context.Context, args ...string) *exec.Cmd {
		c := exec.CommandContext(ctx, bin, append([]string{"cleanup"}, args...)...)
		c.Env = append(os.Environ(), "XDG_STATE_HOME="+state)
		return c
	}
	// noLocalLedger: the run's local copy of its ledger is gone with it.
	noLocalLedger := func(id string) {
		GinkgoHelper()
		_, err := os.Stat(filepath.Join(state, "pvreboot", "runs", id+".json"))
		Expect(os.IsNotExist(err)).To(BeTrue(), "the local ledger of run %s is still there: %v", id, err)
	}
	// until reads events until f matches one; it returns the run ID.
	until := func(ctx context.Context, events <-chan runner.Event, f func(runner.Event) bool) (string, bool) {
		GinkgoHelper()
		id := ""
		for {
			select {
			case e, ok := <-events:
				if !ok {
					return id, false
				}
				id = e.Run
				if f(e) {
					return id, true
				}
			case <-ctx.Done():
				return id, false
			}
		}
	}
	// exitOf waits (bounded) for the process and returns its exit code,
	// -1 for a signal death.
	exitOf := func(cmd *exec.Cmd, bound time.Duration) int {
		GinkgoHelper()
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				return ee.ExitCode()
			}
			Expect(err).NotTo(HaveOccurred())
			return 0
		case <-time.After(bound):
			_ = cmd.Process.Kill()
			Fail(fmt.Sprintf("pvreboot run did not exit within %s", bound))
			return -1
		}
	}
	// noFalseIntact: a result, if written, never says data is intact that
	// was not checked, and never passes an interrupted run.
	noFalseIntact := func(outDir string, measured bool) {
		GinkgoHelper()
		res, err := report.ReadFile(filepath.Join(outDir, "result.json"))
		Expect(err).NotTo(HaveOccurred(), "an interrupted run writes its result too")
		if !measured {
			Expect(res.Verdict.Pass).To(BeFalse(), "a run interrupted before it measured every phase passed")
		}
		for _, p := range res.Phases {
			if p.Data != nil && p.Data.OK {
				Expect(p.Data.Got).To(Equal(p.Data.Want), "phase %s reports intact data without a matching checksum", p.Name)
			}
		}
	}
	waitReady := func(ctx context.Context) {
		GinkgoHelper()
		wctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
		defer cancel()
		_, err := wait.NodeReady(wctx, rc.Client, node)
		Expect(err).NotTo(HaveOccurred())
	}

	for _, fc := range faultCases {
		It(fc.name+": exits "+fmt.Sprint(fc.wantCode)+" and leaves nothing", func(ctx SpecContext) {
			outDir := GinkgoT().TempDir()
			cmd, events, stderr := start(ctx, outDir)
			id, ok := until(ctx, events, fc.when)
			Expect(ok).To(BeTrue(), "the run never reached the boundary; stderr:\n%s", stderr)
			if fc.after > 0 {
				time.Sleep(fc.after) // lands inside the step (a fault's timing, not a synchronisation)
			}
			sent := time.Now()
			Expect(cmd.Process.Signal(fc.signal)).To(Succeed())
			after := make(chan []runner.Event, 1)
			go func() {
				var got []runner.Event
				for e := range events {
					got = append(got, e)
				}
				after <- got
			}()
			code := exitOf(cmd, 8*time.Minute)
			clean := time.Since(sent)
			GinkgoWriter.Printf("FAULT-MATRIX | %s | exit %d | cleaned in %.1fs | run %s\n", fc.name, code, clean.Seconds(), id)
			Expect(code).To(Equal(fc.wantCode), "stderr:\n%s", stderr)
			// The cleanup itself says it left nothing (the exit code is the
			// signal's whatever happened).
			for _, e := range <-after {
				Expect(e.Type).NotTo(Equal(runner.Left), "cleanup left %s: %s", e.Detail, e.Error)
				if e.Type == runner.StepEnded && e.Step == runner.StepCleanup {
					Expect(e.Error).To(BeEmpty(), "cleanup failed")
				}
			}
			waitReady(ctx)
			noLocalLedger(id)
			expectNothingLeft(ctx, rc, id)
			Expect(subset(loopDevices(ctx, rc), loops)).To(BeTrue(), "loop devices of run %s still attached", id)
			noFalseIntact(outDir, fc.measured)
		}, NodeTimeout(12*time.Minute))
	}

	It("the API server restarts while the node is down: the run's waits resume, it finishes, notes the outage and leaves nothing", func(ctx SpecContext) {
		outDir := GinkgoT().TempDir()
		cmd, events, stderr := start(ctx, outDir)
		id, ok := until(ctx, events, at(runner.RebootStarted, ""))
		Expect(ok).To(BeTrue(), "stderr:\n%s", stderr)
		go func() {
			for range events {
			}
		}()
		// The API server's container is stopped and the kubelet of the
		// control plane starts it again. Not `docker restart` of the
		// control-plane node: with the worker down, Docker may hand the
		// restarted node the worker's address (the lowest free one), and
		// the worker comes back with another InternalIP, a different fault.
		cp := rc.ClusterName + "-control-plane"
		out, err := exec.CommandContext(ctx, "docker", "exec", cp, "crictl", "ps", "--quiet", "--name", "^kube-apiserver$").Output()
		Expect(err).NotTo(HaveOccurred(), string(out))
		ids := strings.Fields(string(out))
		Expect(ids).To(HaveLen(1), "the API server's container on %s", cp)
		t0 := time.Now()
		out, err = exec.CommandContext(ctx, "docker", "exec", cp, "crictl", "stop", "--timeout", "0", ids[0]).CombinedOutput()
		Expect(err).NotTo(HaveOccurred(), string(out))
		code := exitOf(cmd, 10*time.Minute)
		GinkgoWriter.Printf("FAULT-MATRIX | API server stopped while the node is down | exit %d | run took %.1fs after the stop | run %s\n", code, time.Since(t0).Seconds(), id)
		Expect(code).To(BeElementOf(0, 1), "an API server outage is not an infrastructure failure; stderr:\n%s", stderr)
		res, err := report.ReadFile(filepath.Join(outDir, "result.json"))
		Expect(err).NotTo(HaveOccurred())
		Expect(res.Reboots).NotTo(BeEmpty())
		Expect(strings.Join(res.Reboots[0].Notes, "\n")).To(ContainSubstring("the API server did not answer"))
		Expect(res.Phase(scenario.PhaseAfterReboot).Data.OK).To(BeTrue())
		waitReady(ctx)
		expectNothingLeft(ctx, rc, id)
		Expect(subset(loopDevices(ctx, rc), loops)).To(BeTrue())
	}, NodeTimeout(12*time.Minute))

	It("SIGKILL during the baseline, then pvreboot cleanup --run: nothing left", func(ctx SpecContext) {
		outDir := GinkgoT().TempDir()
		cmd, events, stderr := start(ctx, outDir)
		id, ok := until(ctx, events, at(runner.StepStarted, runner.StepBaseline))
		Expect(ok).To(BeTrue(), "stderr:\n%s", stderr)
		time.Sleep(500 * time.Millisecond) // inside the measurement
		Expect(cmd.Process.Signal(syscall.SIGKILL)).To(Succeed())
		Expect(exitOf(cmd, time.Minute)).To(Equal(-1))
		t0 := time.Now()
		out, err := cleanupCmd(ctx, "--run", id, "--name", rc.ClusterName).CombinedOutput()
		GinkgoWriter.Printf("FAULT-MATRIX | SIGKILL during the baseline + cleanup --run | cleanup exit %v | cleaned in %.1fs | run %s\n%s", err, time.Since(t0).Seconds(), id, out)
		Expect(err).NotTo(HaveOccurred(), string(out))
		Expect(string(out)).To(ContainSubstring("removed namespace pvreboot-" + id))
		expectNothingLeft(ctx, rc, id)
		noLocalLedger(id)
		Expect(subset(loopDevices(ctx, rc), loops)).To(BeTrue())
	}, NodeTimeout(8*time.Minute))

	It("the node stopped during the baseline and left down: exit 3, the command to finish, then nothing left", func(ctx SpecContext) {
		outDir := GinkgoT().TempDir()
		cmd, events, stderr := start(ctx, outDir)
		id, ok := until(ctx, events, at(runner.StepStarted, runner.StepBaseline))
		Expect(ok).To(BeTrue(), "stderr:\n%s", stderr)
		out, err := exec.CommandContext(ctx, "docker", "stop", "--time", "5", node).CombinedOutput()
		Expect(err).NotTo(HaveOccurred(), string(out))
		DeferCleanup(func(ctx SpecContext) { _ = exec.CommandContext(ctx, "docker", "start", node).Run() }, NodeTimeout(time.Minute))
		go func() {
			for range events {
			}
		}()
		code := exitOf(cmd, 8*time.Minute)
		GinkgoWriter.Printf("FAULT-MATRIX | node stopped and left down | exit %d | run %s\n", code, id)
		Expect(code).To(Equal(3), "stderr:\n%s", stderr)
		Expect(stderr.String()).To(ContainSubstring("pvreboot cleanup --run " + id + " --name " + rc.ClusterName))
		noFalseIntact(outDir, false)

		By("starting the node again and running the printed command")
		out, err = exec.CommandContext(ctx, "docker", "start", node).CombinedOutput()
		Expect(err).NotTo(HaveOccurred(), string(out))
		waitReady(ctx)
		t0 := time.Now()
		out, err = cleanupCmd(ctx, "--run", id, "--name", rc.ClusterName).CombinedOutput()
		GinkgoWriter.Printf("FAULT-MATRIX | node back + cleanup --run | cleanup exit %v | cleaned in %.1fs | run %s\n%s", err, time.Since(t0).Seconds(), id, out)
		Expect(err).NotTo(HaveOccurred(), string(out))
		expectNothingLeft(ctx, rc, id)
		noLocalLedger(id)
		Expect(subset(loopDevices(ctx, rc), loops)).To(BeTrue())
	}, NodeTimeout(12*time.Minute))
})

// lockedBuffer collects a process's stderr while the test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
