//go:build e2e

package e2e

import (
	"bytes"
	"os"
	"path/filepath"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/pvreboot/pvreboot/cmd/pvreboot/app"
	"github.com/pvreboot/pvreboot/framework/report"
)

// tracedRunTimeout bounds one traced scenario run (cluster reused).
const tracedRunTimeout = 10 * time.Minute

// The user's own command as the workload (workload.exec): BusyBox cp itself
// in the long-running pod, each of its sendfile calls timed by the eBPF
// tracer from this host (a kind node shares its kernel), in every phase.
// The default scenario passes; its io-throttle variant (20 MiB/s on the
// restarted container's cgroup, the figures) fails with the traced
// calls showing the slowdown, and recreating the pod recovers.
var _ = Describe("BusyBox cp traced with eBPF across a kind node reboot", Ordered, Serial, Label("kind", "disruptive", "reboot", "trace"), func() {
	run := func(ctx SpecContext, name string) (int, *report.Result, string) {
		GinkgoHelper()
		cfg, _, file, _ := shippedScenario(name + ".yaml")
		out := filepath.Join(cfg.Artifacts, "traced", name)
		var stdout bytes.Buffer
		code := app.Run(ctx, []string{"run", file, "--image", cfg.NodeImage, "--probe-image", cfg.ProbeImage, "--output-dir", out},
			app.Streams{Out: &stdout, Err: GinkgoWriter}, os.Environ())
		GinkgoWriter.Println(stdout.String())
		res, err := report.ReadFile(filepath.Join(out, "result.json"))
		Expect(err).NotTo(HaveOccurred(), stdout.String())
		return code, res, stdout.String()
	}
	// sixteenCalls checks every copy of a phase was 16 sendfile calls of 16 MiB.
	sixteenCalls := func(res *report.Result, phase string) {
		GinkgoHelper()
		p := res.Phase(phase)
		Expect(p).NotTo(BeNil(), "phase %s", phase)
		Expect(p.Probe).NotTo(BeNil(), "phase %s: %s", phase, p.Error)
		Expect(string(p.Probe.Method)).To(Equal("trace:sendfile"))
		Expect(p.Probe.ExecCommand).To(HaveExactElements("/bin/busybox", "cp", "/data/src", "/data/dst"))
		Expect(p.Probe.Iterations).NotTo(BeEmpty())
		for _, it := range p.Probe.Iterations {
			Expect(it.Calls).To(HaveLen(int(p.Probe.FileBytes/(16<<20))), "%s copy %d", phase, it.Index)
			for _, c := range it.Calls {
				Expect(c.Bytes).To(Equal(int64(16<<20)), "%s copy %d", phase, it.Index)
			}
		}
	}

	It("passes for the default scenario with BusyBox cp as the workload", func(ctx SpecContext) {
		code, res, out := run(ctx, "busybox-cp-after-reboot")
		Expect(code).To(Equal(0), out)
		Expect(res.Verdict.Pass).To(BeTrue())
		for _, ph := range []string{"baseline", "after-reboot", "after-recreate"} {
			sixteenCalls(res, ph)
		}
	}, NodeTimeout(tracedRunTimeout))

	It("fails under an io throttle, the traced calls showing the slowdown", func(ctx SpecContext) {
		code, res, out := run(ctx, "regression-io-throttle-busybox-cp")
		Expect(code).To(Equal(1), out)
		Expect(res.Verdict.Pass).To(BeFalse())
		for _, ph := range []string{"baseline", "after-reboot", "after-recreate"} {
			sixteenCalls(res, ph)
		}
		base, after, recreated := res.Phase("baseline").Probe.Summary, res.Phase("after-reboot").Probe.Summary, res.Phase("after-recreate").Probe.Summary
		AddReportEntry("traced sendfile p50", time.Duration(base.P50Ns).String()+" -> "+time.Duration(after.P50Ns).String()+" -> "+time.Duration(recreated.P50Ns).String())
		// 16 MiB at 20 MiB/s is 800 ms; unthrottled calls take milliseconds.
		Expect(after.P50Ns).To(BeNumerically(">", 500*time.Millisecond.Nanoseconds()))
		Expect(after.P50Ns).To(BeNumerically(">", 10*base.P50Ns))
		Expect(recreated.P50Ns).To(BeNumerically("<", 3*base.P50Ns))
		Expect(out).To(ContainSubstring("blkio.throttle.read_bps_device"))
	}, NodeTimeout(tracedRunTimeout))
})
