package drain

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/utils/ptr"
)

func pod(name, ownerKind string, mods ...func(*corev1.Pod)) *corev1.Pod {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", UID: types.UID("uid-" + name)},
		Spec: corev1.PodSpec{NodeName: "n1"}, Status: corev1.PodStatus{Phase: corev1.PodRunning}}
	if ownerKind != "" {
		p.OwnerReferences = []metav1.OwnerReference{{Kind: ownerKind, Name: "o", Controller: ptr.To(true)}}
	}
	for _, m := range mods {
		m(p)
	}
	return p
}

func TestPlanDecidesLikeKubectlDrain(t *testing.T) {
	t.Parallel()
	pods := []corev1.Pod{
		*pod("web-1", "ReplicaSet"),
		*pod("proxy-1", "DaemonSet"),
		*pod("etcd-1", "Node", func(p *corev1.Pod) { p.Annotations = map[string]string{corev1.MirrorPodAnnotationKey: "x"} }),
		*pod("bare-1", ""),
		*pod("job-1", "Job", func(p *corev1.Pod) { p.Status.Phase = corev1.PodSucceeded }),
		*pod("workload-1", "", func(p *corev1.Pod) { p.Labels = map[string]string{"mine": "1"} }),
	}
	var got []string
	for _, d := range Plan(pods, func(p *corev1.Pod) bool { return p.Labels["mine"] == "1" }) {
		got = append(got, d.Pod+"="+map[bool]string{true: "evict", false: d.Reason}[d.Evict])
	}
	want := "ns/bare-1=no controller would recreate it ns/etcd-1=static pod ns/job-1=finished ns/proxy-1=DaemonSet pod ns/web-1=evict ns/workload-1=the test's own pod"
	if strings.Join(got, " ") != want {
		t.Errorf("plan\n got %s\nwant %s", strings.Join(got, " "), want)
	}
}

// The fake API server evicts by deleting the pod, after refusing web-2 once
// the way a PodDisruptionBudget does (429).
func TestDrainEvictsRetriesAndWaits(t *testing.T) {
	t.Parallel()
	c := fake.NewClientset(pod("web-1", "ReplicaSet"), pod("web-2", "ReplicaSet"), pod("proxy-1", "DaemonSet"), &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1"}})
	refused := false
	c.PrependReactor("create", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
		if a.GetSubresource() != "eviction" {
			return false, nil, nil
		}
		ev := a.(k8stesting.CreateAction).GetObject().(*policyv1.Eviction)
		if ev.Name == "web-2" && !refused {
			refused = true
			return true, nil, apierrors.NewTooManyRequests("Cannot evict pod as it would violate the pod's disruption budget.", 0)
		}
		return true, nil, c.Tracker().Delete(schema.GroupVersionResource{Version: "v1", Resource: "pods"}, ev.Namespace, ev.Name)
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	already, err := Cordon(ctx, c, "n1")
	if err != nil || already {
		t.Fatalf("cordon: already %v, %v", already, err)
	}
	evicted, err := Drain(ctx, c, "n1", nil)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(evicted, " ") != "ns/web-1 ns/web-2" || !refused {
		t.Errorf("evicted %v (PDB refusal seen: %v)", evicted, refused)
	}
	left, _ := c.CoreV1().Pods("ns").List(ctx, metav1.ListOptions{})
	if len(left.Items) != 1 || left.Items[0].Name != "proxy-1" {
		t.Errorf("pods left: %v", left.Items)
	}
	if already, _ := Cordon(ctx, c, "n1"); !already {
		t.Error("second cordon does not see the first")
	}
	if err := Uncordon(ctx, c, "n1"); err != nil {
		t.Fatal(err)
	}
	if n, _ := c.CoreV1().Nodes().Get(ctx, "n1", metav1.GetOptions{}); n.Spec.Unschedulable {
		t.Error("still unschedulable after Uncordon")
	}
}
