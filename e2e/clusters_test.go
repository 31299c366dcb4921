//go:build e2e

package e2e

import (
	"context"
	"path/filepath"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	kindprovider "github.com/pvreboot/pvreboot/framework/cluster/kind"
	"github.com/pvreboot/pvreboot/framework/runner"
)

// Two kind clusters on one host: each has Local PV host directories of its
// own, so sweeping one never removes the other's images, mounts or loops.
var _ = Describe("two kind clusters on one host", Ordered, Serial, Label("kind", "disruptive", "clusters"), func() {
	const other = "pvreboot-b"
	var (
		rcA, rcB   runner.Config
		runA, runB *runner.Run
	)
	BeforeAll(func(ctx SpecContext) {
		_, s, _, setup := shippedScenario("sendfile-after-reboot.yaml")
		var err error
		rcA, _, err = runner.Kind(ctx, s, setup)
		Expect(err).NotTo(HaveOccurred())

		_, sb, _, setupB := shippedScenario("sendfile-after-reboot.yaml")
		root, _ := filepath.Abs("..")
		sb.Spec.Cluster.Kind.Name, sb.Spec.Cluster.Kind.Config = other, filepath.Join(root, "kind-config", "one-worker.yaml")
		sb.Spec.Cluster.Nodes.Names = []string{other + "-worker"}
		Expect(sb.Validate()).To(Succeed())
		rcB, _, err = runner.Kind(ctx, sb, setupB)
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(func(ctx SpecContext) {
			Expect(kindprovider.New(nil, GinkgoWriter).Delete(ctx, other)).To(Succeed())
		}, NodeTimeout(3*time.Minute))

		for _, x := range []struct {
			rc  runner.Config
			run **runner.Run
		}{{rcA, &runA}, {rcB, &runB}} {
			r, err := runner.New(x.rc)
			Expect(err).NotTo(HaveOccurred())
			DeferCleanup(func(ctx SpecContext) { _ = r.Cleanup(ctx) }, NodeTimeout(cleanupTimeout))
			Expect(r.Prepare(ctx)).To(Succeed())
			r.Abandon() // both runs die: their heartbeats stop
			*x.run = r
		}
	}, NodeTimeout(setupTimeout+3*time.Minute))

	It("gives each cluster its own host directories", func(ctx SpecContext) {
		dirs := func(name string) map[string]string {
			c, err := kindprovider.New(nil, GinkgoWriter).Get(ctx, name)
			Expect(err).NotTo(HaveOccurred())
			d, err := c.LocalPVHostDirs(ctx)
			Expect(err).NotTo(HaveOccurred())
			return d
		}
		a, b := dirs(rcA.ClusterName), dirs(other)
		Expect(a).NotTo(BeEmpty())
		Expect(b).NotTo(BeEmpty())
		for _, da := range a {
			Expect(da).To(ContainSubstring("/" + rcA.ClusterName + "/"))
			for _, db := range b {
				Expect(strings.HasPrefix(da+"/", db+"/") || strings.HasPrefix(db+"/", da+"/")).To(BeFalse(), "%s and %s overlap", da, db)
			}
		}
	}, NodeTimeout(time.Minute))

	It("sweeps one cluster's dead run and leaves the other's backing, mount and loop alone", func(ctx SpecContext) {
		nodeB := rcB.Scenario.Spec.Cluster.Nodes.Names[0]
		backingB := func(ctx context.Context) string {
			GinkgoHelper()
			out, err := rcB.Nodes.NodeExec(ctx, nodeB, nil, "sh", "-c",
				"ls /mnt/pvreboot | grep pvreboot-"+runB.ID()+" ; grep -c ' /mnt/pvreboot/pvreboot-"+runB.ID()+"' /proc/self/mountinfo; losetup -a | grep -c pvreboot-"+runB.ID())
			Expect(err).NotTo(HaveOccurred(), string(out))
			return strings.TrimSpace(string(out))
		}
		before := backingB(ctx)
		Expect(before).To(ContainSubstring("pvreboot-" + runB.ID() + "-data.img"))

		By("waiting for run A's heartbeat to expire, then sweeping cluster " + rcA.ClusterName)
		awaitDead(ctx, rcA.ClusterName, runA.ID())
		out := cleanup(ctx, "--name", rcA.ClusterName)
		Expect(out).To(ContainSubstring("removed namespace pvreboot-" + runA.ID()))
		Expect(out).NotTo(ContainSubstring(runB.ID()))
		expectNothingLeft(ctx, rcA, runA.ID())

		By("run B's image, mount and loop device on cluster " + other + " are as they were")
		Expect(backingB(ctx)).To(Equal(before))

		By("sweeping cluster " + other + " removes run B")
		awaitDead(ctx, other, runB.ID())
		Expect(cleanup(ctx, "--name", other)).To(ContainSubstring("removed namespace pvreboot-" + runB.ID()))
		expectNothingLeft(ctx, rcB, runB.ID())
	}, NodeTimeout(5*time.Minute))
})
