//go:build e2e

package e2e

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/pvreboot/pvreboot/framework/reboot"
	"github.com/pvreboot/pvreboot/framework/runner"
	"github.com/pvreboot/pvreboot/framework/scenario"
	"github.com/pvreboot/pvreboot/framework/wait"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// A real sshd (Debian's openssh-server, carried by the node image) in the
// kind worker: pvreboot reboots the node over SSH, checking its host key.
var _ = Describe("reboot over SSH", Ordered, Serial, Label("kind", "disruptive", "reboot", "ssh"), func() {
	var (
		rc         runner.Config
		node, ip   string
		keyFile    string
		knownHosts string
		wrongHosts string
	)
	BeforeAll(func(ctx SpecContext) {
		_, s, _, setup := shippedScenario("sendfile-after-reboot.yaml")
		dir := GinkgoT().TempDir()
		keyFile, knownHosts, wrongHosts = filepath.Join(dir, "id_ed25519"), filepath.Join(dir, "known_hosts"), filepath.Join(dir, "wrong_known_hosts")

		By("making a client key")
		pub, priv, err := ed25519.GenerateKey(rand.Reader)
		Expect(err).NotTo(HaveOccurred())
		block, err := ssh.MarshalPrivateKey(priv, "pvreboot e2e")
		Expect(err).NotTo(HaveOccurred())
		Expect(os.WriteFile(keyFile, pem.EncodeToMemory(block), 0o600)).To(Succeed())
		sshPub, err := ssh.NewPublicKey(pub)
		Expect(err).NotTo(HaveOccurred())

		s.Spec.Workload.FileSize, s.Spec.Workload.Iterations = "64Mi", ptr.To(5)
		s.Spec.Reboot.Method = scenario.RebootSSH
		s.Spec.Reboot.SSH = &scenario.SSHReboot{User: "root", Port: ptr.To(22), KeyFile: keyFile, KnownHosts: knownHosts, Mode: "reboot"}
		Expect(s.Validate()).To(Succeed())
		rc, _, err = runner.Kind(ctx, s, setup)
		rc.AllowReboot = true // what --allow-reboot says
		Expect(err).NotTo(HaveOccurred())
		node = s.Spec.Cluster.Nodes.Names[0]

		// Docker restarts a kind node whose systemd rebooted only once per
		// `docker start` (restart policy on-failure:1): start from a fresh one.
		By("restarting the node container so that its restart budget is fresh")
		ev, err := reboot.KindContainer{}.Reboot(ctx, node)
		Expect(err).NotTo(HaveOccurred())
		wctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
		_, err = wait.NodeRebooted(wctx, rc.Client, node, ev.Returned, "", false)
		cancel()
		Expect(err).NotTo(HaveOccurred())

		By("starting sshd in " + node)
		_, err = rc.Nodes.NodeExec(ctx, node, nil, "sh", "-c",
			`ssh-keygen -A >/dev/null && mkdir -p /root/.ssh && chmod 700 /root/.ssh && printf '%s' "$1" > /root/.ssh/authorized_keys && systemctl start ssh`,
			"sh", string(ssh.MarshalAuthorizedKey(sshPub)))
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(func(ctx SpecContext) {
			_, err := rc.Nodes.NodeExec(ctx, node, nil, "sh", "-c", "systemctl stop ssh; rm -f /root/.ssh/authorized_keys /etc/ssh/ssh_host_*")
			Expect(err).NotTo(HaveOccurred())
		}, NodeTimeout(time.Minute))

		By("recording its host key in known_hosts, and a wrong one elsewhere")
		hostPub, err := rc.Nodes.NodeExec(ctx, node, nil, "cat", "/etc/ssh/ssh_host_ed25519_key.pub")
		Expect(err).NotTo(HaveOccurred())
		hk, _, _, _, err := ssh.ParseAuthorizedKey(hostPub)
		Expect(err).NotTo(HaveOccurred())
		n, err := rc.Client.CoreV1().Nodes().Get(ctx, node, metav1.GetOptions{})
		Expect(err).NotTo(HaveOccurred())
		for _, a := range n.Status.Addresses {
			if a.Type == "InternalIP" {
				ip = a.Address
			}
		}
		Expect(ip).NotTo(BeEmpty())
		Expect(os.WriteFile(knownHosts, []byte(knownhosts.Line([]string{ip}, hk)+"\n"), 0o600)).To(Succeed())
		otherPub, _, _ := ed25519.GenerateKey(rand.Reader)
		other, _ := ssh.NewPublicKey(otherPub)
		Expect(os.WriteFile(wrongHosts, []byte(knownhosts.Line([]string{ip}, other)+"\n"), 0o600)).To(Succeed())
	}, NodeTimeout(setupTimeout))

	It("refuses a node whose host key does not match known_hosts", func(ctx SpecContext) {
		r := reboot.SSH{User: "root", Port: 22, KeyFile: keyFile, KnownHosts: wrongHosts, Mode: "reboot"}
		_, err := r.Reboot(ctx, ip)
		Expect(err).To(HaveOccurred())
		Expect(err.Error()).To(ContainSubstring("does not match"))
		Expect(err.Error()).To(ContainSubstring("refusing to connect"))
		// The node was not touched: still Ready, sshd still answers with the right key.
		_, err = rc.Nodes.NodeExec(ctx, node, nil, "systemctl", "is-active", "ssh")
		Expect(err).NotTo(HaveOccurred())
	}, NodeTimeout(time.Minute))

	It("runs the scenario with a real reboot over SSH", func(ctx SpecContext) {
		run, err := runner.New(rc)
		Expect(err).NotTo(HaveOccurred())
		err = run.Execute(ctx)
		Expect(err).NotTo(HaveOccurred())
		res := run.Result
		Expect(res.Reboots).To(HaveLen(1))
		Expect(res.Reboots[0].Method).To(Equal("ssh"))
		Expect(strings.Join(res.Reboots[0].Notes, " ")).To(ContainSubstring("over ssh"))
		Expect(res.Reboots[0].SamePod).To(BeTrue())
		Expect(res.Verdict.Pass).To(BeTrue(), "failures: %+v", res.Verdict.Failures())
	}, NodeTimeout(stepTimeout))
})
