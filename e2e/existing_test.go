//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/pvreboot/pvreboot/cmd/pvreboot/app"
	"github.com/pvreboot/pvreboot/framework/cluster"
	"github.com/pvreboot/pvreboot/framework/cluster/existing"
	kindprovider "github.com/pvreboot/pvreboot/framework/cluster/kind"
	"github.com/pvreboot/pvreboot/framework/localpv"
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
		r := runOnExisting(ctx, "sendfile-after-reboot.yaml", "existing")
		Expect(r.code).To(Equal(0), r.stdout)
		Expect(r.res.Cluster.Provider).To(Equal("existing"))
		Expect(r.res.Verdict.Pass).To(BeTrue())
		s, before := r.s, r.before

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

var _ = Describe("a traced workload on an existing cluster", Ordered, Serial, Label("kind", "disruptive", "reboot", "existing", "trace"), func() {
	It("times BusyBox cp per sendfile call with the trace agent in the node helper pod", func(ctx SpecContext) {
		By("running the BusyBox-cp scenario through the kubeconfig: provider existing, so the tracer runs in the helper pod")
		r := runOnExisting(ctx, "busybox-cp-after-reboot.yaml", "existing-trace")
		Expect(r.code).To(Equal(0), r.stdout)
		s, res := r.s, r.res
		Expect(res.Cluster.Provider).To(Equal("existing"))
		Expect(res.Verdict.Pass).To(BeTrue())
		Expect(res.Phases).To(HaveLen(len(s.Spec.Phases)))
		for _, ph := range res.Phases {
			Expect(ph.Error).To(BeEmpty(), "phase %s", ph.Name)
			Expect(ph.Probe).NotTo(BeNil(), "phase %s", ph.Name)
			rep := ph.Probe
			Expect(string(rep.Method)).To(Equal("trace:sendfile"), "phase %s", ph.Name)
			Expect(rep.ExecCommand).To(Equal(s.Spec.Workload.Exec.Command), "phase %s", ph.Name)
			Expect(rep.Iterations).To(HaveLen(s.Spec.Workload.Copies()), "phase %s: one iteration a copy", ph.Name)
			for _, it := range rep.Iterations {
				Expect(it.Calls).To(HaveLen(16), "phase %s copy %d: 256 MiB in sendfile calls of 16 MiB", ph.Name, it.Index)
				for _, c := range it.Calls {
					Expect(c.Bytes).To(Equal(int64(16<<20)), "phase %s copy %d", ph.Name, it.Index)
					Expect(c.Ns).To(BeNumerically(">", 0), "phase %s copy %d", ph.Name, it.Index)
				}
			}
			figures := fmt.Sprintf("%s: %d traced sendfile calls, p50 %s, p99 %s, max %s", ph.Name, rep.Summary.Calls,
				time.Duration(rep.Summary.P50Ns), time.Duration(rep.Summary.P99Ns), time.Duration(rep.Summary.MaxNs))
			AddReportEntry("trace "+ph.Name, figures)
			for _, n := range rep.Env.Notes {
				GinkgoWriter.Printf("%s: note: %s\n", ph.Name, n)
			}
		}
	}, NodeTimeout(20*time.Minute))
})

var _ = Describe("deploy/rbac.yaml", Ordered, Serial, Label("kind", "disruptive", "reboot", "existing", "rbac"), func() {
	It("is enough for a whole run on an existing cluster", func(ctx SpecContext) {
		cfg, s, file, setup := shippedScenario("sendfile-after-reboot.yaml")
		rc, kc, err := runner.Kind(ctx, s, setup)
		Expect(err).NotTo(HaveOccurred())

		By("applying deploy/rbac.yaml and getting a token for its ServiceAccount")
		applyRBAC(ctx, rc, filepath.Join(setup.BaseDir, "deploy", "rbac.yaml"))
		raw, err := kc.Kubeconfig(ctx)
		Expect(err).NotTo(HaveOccurred())

		By("refusing, before touching anything, a ServiceAccount whose role lacks pods/exec")
		partial := partialRole(ctx, rc, "pvreboot", "pods/exec")
		refusedAt := time.Now().Add(-time.Second) // creation times have second precision
		var stdout, stderr bytes.Buffer
		code := app.Run(ctx, []string{"run", file, "--kubeconfig", tokenKubeconfig(ctx, rc, raw, partial), "--probe-image", cfg.ProbeImage,
			"--output-dir", filepath.Join(cfg.Artifacts, "rbac-partial")}, app.Streams{Out: &stdout, Err: io.MultiWriter(&stderr, GinkgoWriter)}, nil)
		Expect(code).To(Equal(3), stdout.String())
		Expect(stderr.String()).To(ContainSubstring("preflight: missing 2 of %d rights", len(existing.Needed)))
		Expect(stderr.String()).To(ContainSubstring("create pods/exec"))
		Expect(stderr.String()).To(ContainSubstring("get pods/exec"))
		nss, err := rc.Client.CoreV1().Namespaces().List(ctx, metav1.ListOptions{LabelSelector: localpv.LabelOwned + "=true"})
		Expect(err).NotTo(HaveOccurred())
		for _, ns := range nss.Items {
			Expect(ns.CreationTimestamp.Time.Before(refusedAt)).To(BeTrue(), "namespace %s made by a run refused at its preflight", ns.Name)
		}

		By("running the scenario with only the rights of deploy/rbac.yaml")
		stdout.Reset()
		code = app.Run(ctx, []string{"run", file, "--kubeconfig", tokenKubeconfig(ctx, rc, raw, "pvreboot"), "--probe-image", cfg.ProbeImage,
			"--output-dir", filepath.Join(cfg.Artifacts, "rbac")}, app.Streams{Out: &stdout, Err: GinkgoWriter}, nil)
		GinkgoWriter.Println(stdout.String())
		Expect(code).To(Equal(0), stdout.String())
	}, NodeTimeout(15*time.Minute))
})

