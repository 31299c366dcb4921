//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/pvreboot/pvreboot/cmd/pvreboot/app"
	kindprovider "github.com/pvreboot/pvreboot/framework/cluster/kind"
	"github.com/pvreboot/pvreboot/framework/report"
	"github.com/pvreboot/pvreboot/framework/runner"
	"github.com/pvreboot/pvreboot/framework/scenario"
	authv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"
)

var _ = Describe("pvreboot run against an existing cluster", Ordered, Serial, Label("kind", "disruptive", "reboot", "existing"), func() {
	It("runs through --kubeconfig/--context without creating or deleting the cluster", func(ctx SpecContext) {
		cfg := loadSuiteConfig()
		if cfg.NodeImage == "" || cfg.ProbeImage == "" {
			Skip("PVREBOOT_NODE_IMAGE and PVREBOOT_PROBE_IMAGE are not set: run through ci/e2e-kind.sh")
		}
		root, _ := filepath.Abs("..")
		file := filepath.Join(root, "scenarios", "sendfile-after-reboot.yaml")
		s, err := scenario.Load(file)
		Expect(err).NotTo(HaveOccurred())
		By("making sure the cluster exists before this run (made by an earlier one)")
		_, kc, err := runner.Kind(ctx, s, runner.KindSetup{NodeImage: cfg.NodeImage, ProbeImage: cfg.ProbeImage, BaseDir: root, Progress: GinkgoWriter})
		Expect(err).NotTo(HaveOccurred())
		before, err := kc.Nodes(ctx)
		Expect(err).NotTo(HaveOccurred())
		raw, err := kc.Kubeconfig(ctx)
		Expect(err).NotTo(HaveOccurred())
		kubeconfig := filepath.Join(GinkgoT().TempDir(), "kubeconfig")
		Expect(os.WriteFile(kubeconfig, raw, 0o600)).To(Succeed())

		By("running the CLI against it as an existing cluster")
		out := filepath.Join(cfg.Artifacts, "existing")
		var stdout, stderr bytes.Buffer
		code := app.Run(ctx, []string{"run", file, "--kubeconfig", kubeconfig, "--context", "kind-" + s.Spec.Cluster.Kind.Name,
			"--probe-image", cfg.ProbeImage, "--output-dir", out}, app.Streams{Out: &stdout, Err: GinkgoWriter}, os.Environ())
		GinkgoWriter.Println(stdout.String(), stderr.String())
		Expect(code).To(Equal(0))

		b, err := os.ReadFile(filepath.Join(out, "result.json"))
		Expect(err).NotTo(HaveOccurred())
		var res report.Result
		Expect(json.Unmarshal(b, &res)).To(Succeed())
		Expect(res.Cluster.Provider).To(Equal("existing"))
		Expect(res.Verdict.Pass).To(BeTrue())

		By("checking the cluster is the same one: neither created nor deleted")
		p := kindprovider.New(nil, GinkgoWriter)
		c, err := p.Get(ctx, s.Spec.Cluster.Kind.Name)
		Expect(err).NotTo(HaveOccurred())
		after, err := c.Nodes(ctx)
		Expect(err).NotTo(HaveOccurred())
		Expect(after).To(HaveLen(len(before)))
		for i := range before {
			Expect(after[i].ContainerID).To(Equal(before[i].ContainerID), "node %s was recreated", before[i].Name)
		}
	}, NodeTimeout(15*time.Minute))
})

