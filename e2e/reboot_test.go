//go:build e2e

package e2e

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/pvreboot/pvreboot/framework/budget"
	"github.com/pvreboot/pvreboot/framework/ledger"
	"github.com/pvreboot/pvreboot/framework/localpv"
	"github.com/pvreboot/pvreboot/framework/runner"
	"github.com/pvreboot/pvreboot/framework/scenario"
	"github.com/pvreboot/pvreboot/framework/wait"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Timeouts of the reboot suite's steps (the runner bounds each wait itself).
const (
	setupTimeout   = 8 * time.Minute // cluster create or reuse, image load
	stepTimeout    = 12 * time.Minute
	cleanupTimeout = 4 * time.Minute
)

// expectation of one shipped scenario.
type expectation struct {
	file string
	pass bool
	// diagnosis: when failing, the first after-reboot diagnosis entry names
	// one of these fields (the cgroup v1 or v2 name of the same fact).
	diagnosis []string
	dataLost  bool // the canary must be reported missing after the reboot
	// recovers: recreating the pod undoes the injected fault (per pod): no
	// after-recreate diagnosis names its field and the after-recreate
	// budgets pass. Otherwise (node level) the report says it did not
	// recover: the after-recreate diagnosis names the same field, an
	// after-recreate budget fails, and the reboot notes say so.
	recovers bool
}

var rebootScenarios = []expectation{
	{file: "sendfile-after-reboot.yaml", pass: true},
	{file: "regression-io-throttle.yaml", diagnosis: []string{"cgroup.limits.blkio.throttle.read_bps_device", "cgroup.limits.io.max"}, recovers: true},
	{file: "regression-late-mount.yaml", diagnosis: []string{"mount.majorMinor"}, dataLost: true, recovers: true},
	{file: "regression-mount-options.yaml", diagnosis: []string{"mount.superOptions", "mount.mountOptions"}, recovers: false},
	{file: "regression-memory-squeeze.yaml", diagnosis: []string{"cgroup.limits.memory.limit_in_bytes", "cgroup.limits.memory.max"}, recovers: true},
	{file: "regression-readahead.yaml", diagnosis: []string{"device.readAheadKB"}, recovers: false},
	{file: "command-restart.yaml", pass: true},
	{file: "block-after-reboot.yaml", pass: true},
}

