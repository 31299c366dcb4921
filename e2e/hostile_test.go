//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/pvreboot/pvreboot/cmd/pvreboot/app"
	"github.com/pvreboot/pvreboot/framework/localpv"
	"github.com/pvreboot/pvreboot/framework/runner"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// A scenario whose volume name is shell text: the real CLI refuses it with
// exit 2 naming the field, and nothing is created on the cluster or run on
// the node; handed straight to the node layer (validation bypassed), the
// real node runner refuses it too.
var _ = Describe("hostile scenario values", Ordered, Serial, Label("kind", "hostile"), func() {
	var rc runner.Config
	node := func() string { return rc.Scenario.Spec.Cluster.Nodes.Names[0] }
	pwnedOnNode := func(ctx context.Context) bool {
		GinkgoHelper()
		out, err := rc.Nodes.NodeExec(ctx, node(), nil, "ls", "-A", "/tmp", "/mnt/pvreboot")
		Expect(err).NotTo(HaveOccurred())
		return strings.Contains(string(out), "pwned")
	}
	owned := func(ctx context.Context) (int, int) {
		GinkgoHelper()
		sel := metav1.ListOptions{LabelSelector: localpv.LabelOwned + "=true"}
		ns, err := rc.Client.CoreV1().Namespaces().List(ctx, sel)
		Expect(err).NotTo(HaveOccurred())
		pvs, err := rc.Client.CoreV1().PersistentVolumes().List(ctx, sel)
		Expect(err).NotTo(HaveOccurred())
		return len(ns.Items), len(pvs.Items)
	}

	BeforeAll(func(ctx SpecContext) {
		_, s, _, setup := shippedScenario("sendfile-after-reboot.yaml")
		var err error
		rc, _, err = runner.Kind(ctx, s, setup)
		Expect(err).NotTo(HaveOccurred())
	}, NodeTimeout(setupTimeout))

	It("refuses the scenario with exit 2 and leaves the cluster and node untouched", func(ctx SpecContext) {
		cfg := loadSuiteConfig()
		b, err := os.ReadFile(filepath.Join("testdata", "hostile-volume-name.yaml"))
		Expect(err).NotTo(HaveOccurred())
		text := strings.NewReplacer("CLUSTER", rc.ClusterName, "NODE", node()).Replace(string(b))
		file := filepath.Join(GinkgoT().TempDir(), "hostile.yaml")
		Expect(os.WriteFile(file, []byte(text), 0o644)).To(Succeed())
		nsBefore, pvBefore := owned(ctx)
		Expect(pwnedOnNode(ctx)).To(BeFalse(), "a pwned file is on the node before the run")

		var stdout, stderr bytes.Buffer
		code := app.Run(ctx, []string{"run", file, "--image", cfg.NodeImage, "--probe-image", cfg.ProbeImage,
			"--output-dir", GinkgoT().TempDir()}, app.Streams{In: strings.NewReader(""), Out: &stdout, Err: &stderr}, os.Environ())
		GinkgoWriter.Printf("pvreboot run exited %d\nstdout:\n%s\nstderr:\n%s\n", code, stdout.String(), stderr.String())
		Expect(code).To(Equal(2))
		Expect(stderr.String()).To(ContainSubstring(`spec.volumes[0].name: Invalid value: "v$(touch /tmp/pwned)"`))
		Expect(stderr.String()).To(ContainSubstring(`spec.volumes[0].mountOptions[0]: Invalid value: "noatime,sync"`))

		nsAfter, pvAfter := owned(ctx)
		Expect(nsAfter).To(Equal(nsBefore), "a namespace was created")
		Expect(pvAfter).To(Equal(pvBefore), "a PV was created")
		Expect(pwnedOnNode(ctx)).To(BeFalse(), "the volume name was executed on the node")
	}, NodeTimeout(stepTimeout))

	It("refuses hostile names in the node layer itself, on the real node", func(ctx SpecContext) {
		prov := localpv.New(rc.Client, rc.Nodes, nil)
		for _, name := range []string{"v$(touch /tmp/pwned)", "a/../../../../etc", "v`touch /tmp/pwned`"} {
			_, err := prov.Create(ctx, localpv.Spec{Run: "e2e1", Name: name, Node: node(), Backing: localpv.Filesystem, FSType: "ext4",
				SizeBytes: 1 << 30, StorageClass: "pvreboot-local", Namespace: "default", Root: "/mnt/pvreboot"})
			Expect(err).To(MatchError(localpv.ErrUnsafe), name)
		}
		Expect(pwnedOnNode(ctx)).To(BeFalse(), "a hostile name was executed on the node")
	}, NodeTimeout(stepTimeout))
})
