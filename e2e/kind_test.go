//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/pvreboot/pvreboot/framework/cluster"
	kindprovider "github.com/pvreboot/pvreboot/framework/cluster/kind"
	"github.com/pvreboot/pvreboot/framework/probe"
	"github.com/pvreboot/pvreboot/framework/wait"
	"github.com/pvreboot/pvreboot/framework/workload"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// Timeouts of the kind suite.
const (
	clusterCreateTimeout = 5 * time.Minute // kind create: ~40 s here
	nodesReadyTimeout    = 3 * time.Minute // nodes Ready after create: ~12 s here
	podReadyTimeout      = 2 * time.Minute // a workload pod from a preloaded image
	probeTimeout         = 2 * time.Minute // one small copyprobe run
)

var _ = Describe("kind cluster without a registry", Ordered, Serial, Label("kind"), func() {
	var (
		cfg     suiteConfig
		c       *kindprovider.Cluster
		client  kubernetes.Interface
		rc      *rest.Config
		workers []cluster.Node
		ns      string
	)

	BeforeAll(func(ctx SpecContext) {
		cfg = loadSuiteConfig()
		if cfg.NodeImage == "" || cfg.ProbeImage == "" {
			Skip("PVREBOOT_NODE_IMAGE and PVREBOOT_PROBE_IMAGE are not set: run through ci/e2e.sh, which builds them")
		}
		p := kindprovider.New(nil, GinkgoWriter)
		if ok, err := p.Exists(ctx, cfg.ClusterName); err == nil && ok {
			By("deleting a leftover cluster " + cfg.ClusterName)
			Expect(p.Delete(ctx, cfg.ClusterName)).To(Succeed())
		}
		By("creating the cluster through the provider")
		var err error
		c, err = p.Create(ctx, kindprovider.CreateOptions{Name: cfg.ClusterName, ConfigFile: cfg.KindConfig, Image: cfg.NodeImage, WaitForReady: nodesReadyTimeout})
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(func(ctx SpecContext) {
			if CurrentSpecReport().Failed() || os.Getenv("PVREBOOT_EXPORT_LOGS") != "" {
				dir := filepath.Join(cfg.Artifacts, "kind-logs-"+cfg.ClusterName)
				By("exporting cluster logs to " + dir)
				if err := c.ExportLogs(ctx, dir); err != nil {
					GinkgoWriter.Printf("export logs: %v\n", err)
				}
			}
			By("deleting the cluster")
			Expect(p.Delete(ctx, cfg.ClusterName)).To(Succeed())
		}, NodeTimeout(3*time.Minute))

		rc, client, err = c.Client(ctx)
		Expect(err).NotTo(HaveOccurred())

		nodes, err := c.Nodes(ctx)
		Expect(err).NotTo(HaveOccurred())
		for _, n := range nodes {
			if n.Role == "worker" {
				workers = append(workers, n)
			}
		}
		Expect(workers).To(HaveLen(2), "two-workers config")
		ns = createNamespace(ctx, client, "pvreboot-e2e-kind-")
	}, NodeTimeout(clusterCreateTimeout+nodesReadyTimeout))

	It("has every node Ready", func(ctx SpecContext) {
		nodes, err := c.Nodes(ctx)
		Expect(err).NotTo(HaveOccurred())
		for _, n := range nodes {
			Expect(n.ContainerID).NotTo(BeEmpty())
			Expect(n.IPv4).NotTo(BeEmpty())
			wctx, cancel := context.WithTimeout(ctx, nodesReadyTimeout)
			_, err := wait.NodeReady(wctx, client, n.Name)
			cancel()
			Expect(err).NotTo(HaveOccurred())
		}
	}, NodeTimeout(nodesReadyTimeout+30*time.Second))

	It("has every kube-system pod Running and Ready", func(ctx SpecContext) {
		Eventually(ctx, func(g Gomega) {
			pods, err := client.CoreV1().Pods("kube-system").List(ctx, metav1.ListOptions{})
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(pods.Items).NotTo(BeEmpty())
			for _, p := range pods.Items {
				g.Expect(p.Status.Phase).To(Equal(corev1.PodRunning), "%s: %s", p.Name, wait.DescribePod(&p))
				g.Expect(wait.IsPodReady(&p)).To(BeTrue(), "%s: %s", p.Name, wait.DescribePod(&p))
			}
		}).WithTimeout(podReadyTimeout).WithPolling(2 * time.Second).Should(Succeed())
	}, NodeTimeout(podReadyTimeout+30*time.Second))

	It("loads the probe image and runs copyprobe in a pod on each worker", func(ctx SpecContext) {
		Expect(c.LoadImage(ctx, cfg.ProbeImage)).To(Succeed())
		for _, w := range workers {
			name := "probe-" + w.Name
			_, err := client.CoreV1().Pods(ns).Create(ctx, workload.NewPod(workload.PodSpec{Namespace: ns, Name: name, Node: w.Name, Image: cfg.ProbeImage}), metav1.CreateOptions{})
			Expect(err).NotTo(HaveOccurred())
			wctx, cancel := context.WithTimeout(ctx, podReadyTimeout)
			_, err = wait.PodReady(wctx, client, ns, name)
			cancel()
			Expect(err).NotTo(HaveOccurred())

			pctx, cancel := context.WithTimeout(ctx, probeTimeout)
			rep, err := workload.Measure(pctx, rc, client, ns, name, probe.Options{
				Dir: workload.DataDir, Method: probe.MethodSendfile, FileBytes: 32 << 20, ChunkBytes: 16 << 20, Iterations: 2, Cache: probe.CacheCold,
			})
			cancel()
			Expect(err).NotTo(HaveOccurred())
			Expect(rep.Summary.Calls).To(BeNumerically(">=", 4))
			Expect(rep.Env.Hostname).To(Equal(name))
			for _, it := range rep.Iterations {
				Expect(it.SHA256).To(Equal(rep.SourceSHA256))
			}
			GinkgoWriter.Printf("%s: p50 %s, %.0f MB/s, volume %s %s\n", w.Name, time.Duration(rep.Summary.P50Ns), rep.Summary.BytesPerSecond/1e6, rep.Env.Mount.MajorMinor, rep.Env.Mount.FSType)
		}
	}, NodeTimeout(2*(podReadyTimeout+probeTimeout)))

	It("carries pod-to-pod traffic across nodes", func(ctx SpecContext) {
		Expect(ns).NotTo(BeEmpty(), "the probe pods exist")
		// A TCP server that sends its BusyBox binary to every client
		// (Debian's static BusyBox wget crashes in scratch images; nc does not).
		server := "serve-" + workers[0].Name
		spec := workload.PodSpec{Namespace: ns, Name: server, Node: workers[0].Name, Image: cfg.ProbeImage,
			Command: []string{"/bin/busybox", "nc", "-ll", "-p", "8080", "-e", "/bin/busybox", "cat", "/bin/busybox"}}
		_, err := client.CoreV1().Pods(ns).Create(ctx, workload.NewPod(spec), metav1.CreateOptions{})
		Expect(err).NotTo(HaveOccurred())
		wctx, cancel := context.WithTimeout(ctx, podReadyTimeout)
		pod, err := wait.PodReady(wctx, client, ns, server)
		cancel()
		Expect(err).NotTo(HaveOccurred())
		Expect(pod.Status.PodIP).NotTo(BeEmpty())
		client2 := "probe-" + workers[1].Name
		fetch := fmt.Sprintf("/bin/busybox nc -w 5 %s 8080 > /data/fetched && /bin/busybox sha256sum /data/fetched /bin/busybox", pod.Status.PodIP)
		Eventually(ctx, func(g Gomega) {
			out, _, err := workload.Exec(ctx, rc, client, ns, client2, workload.ContainerName,
				[]string{"/bin/busybox", "sh", "-c", fetch}, nil)
			g.Expect(err).NotTo(HaveOccurred())
			lines := strings.Split(strings.TrimSpace(string(out)), "\n")
			g.Expect(lines).To(HaveLen(2))
			g.Expect(strings.Fields(lines[0])[0]).To(Equal(strings.Fields(lines[1])[0]), "the file fetched across nodes is intact")
		}).WithTimeout(time.Minute).WithPolling(3 * time.Second).Should(Succeed())
	}, NodeTimeout(podReadyTimeout+90*time.Second))
})

// createNamespace makes a namespace labelled as pvreboot's and deletes it at cleanup.
func createNamespace(ctx context.Context, client kubernetes.Interface, prefix string) string {
	GinkgoHelper()
	ns, err := client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
		GenerateName: prefix, Labels: map[string]string{workload.LabelOwned: "true"}}}, metav1.CreateOptions{})
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(func(ctx SpecContext) {
		err := client.CoreV1().Namespaces().Delete(ctx, ns.Name, metav1.DeleteOptions{})
		Expect(err).NotTo(HaveOccurred())
	}, NodeTimeout(time.Minute))
	Expect(wait.ServiceAccount(ctx, client, ns.Name, "default")).To(Succeed())
	return ns.Name
}