var _ = Describe("reboot scenarios on kind", Serial, Label("kind", "disruptive", "reboot"), func() {
	for _, exp := range rebootScenarios {
		Context(exp.file, Ordered, func() {
			var (
				cfg   suiteConfig
				run   *runner.Run
				rc    runner.Config
				loops []string
			)
			BeforeAll(func(ctx SpecContext) {
				c, s, _, setup := shippedScenario(exp.file)
				cfg = c
				var err error
				rc, _, err = runner.Kind(ctx, s, setup)
				Expect(err).NotTo(HaveOccurred())
				// The person running the suite authorises the command
				// rebooter (docker restart of the kind node): --allow-reboot.
				rc.AllowReboot = s.Spec.Reboot.Method == scenario.RebootCommand
				run, err = runner.New(rc)
				Expect(err).NotTo(HaveOccurred())
				loops = loopDevices(ctx, rc)
				DeferCleanup(func(ctx SpecContext) {
					run.Finish()
					out := filepath.Join(cfg.Artifacts, "reboot", strings.TrimSuffix(exp.file, ".yaml"))
					Expect(runner.WriteOutputs(out, run.Result)).To(Succeed())
					Expect(run.Cleanup(ctx)).To(Succeed())
				}, NodeTimeout(cleanupTimeout))
			}, NodeTimeout(setupTimeout))

			It("prepares local PVs and the workload pod", func(ctx SpecContext) {
				Expect(run.Prepare(ctx)).To(Succeed())
			}, NodeTimeout(stepTimeout))
			It("measures the baseline", func(ctx SpecContext) {
				Expect(run.Baseline(ctx)).To(Succeed())
			}, NodeTimeout(stepTimeout))
			It("reboots the node and gets the same pod back", func(ctx SpecContext) {
				Expect(run.Reboot(ctx)).To(Succeed())
				rb := run.Result.Reboots[0]
				Expect(rb.SamePod).To(BeTrue(), "the pod restarts in place after a kind node restart")
				Expect(rb.RestartsAfter).To(BeNumerically(">", rb.RestartsBefore))
				Expect(rb.NodeReady).NotTo(BeNil())
				Expect(rb.BootIDAfter).To(Equal(rb.BootIDBefore), "a kind node shares the host kernel")
			}, NodeTimeout(stepTimeout))
			It("measures after the reboot in the same pod", func(ctx SpecContext) {
				Expect(run.AfterReboot(ctx)).To(Succeed())
			}, NodeTimeout(stepTimeout))
			It("recreates the pod and measures again", func(ctx SpecContext) {
				Expect(run.Recreate(ctx)).To(Succeed())
				Expect(run.AfterRecreate(ctx)).To(Succeed())
				p := run.Result.Phase(scenario.PhaseAfterRecreate)
				Expect(p.Data).NotTo(BeNil())
				Expect(p.Data.OK).To(BeTrue(), "after recreation the pod is on the real volume: %s", p.Data.Detail)
			}, NodeTimeout(stepTimeout))
			It("gives the expected verdict and diagnosis", func() {
				run.Finish()
				v := run.Result.Verdict
				if exp.pass {
					Expect(v.Pass).To(BeTrue(), "failures: %+v", v.Failures())
					return
				}
				Expect(v.Pass).To(BeFalse())
				var fields, recreated []string
				for _, c := range run.Result.Diagnosis {
					switch c.To {
					case scenario.PhaseAfterReboot:
						fields = append(fields, c.Field)
					case scenario.PhaseAfterRecreate:
						recreated = append(recreated, c.Field)
					}
				}
				Expect(fields).NotTo(BeEmpty(), "no after-reboot diagnosis")
				Expect(exp.diagnosis).To(ContainElement(fields[0]), "the first after-reboot diagnosis entry names the injected fact; all: %q", fields)
				after := run.Result.Phase(scenario.PhaseAfterReboot)
				Expect(after.Data).NotTo(BeNil())
				Expect(after.Data.OK).To(Equal(!exp.dataLost), after.Data.Detail)
				var recreateBudgets []budget.Result
				for _, b := range v.Results {
					if b.Phase == scenario.PhaseAfterRecreate && b.Kind != "data" {
						recreateBudgets = append(recreateBudgets, b)
					}
				}
				if exp.recovers {
					// Recovery is checked on the after-recreate budgets: a
					// scenario without one would pass vacuously.
					Expect(recreateBudgets).NotTo(BeEmpty(), "the scenario has no after-recreate budget (other than data) to show recovery")
					for _, f := range exp.diagnosis {
						Expect(recreated).NotTo(ContainElement(f), "after-recreate recovers (a new pod, a new cgroup and mount)")
					}
					for _, b := range recreateBudgets {
						Expect(b.Pass).To(BeTrue(), "after-recreate recovers: %s: %s", b.Name, b.Detail)
					}
					return
				}
				// Node level: the report says the recreated pod did not recover.
				Expect(recreated).To(ContainElement(BeElementOf(exp.diagnosis)), "the after-recreate diagnosis names the fact the node keeps")
				Expect(recreateBudgets).To(ContainElement(HaveField("Pass", BeFalse())), "an after-recreate budget fails: the recreated pod did not recover")
				var notes []string
				for _, rb := range run.Result.Reboots {
					notes = append(notes, rb.Notes...)
				}
				Expect(notes).To(ContainElement(ContainSubstring("not undone by recreating the pod")))
			})
			It("leaves nothing of pvreboot behind", func(ctx SpecContext) {
				Expect(run.Cleanup(ctx)).To(Succeed())
				expectNothingLeft(ctx, rc, run.ID())
				// The node shares the host kernel: a loop device the run
				// (or the kubelet for it) attached would outlive the node.
				now := loopDevices(ctx, rc)
				Expect(subset(now, loops)).To(BeTrue(), "loop devices attached during the run are still attached: now %q, before %q", now, loops)
			}, NodeTimeout(cleanupTimeout))
		})
	}
})