var _ = Describe("deploy/rbac.yaml", Ordered, Serial, Label("kind", "disruptive", "reboot", "existing", "rbac"), func() {
	It("is enough for a whole run on an existing cluster", func(ctx SpecContext) {
		cfg := loadSuiteConfig()
		if cfg.NodeImage == "" || cfg.ProbeImage == "" {
			Skip("PVREBOOT_NODE_IMAGE and PVREBOOT_PROBE_IMAGE are not set: run through ci/e2e-kind.sh")
		}
		root, _ := filepath.Abs("..")
		file := filepath.Join(root, "scenarios", "sendfile-after-reboot.yaml")
		s, err := scenario.Load(file)
		Expect(err).NotTo(HaveOccurred())
		rc, kc, err := runner.Kind(ctx, s, runner.KindSetup{NodeImage: cfg.NodeImage, ProbeImage: cfg.ProbeImage, BaseDir: root, Progress: GinkgoWriter})
		Expect(err).NotTo(HaveOccurred())

		By("applying deploy/rbac.yaml and getting a token for its ServiceAccount")
		applyRBAC(ctx, rc, filepath.Join(root, "deploy", "rbac.yaml"))
		tok, err := rc.Client.CoreV1().ServiceAccounts("kube-system").CreateToken(ctx, "pvreboot",
			&authv1.TokenRequest{Spec: authv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](3600)}}, metav1.CreateOptions{})
		Expect(err).NotTo(HaveOccurred())
		raw, err := kc.Kubeconfig(ctx)
		Expect(err).NotTo(HaveOccurred())
		kcfg, err := clientcmd.Load(raw)
		Expect(err).NotTo(HaveOccurred())
		for _, ai := range kcfg.AuthInfos {
			ai.ClientCertificateData, ai.ClientKeyData, ai.Token = nil, nil, tok.Status.Token
		}
		b, err := clientcmd.Write(*kcfg)
		Expect(err).NotTo(HaveOccurred())
		kubeconfig := filepath.Join(GinkgoT().TempDir(), "kubeconfig")
		Expect(os.WriteFile(kubeconfig, b, 0o600)).To(Succeed())

		By("running the scenario with only those rights")
		var stdout bytes.Buffer
		code := app.Run(ctx, []string{"run", file, "--kubeconfig", kubeconfig, "--probe-image", cfg.ProbeImage,
			"--output-dir", filepath.Join(cfg.Artifacts, "rbac")}, app.Streams{Out: &stdout, Err: GinkgoWriter}, nil)
		GinkgoWriter.Println(stdout.String())
		Expect(code).To(Equal(0), stdout.String())
	}, NodeTimeout(15*time.Minute))
})

// applyRBAC creates the ServiceAccount, ClusterRole and binding of the file.
func applyRBAC(ctx context.Context, rc runner.Config, path string) {
	GinkgoHelper()
	b, err := os.ReadFile(path)
	Expect(err).NotTo(HaveOccurred())
	for _, doc := range strings.Split(string(b), "\n---\n") {
		var head struct{ Kind string }
		Expect(yaml.Unmarshal([]byte(doc), &head)).To(Succeed())
		var err error
		switch head.Kind {
		case "ServiceAccount":
			var o corev1.ServiceAccount
			Expect(yaml.UnmarshalStrict([]byte(doc), &o)).To(Succeed())
			_, err = rc.Client.CoreV1().ServiceAccounts(o.Namespace).Create(ctx, &o, metav1.CreateOptions{})
		case "ClusterRole":
			var o rbacv1.ClusterRole
			Expect(yaml.UnmarshalStrict([]byte(doc), &o)).To(Succeed())
			_ = rc.Client.RbacV1().ClusterRoles().Delete(ctx, o.Name, metav1.DeleteOptions{})
			_, err = rc.Client.RbacV1().ClusterRoles().Create(ctx, &o, metav1.CreateOptions{})
		case "ClusterRoleBinding":
			var o rbacv1.ClusterRoleBinding
			Expect(yaml.UnmarshalStrict([]byte(doc), &o)).To(Succeed())
			_ = rc.Client.RbacV1().ClusterRoleBindings().Delete(ctx, o.Name, metav1.DeleteOptions{})
			_, err = rc.Client.RbacV1().ClusterRoleBindings().Create(ctx, &o, metav1.CreateOptions{})
		default:
			Fail("unexpected kind in " + path + ": " + head.Kind)
		}
		if err != nil && !apierrors.IsAlreadyExists(err) {
			Expect(err).NotTo(HaveOccurred())
		}
	}
}
