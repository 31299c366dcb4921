//go:build e2e

package e2e

import (
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/pvreboot/pvreboot/framework/runner"
	"github.com/pvreboot/pvreboot/framework/scenario"
	"github.com/pvreboot/pvreboot/framework/wait"
	"github.com/pvreboot/pvreboot/framework/workload"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// spec.reboot.drain: the node is cordoned, another tenant's pod (a
// ReplicaSet's, pinned to the node) is evicted before the reboot and comes
// back once the node is uncordoned, while the workload pod stays the same pod.
var _ = Describe("reboot with drain", Ordered, Serial, Label("kind", "disruptive", "reboot", "drain"), func() {
	It("cordons and drains the node, reboots it and uncordons it", func(ctx SpecContext) {
		cfg, s, _, setup := shippedScenario("sendfile-after-reboot.yaml")
		s.Spec.Reboot.Drain = true
		s.Spec.Phases = []string{scenario.PhaseBaseline, scenario.PhaseAfterReboot}
		s.Spec.Budgets = s.Spec.Budgets[:2]
		rc, _, err := runner.Kind(ctx, s, setup)
		Expect(err).NotTo(HaveOccurred())
		node := s.Spec.Cluster.Nodes.Names[0]

		By("running another tenant's ReplicaSet pod on the node")
		ns := createNamespace(ctx, rc.Client, "pvreboot-e2e-tenant-")
		labels := map[string]string{"app": "tenant"}
		pod := workload.NewPod(workload.PodSpec{Image: cfg.ProbeImage})
		pod.Spec.NodeSelector = map[string]string{"kubernetes.io/hostname": node}
		pod.Spec.Volumes, pod.Spec.Containers[0].VolumeMounts = nil, nil
		pod.Labels = labels // not pvreboot's own pod: no owned label
		_, err = rc.Client.AppsV1().ReplicaSets(ns).Create(ctx, &appsv1.ReplicaSet{
			ObjectMeta: metav1.ObjectMeta{Name: "tenant"},
			Spec: appsv1.ReplicaSetSpec{Replicas: ptr.To[int32](1), Selector: &metav1.LabelSelector{MatchLabels: labels},
				Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: pod.Spec}},
		}, metav1.CreateOptions{})
		Expect(err).NotTo(HaveOccurred())
		tenant := func(g Gomega) corev1.Pod {
			pods, err := rc.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=tenant"})
			g.Expect(err).NotTo(HaveOccurred())
			var ready []corev1.Pod
			for _, p := range pods.Items {
				if p.DeletionTimestamp == nil && p.Spec.NodeName == node && wait.IsPodReady(&p) {
					ready = append(ready, p)
				}
			}
			g.Expect(ready).To(HaveLen(1))
			return ready[0]
		}
		var before corev1.Pod
		Eventually(func(g Gomega) { before = tenant(g) }).WithTimeout(podReadyTimeout).WithPolling(time.Second).Should(Succeed())

		run, err := runner.New(rc)
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(func(ctx SpecContext) { _ = run.Cleanup(ctx) }, NodeTimeout(cleanupTimeout))
		Expect(run.Prepare(ctx)).To(Succeed())
		Expect(run.Baseline(ctx)).To(Succeed())

		By("rebooting with drain")
		Expect(run.Reboot(ctx)).To(Succeed())
		rb := run.Result.Reboots[0]
		notes := strings.Join(rb.Notes, "\n")
		Expect(notes).To(ContainSubstring("cordoned before the reboot"))
		Expect(notes).To(ContainSubstring("drained: evicted " + ns + "/" + before.Name))
		Expect(notes).To(ContainSubstring("uncordoned once the node and the pod were back"))
		Expect(rb.SamePod).To(BeTrue(), "the workload pod is the test's own: never evicted")
		n, err := rc.Client.CoreV1().Nodes().Get(ctx, node, metav1.GetOptions{})
		Expect(err).NotTo(HaveOccurred())
		Expect(n.Spec.Unschedulable).To(BeFalse(), "the node is uncordoned after the reboot")

		By("the tenant's pod coming back on the uncordoned node as a new pod")
		Eventually(func(g Gomega) {
			g.Expect(tenant(g).UID).NotTo(Equal(before.UID))
		}).WithTimeout(podReadyTimeout).WithPolling(time.Second).Should(Succeed())

		Expect(run.AfterReboot(ctx)).To(Succeed())
		run.Finish()
		Expect(run.Result.Verdict.Pass).To(BeTrue(), "failures: %+v", run.Result.Verdict.Failures())
		Expect(run.Cleanup(ctx)).To(Succeed())
		expectNothingLeft(ctx, rc, run.ID())
	}, NodeTimeout(setupTimeout+stepTimeout))
})
