//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/pvreboot/pvreboot/cmd/pvreboot/app"
	kindprovider "github.com/pvreboot/pvreboot/framework/cluster/kind"
	"github.com/pvreboot/pvreboot/framework/nodeimage"
	"github.com/pvreboot/pvreboot/framework/report"
	"github.com/pvreboot/pvreboot/internal/registrytest"
	"sigs.k8s.io/yaml"
)

// pullClusterName is the cluster this spec makes from the pulled image (and deletes).
const pullClusterName = "pvreboot-pull"

// The standard-image path for real: a registry on 127.0.0.1 serves the node
// image under a kind-style reference (kindest/node:<version>), and `pvreboot
// run` without --image has the engine pull it, makes its cluster from it and
// runs the default scenario there. The image is this suite's node image
// with one more layer (the engine must fetch a blob and makes a new image):
// on this project's CI host (no CAP_SYS_RESOURCE) only an image pvreboot
// built with the oom_score_adj clamp can run pods, which its labels say.
var _ = Describe("a node image pulled from a registry", Ordered, Serial, Label("kind", "disruptive", "reboot", "pull"), func() {
	It("makes the cluster of the default scenario, which passes on it", func(ctx SpecContext) {
		cfg, s, _, _ := shippedScenario("sendfile-after-reboot.yaml")
		root, _ := filepath.Abs("..")
		p := kindprovider.New(nil, GinkgoWriter)
		deleteCluster := func(ctx context.Context) {
			if ok, err := p.Exists(ctx, pullClusterName); err == nil && ok {
				Expect(p.Delete(ctx, pullClusterName)).To(Succeed())
			}
		}
		By("serving the suite's node image as 127.0.0.1:PORT/kindest/node:" + nodeimage.DefaultVersions().Kubernetes)
		reg, err := registrytest.Serve(GinkgoT().TempDir())
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(reg.Close)
		ref := reg.Host + "/kindest/node:" + nodeimage.DefaultVersions().Kubernetes
		start := time.Now()
		Expect(registrytest.PushFromEngine(ctx, cfg.NodeImage, ref, GinkgoT().TempDir())).To(Succeed())
		AddReportEntry("push", time.Since(start).Round(time.Second).String())
		// Cleanups run last first: the cluster goes, then the image its nodes used.
		DeferCleanup(func() {
			out, err := exec.Command("docker", "rmi", ref).CombinedOutput()
			GinkgoWriter.Printf("docker rmi %s: %v %s\n", ref, err, out)
		})
		deleteCluster(ctx)
		DeferCleanup(deleteCluster, NodeTimeout(3*time.Minute))

		By("running the default scenario on a cluster to be made, without --image")
		s.Spec.Cluster.Kind.Name = pullClusterName
		s.Spec.Cluster.Kind.Config = filepath.Join(root, "kind-config", "one-worker.yaml")
		s.Spec.Cluster.Nodes.Names = []string{pullClusterName + "-worker"}
		Expect(s.Validate()).To(Succeed())
		b, err := yaml.Marshal(s)
		Expect(err).NotTo(HaveOccurred())
		file := filepath.Join(GinkgoT().TempDir(), "pulled.yaml")
		Expect(os.WriteFile(file, b, 0o644)).To(Succeed())
		out := filepath.Join(cfg.Artifacts, "pulled-node-image")
		var stdout, stderr bytes.Buffer
		start = time.Now()
		code := app.Run(ctx, []string{"run", file, "--pull-image", ref, "--probe-image", cfg.ProbeImage, "--output-dir", out},
			app.Streams{Out: &stdout, Err: io.MultiWriter(&stderr, GinkgoWriter)}, os.Environ())
		GinkgoWriter.Println(stdout.String())
		AddReportEntry("run with the pull", time.Since(start).Round(time.Second).String())
		Expect(code).To(Equal(0), stdout.String())
		Expect(stderr.String()).To(ContainSubstring("node image %s: pulling", ref))
		Expect(stderr.String()).To(ContainSubstring("node image %s (%s)", ref, nodeimage.SourcePulled))
		Expect(stderr.String()).NotTo(ContainSubstring("building from sources"))

		res, err := report.ReadFile(filepath.Join(out, "result.json"))
		Expect(err).NotTo(HaveOccurred())
		Expect(res.Verdict.Pass).To(BeTrue())

		By("checking every node runs the pulled image")
		c, err := p.Get(ctx, pullClusterName)
		Expect(err).NotTo(HaveOccurred())
		nodes, err := c.Nodes(ctx)
		Expect(err).NotTo(HaveOccurred())
		Expect(nodes).To(HaveLen(2))
		for _, n := range nodes {
			img, err := exec.CommandContext(ctx, "docker", "inspect", "--format", "{{.Config.Image}}", n.Name).Output()
			Expect(err).NotTo(HaveOccurred())
			Expect(strings.TrimSpace(string(img))).To(Equal(ref), "node %s", n.Name)
		}
	}, NodeTimeout(20*time.Minute))
})