// expectNothingLeft checks that no namespace, PV, StorageClass, mount,
// systemd unit or loop device of the run is left (scoped to the run, so that
// one failed run does not fail every later check).
func expectNothingLeft(ctx context.Context, rc runner.Config, id string) {
	GinkgoHelper()
	run := metav1.ListOptions{LabelSelector: localpv.LabelRun + "=" + id}
	nss, err := rc.Client.CoreV1().Namespaces().List(ctx, run)
	Expect(err).NotTo(HaveOccurred())
	Expect(nss.Items).To(BeEmpty(), "namespaces")
	pvs, err := rc.Client.CoreV1().PersistentVolumes().List(ctx, run)
	Expect(err).NotTo(HaveOccurred())
	Expect(pvs.Items).To(BeEmpty(), "PVs")
	_, err = rc.Client.CoordinationV1().Leases(ledger.Namespace).Get(ctx, ledger.LeaseName(id), metav1.GetOptions{})
	Expect(apierrors.IsNotFound(err)).To(BeTrue(), "the run's ledger is still there: %v", err)
	owned := metav1.ListOptions{LabelSelector: localpv.LabelOwned + "=true"}
	if all, err := rc.Client.CoreV1().PersistentVolumes().List(ctx, owned); err == nil && len(all.Items) == 0 {
		scs, err := rc.Client.StorageV1().StorageClasses().List(ctx, owned)
		Expect(err).NotTo(HaveOccurred())
		Expect(scs.Items).To(BeEmpty(), "StorageClasses of pvreboot with no PV left")
	}
	prefix := "pvreboot-" + id + "-"
	for _, node := range rc.Scenario.Spec.Cluster.Nodes.Names {
		// Units anywhere under /etc/systemd/system (the .wants links too):
		// the run's own (pvreboot-<id>-*: loop services, fault units) and
		// its mount units (mnt-pvreboot-pvreboot\x2d<id>\x2d*; find's
		// pattern escapes the backslash). Argv only: the ID is a value.
		units, err := rc.Nodes.NodeExec(ctx, node, nil, "find", "/etc/systemd/system",
			"(", "-name", prefix+"*", "-o", "-name", `mnt-pvreboot-pvreboot\\x2d`+id+`\\x2d*`, ")")
		Expect(err).NotTo(HaveOccurred(), string(units))
		Expect(strings.TrimSpace(string(units))).To(BeEmpty(), "systemd units of run %s on %s", id, node)
		var left []string
		for _, q := range []struct {
			argv []string
			has  string
		}{
			{[]string{"cat", "/proc/self/mountinfo"}, " /mnt/pvreboot/" + prefix},
			{[]string{"losetup", "-a"}, "/mnt/pvreboot/" + prefix},
			{[]string{"ls", "-1A", "/mnt/pvreboot"}, prefix},
		} {
			out, err := rc.Nodes.NodeExec(ctx, node, nil, q.argv...)
			Expect(err).NotTo(HaveOccurred(), "%q: %s", q.argv, out)
			for _, line := range strings.Split(string(out), "\n") {
				if strings.Contains(line, q.has) {
					left = append(left, line)
				}
			}
		}
		Expect(left).To(BeEmpty(), "mounts, loop devices or files of run %s on %s", id, node)
	}
}

var _ = Describe("a run interrupted during the reboot wait", Ordered, Serial, Label("kind", "disruptive", "reboot", "interrupt"), func() {
	var (
		run *runner.Run
		rc  runner.Config
	)
	BeforeAll(func(ctx SpecContext) {
		_, s, _, setup := shippedScenario("regression-late-mount.yaml")
		s.Spec.Faults = nil // a plain filesystem PV, interrupted
		var err error
		rc, _, err = runner.Kind(ctx, s, setup)
		Expect(err).NotTo(HaveOccurred())
		// Ctrl-C arrives exactly when the run starts waiting for the node:
		// when the rebooter has returned (a structured event, not text).
		rc.Events = func(e runner.Event) {
			if e.Type == runner.RebootIssued {
				if c := interrupt.Load(); c != nil {
					(*c)()
				}
			}
		}
		run, err = runner.New(rc)
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(func(ctx SpecContext) { _ = run.Cleanup(ctx) }, NodeTimeout(cleanupTimeout))
		Expect(run.Prepare(ctx)).To(Succeed())
		Expect(run.Baseline(ctx)).To(Succeed())
	}, NodeTimeout(setupTimeout))

	It("stops when interrupted while waiting for the node, and cleans up everything", func(ctx SpecContext) {
		// The node container is started again (never left down), the wait
		// ends at once, and the run reports what it was waiting for.
		ictx, cancel := context.WithCancel(ctx)
		defer cancel()
		interrupt.Store(&cancel)
		err := run.Reboot(ictx)
		Expect(err).To(HaveOccurred())
		Expect(err).To(MatchError(ContainSubstring("want Ready")), "the run stopped in the reboot wait")
		Expect(err).To(MatchError(wait.ErrInterrupted), "an interrupt is not a timeout")
		Expect(run.Cleanup(ctx)).To(Succeed())
		expectNothingLeft(ctx, rc, run.ID())
	}, NodeTimeout(cleanupTimeout+time.Minute))
})

// interrupt holds the cancel function the RebootIssued event calls.
var interrupt atomic.Pointer[context.CancelFunc]

// loopDevices lists the loop devices the node (and so the host kernel) has
// attached, each as "name backing-device:inode".
func loopDevices(ctx context.Context, rc runner.Config) []string {
	GinkgoHelper()
	out, err := rc.Nodes.NodeExec(ctx, rc.Scenario.Spec.Cluster.Nodes.Names[0], nil, "losetup", "--list", "--noheadings", "--raw", "--output", "NAME,BACK-MAJ:MIN,BACK-INO")
	Expect(err).NotTo(HaveOccurred(), string(out))
	var l []string
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if line = strings.TrimSpace(line); line != "" {
			l = append(l, line)
		}
	}
	return l
}

func subset(a, b []string) bool {
	for _, x := range a {
		if !slices.Contains(b, x) {
			return false
		}
	}
	return true
}