// existingRun is a shipped scenario run as on an existing cluster.
type existingRun struct {
	s      *scenario.Scenario
	before []cluster.Node // the kind cluster's nodes before the run
	code   int
	stdout string
	res    *report.Result
}

// runOnExisting makes sure the shipped scenario's kind cluster exists (made
// by an earlier spec, or now), then runs the CLI on the scenario through the
// cluster's kubeconfig and context, as an existing cluster, into the
// artifacts' directory out.
func runOnExisting(ctx context.Context, name, out string) existingRun {
	GinkgoHelper()
	cfg, s, file, setup := shippedScenario(name)
	By("making sure the cluster exists before this run (made by an earlier one)")
	_, kc, err := runner.Kind(ctx, s, setup)
	Expect(err).NotTo(HaveOccurred())
	before, err := kc.Nodes(ctx)
	Expect(err).NotTo(HaveOccurred())
	raw, err := kc.Kubeconfig(ctx)
	Expect(err).NotTo(HaveOccurred())
	kubeconfig := filepath.Join(GinkgoT().TempDir(), "kubeconfig")
	Expect(os.WriteFile(kubeconfig, raw, 0o600)).To(Succeed())

	By("running the CLI against it as an existing cluster")
	dir := filepath.Join(cfg.Artifacts, out)
	var stdout bytes.Buffer
	code := app.Run(ctx, []string{"run", file, "--kubeconfig", kubeconfig, "--context", "kind-" + s.Spec.Cluster.Kind.Name,
		"--probe-image", cfg.ProbeImage, "--output-dir", dir}, app.Streams{Out: &stdout, Err: GinkgoWriter}, os.Environ())
	GinkgoWriter.Println(stdout.String())
	res, err := report.ReadFile(filepath.Join(dir, "result.json"))
	Expect(err).NotTo(HaveOccurred(), stdout.String())
	return existingRun{s: s, before: before, code: code, stdout: stdout.String(), res: res}
}

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

// partialRole makes a ServiceAccount and ClusterRole named "<role>-partial":
// the role's rules without the given resource. It returns the account's name.
func partialRole(ctx context.Context, rc runner.Config, role, without string) string {
	GinkgoHelper()
	full, err := rc.Client.RbacV1().ClusterRoles().Get(ctx, role, metav1.GetOptions{})
	Expect(err).NotTo(HaveOccurred())
	name := role + "-partial"
	cr := &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: name}}
	for _, r := range full.Rules {
		r.Resources = slices.DeleteFunc(slices.Clone(r.Resources), func(s string) bool { return s == without })
		if len(r.Resources) > 0 {
			cr.Rules = append(cr.Rules, r)
		}
	}
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "kube-system"}}
	crb := &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: name},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: name},
		Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Name: name, Namespace: "kube-system"}}}
	_ = rc.Client.RbacV1().ClusterRoles().Delete(ctx, name, metav1.DeleteOptions{})
	_ = rc.Client.RbacV1().ClusterRoleBindings().Delete(ctx, name, metav1.DeleteOptions{})
	_, err = rc.Client.RbacV1().ClusterRoles().Create(ctx, cr, metav1.CreateOptions{})
	Expect(err).NotTo(HaveOccurred())
	_, err = rc.Client.RbacV1().ClusterRoleBindings().Create(ctx, crb, metav1.CreateOptions{})
	Expect(err).NotTo(HaveOccurred())
	if _, err = rc.Client.CoreV1().ServiceAccounts("kube-system").Create(ctx, sa, metav1.CreateOptions{}); !apierrors.IsAlreadyExists(err) {
		Expect(err).NotTo(HaveOccurred())
	}
	DeferCleanup(func(ctx SpecContext) {
		_ = rc.Client.RbacV1().ClusterRoleBindings().Delete(ctx, name, metav1.DeleteOptions{})
		_ = rc.Client.RbacV1().ClusterRoles().Delete(ctx, name, metav1.DeleteOptions{})
		_ = rc.Client.CoreV1().ServiceAccounts("kube-system").Delete(ctx, name, metav1.DeleteOptions{})
	})
	return name
}

// tokenKubeconfig writes the cluster's kubeconfig with the credentials
// replaced by a token of the kube-system ServiceAccount, and returns its path.
func tokenKubeconfig(ctx context.Context, rc runner.Config, raw []byte, account string) string {
	GinkgoHelper()
	tok, err := rc.Client.CoreV1().ServiceAccounts("kube-system").CreateToken(ctx, account,
		&authv1.TokenRequest{Spec: authv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](3600)}}, metav1.CreateOptions{})
	Expect(err).NotTo(HaveOccurred())
	kcfg, err := clientcmd.Load(raw)
	Expect(err).NotTo(HaveOccurred())
	for _, ai := range kcfg.AuthInfos {
		ai.ClientCertificateData, ai.ClientKeyData, ai.Token = nil, nil, tok.Status.Token
	}
	b, err := clientcmd.Write(*kcfg)
	Expect(err).NotTo(HaveOccurred())
	path := filepath.Join(GinkgoT().TempDir(), account+".kubeconfig")
	Expect(os.WriteFile(path, b, 0o600)).To(Succeed())
	return path
}
