package wait

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
)

func node(ready corev1.ConditionStatus, heartbeat time.Time, bootID string) *corev1.Node {
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: "n1"},
		Status: corev1.NodeStatus{
			Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: ready, LastHeartbeatTime: metav1.NewTime(heartbeat)}},
			NodeInfo:   corev1.NodeSystemInfo{BootID: bootID},
			Addresses:  []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "10.0.0.1"}},
		},
	}
}

// script updates the node after the waiter has started.
func script(t *testing.T, c *fake.Clientset, steps ...*corev1.Node) {
	t.Helper()
	go func() {
		for _, n := range steps {
			time.Sleep(50 * time.Millisecond)
			if _, err := c.CoreV1().Nodes().UpdateStatus(context.Background(), n, metav1.UpdateOptions{}); err != nil {
				t.Errorf("update: %v", err)
			}
		}
	}()
}

func TestNodeRebootedKind(t *testing.T) {
	t.Parallel()
	since := time.Now().Add(-time.Second)
	old := since.Add(-time.Minute)
	c := fake.NewClientset(node(corev1.ConditionTrue, old, "boot-1"))
	// Stale heartbeat first (Ready but old), then a fresh one: same bootID is fine on kind.
	script(t, c, node(corev1.ConditionTrue, old, "boot-1"), node(corev1.ConditionTrue, since.Add(2*time.Second), "boot-1"))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	tl, err := NodeRebooted(ctx, c, "n1", since, "boot-1", false)
	if err != nil {
		t.Fatal(err)
	}
	if tl.Ready == nil || tl.KubeletBack == nil || tl.NotReadySeen != nil || tl.BootID != "boot-1" || tl.InternalIP != "10.0.0.1" {
		t.Errorf("timeline = %+v", tl)
	}
}

func TestNodeRebootedRealNodeNeedsNewBootID(t *testing.T) {
	t.Parallel()
	since := time.Now().Add(-time.Second)
	c := fake.NewClientset(node(corev1.ConditionTrue, since.Add(-time.Minute), "boot-1"))
	script(t, c,
		node(corev1.ConditionUnknown, since.Add(-time.Minute), "boot-1"), // NodeStatusUnknown
		node(corev1.ConditionTrue, since.Add(time.Second), "boot-1"),     // fresh heartbeat, same kernel: not yet
		node(corev1.ConditionTrue, since.Add(3*time.Second), "boot-2"),   // rebooted
	)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	tl, err := NodeRebooted(ctx, c, "n1", since, "boot-1", true)
	if err != nil {
		t.Fatal(err)
	}
	if tl.NotReadySeen == nil || tl.BootID != "boot-2" || tl.Ready == nil {
		t.Errorf("timeline = %+v", tl)
	}
}

func TestNodeRebootedTimeoutSaysWhatItSaw(t *testing.T) {
	t.Parallel()
	since := time.Now()
	c := fake.NewClientset(node(corev1.ConditionTrue, since.Add(-time.Hour), "boot-1"))
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, err := NodeRebooted(ctx, c, "n1", since, "boot-1", true)
	if err == nil {
		t.Fatal("no error for a node that never came back")
	}
	for _, want := range []string{"node n1", "want Ready with a heartbeat after", "bootID other than boot-1", "last Ready=True"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
}

func TestPodBackTellsRestartFromRecreate(t *testing.T) {
	t.Parallel()
	pod := func(uid string, restarts int32, ready bool) *corev1.Pod {
		st := corev1.ConditionFalse
		if ready {
			st = corev1.ConditionTrue
		}
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "w", Namespace: "ns", UID: types.UID("u-" + uid)},
			Status: corev1.PodStatus{Phase: corev1.PodRunning, Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: st}},
				ContainerStatuses: []corev1.ContainerStatus{{Name: "probe", RestartCount: restarts, ContainerID: "containerd://" + uid + string(rune('0'+restarts))}}}}
	}
	c := fake.NewClientset(pod("1", 0, true))
	go func() {
		time.Sleep(50 * time.Millisecond)
		_, _ = c.CoreV1().Pods("ns").UpdateStatus(context.Background(), pod("1", 0, false), metav1.UpdateOptions{})
		time.Sleep(50 * time.Millisecond)
		_, _ = c.CoreV1().Pods("ns").UpdateStatus(context.Background(), pod("1", 1, true), metav1.UpdateOptions{})
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	back, err := PodBack(ctx, c, "ns", "w", "u-1", 0, "containerd://10")
	if err != nil || !back.SamePod || back.Restarts != 1 {
		t.Fatalf("PodBack = %+v, %v", back, err)
	}
	c2 := fake.NewClientset(pod("2", 0, true))
	back, err = PodBack(ctx, c2, "ns", "w", "u-1", 0, "containerd://10")
	if err != nil || back.SamePod {
		t.Fatalf("recreated pod: %+v, %v", back, err)
	}
}

func TestServiceAccountWaitsForTheControllerManager(t *testing.T) {
	t.Parallel()
	c := fake.NewClientset(&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "other", Namespace: "ns1"}})
	go func() {
		time.Sleep(100 * time.Millisecond)
		if _, err := c.CoreV1().ServiceAccounts("ns1").Create(context.Background(),
			&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default", Namespace: "ns1"}}, metav1.CreateOptions{}); err != nil {
			t.Errorf("create: %v", err)
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := ServiceAccount(ctx, c, "ns1", "default"); err != nil {
		t.Fatal(err)
	}

	ctx, cancel = context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	err := ServiceAccount(ctx, c, "ns2", "default")
	if err == nil || !strings.Contains(err.Error(), "namespace ns2: want ServiceAccount default") {
		t.Errorf("missing ServiceAccount: err = %v", err)
	}
}
