//go:build e2e

package e2e

import (
	"io"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gbytes"
	"github.com/pvreboot/pvreboot/framework/exec"
	"github.com/pvreboot/pvreboot/framework/runner"
)

// A host reboot (or a restart of the Docker daemon) brings every node
// container of a kind cluster back at once: "running" seconds later, while the
// API server still denies requests and new namespaces get no ServiceAccount.
// A run that reuses the cluster then must wait for it to settle, not fail.
var _ = Describe("reusing a kind cluster whose nodes all just restarted", Ordered, Serial, Label("kind", "disruptive", "reuse"), func() {
	It("waits for the cluster to settle, then prepares a run", func(ctx SpecContext) {
		_, s, _, setup := shippedScenario("sendfile-after-reboot.yaml")
		_, kc, err := runner.Kind(ctx, s, setup)
		Expect(err).NotTo(HaveOccurred())

		By("restarting every node container at once, as a host reboot does")
		nodes, err := kc.Nodes(ctx)
		Expect(err).NotTo(HaveOccurred())
		argv := append(kc.Docker(), "restart", "--time", "0")
		for _, n := range nodes {
			argv = append(argv, n.Name)
		}
		out, err := exec.Output(ctx, exec.Cmd{Argv: argv})
		Expect(err).NotTo(HaveOccurred(), string(out))

		By("reusing it at once: the setup waits for it to settle")
		progress := gbytes.NewBuffer() // safe for kind's concurrent writers
		setup.Progress = io.MultiWriter(progress, GinkgoWriter)
		rc, _, err := runner.Kind(ctx, s, setup)
		Expect(err).NotTo(HaveOccurred())
		text := string(progress.Contents())
		Expect(text).To(ContainSubstring("waiting up to"))
		Expect(text).To(ContainSubstring("Reusing kind cluster"))
		Expect(text).NotTo(ContainSubstring("Replacing"), "a cluster that settles is reused, not recreated")

		By("preparing a run: namespace, Local PV and workload pod")
		run, err := runner.New(rc)
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(func(ctx SpecContext) { _ = run.Cleanup(ctx) }, NodeTimeout(cleanupTimeout))
		Expect(run.Prepare(ctx)).To(Succeed())
		Expect(run.Cleanup(ctx)).To(Succeed())
		expectNothingLeft(ctx, rc, run.ID())
		after, err := kc.Nodes(ctx)
		Expect(err).NotTo(HaveOccurred())
		for i := range nodes {
			Expect(after[i].ContainerID).To(Equal(nodes[i].ContainerID), "node %s was recreated", nodes[i].Name)
		}
	}, NodeTimeout(setupTimeout+stepTimeout))
})
