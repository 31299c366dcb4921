//go:build e2e

package e2e

import (
	"bytes"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/pvreboot/pvreboot/cmd/pvreboot/app"
	"github.com/pvreboot/pvreboot/framework/runner"
	"github.com/pvreboot/pvreboot/framework/scenario"
	"k8s.io/utils/ptr"
)

// A run that dies (the process killed, here: never cleaned up) leaves its
// namespace, PVs and node-side backings; `pvreboot cleanup` removes them.
var _ = Describe("pvreboot cleanup", Ordered, Serial, Label("kind", "disruptive", "cleanup"), func() {
	It("removes what a dead run left, and a dry run removes nothing", func(ctx SpecContext) {
		_, s, _, setup := shippedScenario("sendfile-after-reboot.yaml")
		s.Spec.Volumes = append(s.Spec.Volumes, scenario.Volume{Name: "raw", Count: ptr.To(1), Backing: scenario.BackingBlock, Size: "600Mi", StorageClass: s.Spec.Volumes[0].StorageClass})
		Expect(s.Validate()).To(Succeed())
		rc, _, err := runner.Kind(ctx, s, setup)
		Expect(err).NotTo(HaveOccurred())
		run, err := runner.New(rc)
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(func(ctx SpecContext) { _ = run.Cleanup(ctx) }, NodeTimeout(cleanupTimeout))
		loops := loopDevices(ctx, rc)

		By("preparing a run (filesystem PV with its pod, block PV) that then dies")
		Expect(run.Prepare(ctx)).To(Succeed())
		id := run.ID()

		By("a live run (heartbeat going) is never swept, whatever its age")
		out := cleanup(ctx, "--name", s.Spec.Cluster.Kind.Name, "--older-than", "0s", "--dry-run")
		Expect(runLine(out, id)).To(ContainSubstring("live (left alone)"))
		Expect(out).NotTo(ContainSubstring("would remove namespace pvreboot-" + id))
		run.Abandon() // its process dies: the heartbeat stops

		By("listing it with --dry-run once its heartbeat has expired, removing nothing")
		awaitDead(ctx, s.Spec.Cluster.Kind.Name, id)
		out = cleanup(ctx, "--name", s.Spec.Cluster.Kind.Name, "--older-than", "0s", "--dry-run")
		for _, want := range []string{"would remove namespace pvreboot-" + id, "would remove PV pvreboot-" + id + "-data", "would remove PV pvreboot-" + id + "-raw"} {
			Expect(out).To(ContainSubstring(want))
		}
		out = cleanup(ctx, "--name", s.Spec.Cluster.Kind.Name, "--older-than", "1h", "--dry-run")
		Expect(out).To(ContainSubstring("would remove namespace pvreboot-"+id), "a dead run is swept whatever its age")

		By("sweeping it")
		out = cleanup(ctx, "--name", s.Spec.Cluster.Kind.Name, "--older-than", "0s")
		Expect(out).To(ContainSubstring("removed namespace pvreboot-" + id))
		Expect(out).To(ContainSubstring("removed PV pvreboot-" + id + "-raw"))
		expectNothingLeft(ctx, rc, id)
		for _, name := range []string{"data", "raw"} {
			b, err := rc.Nodes.NodeExec(ctx, rc.Scenario.Spec.Cluster.Nodes.Names[0], nil, "sh", "-c", "ls /mnt/pvreboot /etc/systemd/system | grep -c pvreboot-"+id+"-"+name+" || true")
			Expect(err).NotTo(HaveOccurred())
			Expect(strings.TrimSpace(string(b))).To(Equal("0"), "files or units of %s left", name)
		}
		Expect(subset(loopDevices(ctx, rc), loops)).To(BeTrue(), "loop devices of the dead run still attached")
		Expect(cleanup(ctx, "--name", s.Spec.Cluster.Kind.Name, "--older-than", "0s")).To(ContainSubstring("nothing left behind"))
	}, NodeTimeout(setupTimeout+stepTimeout))
})

// runLine is the line `pvreboot cleanup` prints about a run.
func runLine(out, id string) string {
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(strings.TrimSpace(l), "run "+id+" (") {
			return l
		}
	}
	return ""
}

// awaitDead waits until `pvreboot cleanup` lists the run as dead: its
// Lease expired after its heartbeat stopped.
func awaitDead(ctx SpecContext, cluster, id string) {
	GinkgoHelper()
	Eventually(ctx, func() string { return runLine(cleanup(ctx, "--name", cluster, "--dry-run"), id) }).
		WithTimeout(time.Minute).WithPolling(5 * time.Second).Should(ContainSubstring("dead: its heartbeat stopped"))
}

func cleanup(ctx SpecContext, args ...string) string {
	GinkgoHelper()
	var stdout bytes.Buffer
	code := app.Run(ctx, append([]string{"cleanup"}, args...), app.Streams{Out: &stdout, Err: GinkgoWriter}, nil)
	GinkgoWriter.Print(stdout.String())
	Expect(code).To(Equal(0), stdout.String())
	return stdout.String()
}
