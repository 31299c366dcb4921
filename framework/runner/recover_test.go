package runner

import (
	"context"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pvreboot/pvreboot/framework/ledger"
	"github.com/pvreboot/pvreboot/framework/localpv"
	"github.com/pvreboot/pvreboot/framework/reboot"
	"github.com/pvreboot/pvreboot/framework/report"
	"github.com/pvreboot/pvreboot/framework/scenario"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"
)

// heartbeat posts node n1's Ready status with a heartbeat at t, as its
// kubelet does.
func heartbeat(t *testing.T, c kubernetes.Interface, ready corev1.ConditionStatus, at time.Time) {
	t.Helper()
	ctx := context.Background()
	n, err := c.CoreV1().Nodes().Get(ctx, "n1", metav1.GetOptions{})
	if err != nil {
		t.Error(err)
		return
	}
	n.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: ready, LastHeartbeatTime: metav1.NewTime(at)}}
	if _, err := c.CoreV1().Nodes().UpdateStatus(ctx, n, metav1.UpdateOptions{}); err != nil {
		t.Error(err)
	}
}

// nodeBox is node n1's container as a reboot.Recoverer sees it: down or
// up. Starting it posts a fresh heartbeat, as the kubelet does once the
// container runs. It records what it was asked.
type nodeBox struct {
	t      *testing.T
	c      kubernetes.Interface
	mu     sync.Mutex
	down   bool
	starts int
	// onStart, when set, is called as the container starts (before the
	// heartbeat).
	onStart func()
	journal map[string]string
}

var _ reboot.Recoverer = (*nodeBox)(nil)

func (b *nodeBox) Recovers(method string) bool { return method == "kind-restart" }

func (b *nodeBox) Journal(context.Context, string) (map[string]string, error) {
	return map[string]string{"networks": `[{"network":"kind","ip":"172.30.0.7"}]`}, nil
}

func (b *nodeBox) Recover(_ context.Context, node string, journal map[string]string, dry bool) (string, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if node != "n1" {
		return "", errors.New("no such node container " + node)
	}
	b.journal = journal
	if !b.down {
		return "", nil
	}
	if dry {
		return "would start its stopped container", nil
	}
	b.down = false
	b.starts++
	if b.onStart != nil {
		b.onStart()
	}
	heartbeat(b.t, b.c, corev1.ConditionTrue, time.Now().Add(time.Second))
	return "started its stopped container again", nil
}

// runDiedInReboot is a cluster with node n1, down (its last heartbeat an
// hour ago), and the ledger of run dddd that died rebooting it: its
// namespace and the reboot item, its heartbeat stopped lease ago.
func runDiedInReboot(t *testing.T, lease time.Duration) (*fake.Clientset, ledger.Item) {
	t.Helper()
	ctx := context.Background()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "pvreboot-dddd", Labels: map[string]string{localpv.LabelOwned: "true", localpv.LabelRun: "dddd"}}}
	c := fake.NewClientset(ns, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1"}})
	heartbeat(t, c, corev1.ConditionTrue, time.Now().Add(-time.Hour))
	l, err := ledger.Open(ctx, ledger.Options{Client: c, Run: "dddd", Cluster: "lab", Scenario: "s", Holder: "test:1", LeaseDuration: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	rb := ledger.Item{Kind: ledger.KindReboot, Name: "n1", Node: "n1", Detail: map[string]string{ledger.DetailMethod: "kind-restart", "networks": `[{"network":"kind","ip":"172.30.0.7"}]`}}
	if err := l.Add(ctx, ledger.Item{Kind: ledger.KindNamespace, Name: ns.Name}, rb); err != nil {
		t.Fatal(err)
	}
	if lease > 0 {
		setRenewed(t, c, "dddd", time.Now().Add(-lease))
	}
	return c, rb
}

// setRenewed sets run's heartbeat; safe from any goroutine (t.Error).
func setRenewed(t *testing.T, c kubernetes.Interface, run string, at time.Time) {
	t.Helper()
	ctx := context.Background()
	lease, err := c.CoordinationV1().Leases(ledger.Namespace).Get(ctx, ledger.LeaseName(run), metav1.GetOptions{})
	if err != nil {
		t.Error(err)
		return
	}
	lease.Spec.RenewTime = &metav1.MicroTime{Time: at}
	if _, err := c.CoordinationV1().Leases(ledger.Namespace).Update(ctx, lease, metav1.UpdateOptions{}); err != nil {
		t.Error(err)
	}
}

// liveRebootOf opens live run run's ledger, rebooting n1, its lease
// long.
func liveRebootOf(t *testing.T, c kubernetes.Interface, run string, lease time.Duration) *ledger.Ledger {
	t.Helper()
	l, err := ledger.Open(context.Background(), ledger.Options{Client: c, Run: run, Cluster: "lab", Scenario: "s", Holder: "test:2", LeaseDuration: lease})
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Add(context.Background(), ledger.Item{Kind: ledger.KindReboot, Name: "n1", Node: "n1", Detail: map[string]string{ledger.DetailMethod: "kind-restart"}}); err != nil {
		t.Fatal(err)
	}
	return l
}

func sweptText(swept []Swept) string {
	var got []string
	for _, s := range swept {
		got = append(got, s.String())
	}
	return strings.Join(got, "\n")
}

// A run killed during its reboot left its node's container stopped: the
// sweep starts it with the journal the run kept, before the run's
// namespace goes (its pods can only go once the node is back), waits for a
// heartbeat after the start, and forgets the reboot. Dry, it only says so;
// without a way to start it, it says the node is not back and keeps the
// item.
func TestSweepBringsBackANodeADeadRunLeftDown(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	t.Run("dry", func(t *testing.T) {
		t.Parallel()
		c, _ := runDiedInReboot(t, time.Minute)
		box := &nodeBox{t: t, c: c, down: true}
		swept, err := Sweep(ctx, SweepOptions{Client: c, Recover: box, DryRun: true})
		if err != nil {
			t.Fatal(err)
		}
		if text := sweptText(swept); !strings.Contains(text, "node n1: would start its stopped container: run dddd died during its kind-restart reboot") {
			t.Errorf("a dry sweep does not say it would start the node:\n%s", text)
		}
		if box.starts != 0 {
			t.Error("a dry sweep started the node")
		}
	})
	t.Run("started", func(t *testing.T) {
		t.Parallel()
		c, rb := runDiedInReboot(t, time.Minute)
		box := &nodeBox{t: t, c: c, down: true}
		nsAtStart := false
		box.onStart = func() {
			_, err := c.CoreV1().Namespaces().Get(ctx, "pvreboot-dddd", metav1.GetOptions{})
			nsAtStart = err == nil
		}
		swept, err := Sweep(ctx, SweepOptions{Client: c, Recover: box})
		if err != nil {
			t.Fatal(err)
		}
		text := sweptText(swept)
		for _, want := range []string{"node n1: started its stopped container again: run dddd died during its kind-restart reboot", "ledger run-dddd: run dddd has nothing left"} {
			if !strings.Contains(text, want) {
				t.Errorf("swept lacks %q:\n%s", want, text)
			}
		}
		if box.starts != 1 || !nsAtStart {
			t.Errorf("node started %d times, the run's namespace there at the start: %v; want once, before the namespace went", box.starts, nsAtStart)
		}
		if box.journal["networks"] != rb.Detail["networks"] {
			t.Errorf("Recover got journal %v, want the run's %v", box.journal, rb.Detail)
		}
	})
	t.Run("no way to start it", func(t *testing.T) {
		t.Parallel()
		c, _ := runDiedInReboot(t, time.Minute)
		heartbeat(t, c, corev1.ConditionUnknown, time.Now().Add(-time.Hour))
		_, err := Sweep(ctx, SweepOptions{Client: c})
		if err == nil || !strings.Contains(err.Error(), "run dddd died during its kind-restart reboot of node n1: node n1 is not Ready") {
			t.Fatalf("err = %v, want it to say the node is not back", err)
		}
		rec, err := ledger.Load(ctx, c, "", "dddd")
		if err != nil {
			t.Fatal(err)
		}
		if items := rec.Items(); len(items) != 1 || items[0].Kind != ledger.KindReboot {
			t.Errorf("ledger holds %v, want the reboot only (the namespace went)", items)
		}
	})
}

// Before a kind cluster is judged, BringBackNodes starts a node whose run
// died during its reboot, waiting for the lease of a run killed a moment
// ago to expire first; a live run that brings its node back itself is left
// to it.
func TestBringBackNodes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	t.Run("killed a moment ago", func(t *testing.T) {
		t.Parallel()
		c, _ := runDiedInReboot(t, 0) // renewed now, a 1 s lease
		box := &nodeBox{t: t, c: c, down: true}
		t0 := time.Now()
		said, err := BringBackNodes(ctx, c, box)
		if err != nil {
			t.Fatal(err)
		}
		if len(said) != 1 || !strings.Contains(said[0], "node n1: started its stopped container again (run dddd died during its kind-restart reboot)") {
			t.Errorf("said %q", said)
		}
		if box.starts != 1 || time.Since(t0) < time.Second {
			t.Errorf("started %d times after %s, want once after the lease expired", box.starts, time.Since(t0))
		}
	})
	t.Run("a live run brings it back", func(t *testing.T) {
		t.Parallel()
		c, _ := runDiedInReboot(t, 0)
		setRenewed(t, c, "dddd", time.Now().Add(time.Hour)) // live throughout
		box := &nodeBox{t: t, c: c, down: true}
		time.AfterFunc(time.Second, func() { // the run's own start of the node
			box.mu.Lock()
			box.down = false
			box.mu.Unlock()
		})
		said, err := BringBackNodes(ctx, c, box)
		if err != nil || len(said) != 0 || box.starts != 0 {
			t.Errorf("said %q, err %v, %d starts: want the live run's node left to it", said, err, box.starts)
		}
	})
	t.Run("a live run keeps it down too long", func(t *testing.T) {
		t.Parallel()
		c, _ := runDiedInReboot(t, 0)
		setRenewed(t, c, "dddd", time.Now().Add(time.Hour))
		box := &nodeBox{t: t, c: c, down: true}
		bctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		defer cancel()
		_, err := BringBackNodes(bctx, c, box)
		if !errors.Is(err, ErrRebootInProgress) || box.starts != 0 {
			t.Errorf("err %v, %d starts: want ErrRebootInProgress (the cluster is in use) and the node left down", err, box.starts)
		}
	})
	t.Run("a dead run's old record of a node a live run is rebooting", func(t *testing.T) {
		t.Parallel()
		c, _ := runDiedInReboot(t, time.Hour) // dead an hour, its item stale
		box := &nodeBox{t: t, c: c, down: true}
		liveRebootOf(t, c, "eeee", time.Hour)
		bctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		defer cancel()
		_, err := BringBackNodes(bctx, c, box)
		if box.starts != 0 {
			t.Errorf("started the node a live run has down (err %v)", err)
		}
	})
}

// A dead run's record of a reboot does not bring back a node that a live
// run has down now: the sweep says so and keeps the record.
func TestSweepLeavesANodeALiveRunIsRebooting(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c, _ := runDiedInReboot(t, time.Hour)
	box := &nodeBox{t: t, c: c, down: true}
	liveRebootOf(t, c, "eeee", time.Hour)
	swept, err := Sweep(ctx, SweepOptions{Client: c, Recover: box})
	if err != nil {
		t.Fatal(err)
	}
	if box.starts != 0 {
		t.Error("the sweep started a node a live run has down")
	}
	if text := sweptText(swept); !strings.Contains(text, "run dddd still holds it (live run eeee is rebooting the node)") {
		t.Errorf("the sweep does not say why it left the node:\n%s", text)
	}
}

// A run whose reboot failed with the node down brings it back in its own
// cleanup, before its volumes' node side (which needs the node).
func TestCleanupBringsBackTheRunsNode(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := fake.NewClientset(&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1"}})
	heartbeat(t, c, corev1.ConditionUnknown, time.Now().Add(-time.Hour))
	box := &nodeBox{t: t, c: c, down: true}
	l := liveRebootOf(t, c, "1a2b", time.Minute)
	r := &Run{cfg: Config{Client: c, Rebooter: &rebootRecorder{nodeBox: box, l: l}, Nodes: &nodeScript{}, Progress: io.Discard}, id: "1a2b", start: time.Now(), node: "n1", ledger: l}
	var left []string
	r.bringBackOwnNode(ctx, func(item string, err error) { left = append(left, item+": "+err.Error()) })
	if box.starts != 1 || len(left) != 0 {
		t.Errorf("%d starts, left %q: want the node started once", box.starts, left)
	}
	if items := l.Items(); len(items) != 0 {
		t.Errorf("ledger holds %v once the node is back", items)
	}
	if !r.nodeReady(ctx) {
		t.Error("the node is not Ready after its start")
	}
}

// rebootRecorder is a kind-restart rebooter of n1 that checks the run's
// ledger names the reboot, with its journal, while the node is down.
type rebootRecorder struct {
	*nodeBox
	l      *ledger.Ledger
	during []ledger.Item
}

func (r *rebootRecorder) Method() string { return "kind-restart" }

func (r *rebootRecorder) Reboot(_ context.Context, node string) (reboot.Event, error) {
	r.during = r.l.Items()
	now := time.Now()
	heartbeat(r.t, r.c, corev1.ConditionTrue, now.Add(time.Second))
	return reboot.Event{Node: node, Method: r.Method(), Issued: now, Returned: now}, nil
}

// A run records its reboot in its ledger before issuing it, with what the
// rebooter needs to bring the node back, and forgets it once the node is.
func TestRebootIsInTheLedgerWhileTheNodeIsDown(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "w", Namespace: "pvreboot-1a2b", UID: "u1"},
		Status: corev1.PodStatus{Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}},
			ContainerStatuses: []corev1.ContainerStatus{{Name: "w", RestartCount: 0, ContainerID: "containerd://a", Ready: true}}}}
	c := fake.NewClientset(&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1"}, Spec: corev1.NodeSpec{ProviderID: "kind://docker/lab/n1"}}, pod)
	heartbeat(t, c, corev1.ConditionTrue, time.Now().Add(-time.Minute))
	l, err := ledger.Open(ctx, ledger.Options{Client: c, Run: "1a2b", Cluster: "lab", Scenario: "s", Holder: "test:1"})
	if err != nil {
		t.Fatal(err)
	}
	rb := &rebootRecorder{nodeBox: &nodeBox{t: t, c: c}, l: l}
	s := &scenario.Scenario{}
	s.Spec.Reboot.Timeout.Duration = 20 * time.Second
	r := &Run{cfg: Config{Client: c, Rebooter: rb, Scenario: s, Progress: io.Discard}, id: "1a2b", start: time.Now(), node: "n1", ns: pod.Namespace,
		pod: pod, ledger: l, prov: localpv.New(c, nil, nil), Result: &report.Result{}}
	// The pod comes back restarted in place, as after a kind restart.
	go func() {
		time.Sleep(200 * time.Millisecond)
		p := pod.DeepCopy()
		p.Status.ContainerStatuses[0].RestartCount, p.Status.ContainerStatuses[0].ContainerID = 1, "containerd://b"
		if _, err := c.CoreV1().Pods(p.Namespace).UpdateStatus(ctx, p, metav1.UpdateOptions{}); err != nil {
			t.Error(err)
		}
	}()
	if err := r.rebootOnce(ctx); err != nil {
		t.Fatal(err)
	}
	want := ledger.Item{Kind: ledger.KindReboot, Name: "n1", Node: "n1", Detail: map[string]string{ledger.DetailMethod: "kind-restart", "networks": `[{"network":"kind","ip":"172.30.0.7"}]`}}
	if len(rb.during) != 1 || rb.during[0].String() != want.String() {
		t.Errorf("ledger during the reboot: %v, want %v", rb.during, want)
	}
	if items := l.Items(); len(items) != 0 {
		t.Errorf("ledger after the node is back: %v, want nothing", items)
	}
}

// The probe image is loaded only into a kind node (providerID kind://), of
// the cluster its providerID names; any other node pulls it.
func TestLoadProbeOnKindNode(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := fake.NewClientset(
		&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "gke-1"}, Spec: corev1.NodeSpec{ProviderID: "gce://proj/zone/gke-1"}},
		&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "lab-worker"}, Spec: corev1.NodeSpec{ProviderID: "kind://docker/pvreboot-no-such-cluster/lab-worker"}})
	if cluster, err := LoadProbeOnKindNode(ctx, c, "gke-1", "pvreboot/copyprobe:x", nil, io.Discard); cluster != "" || err != nil {
		t.Errorf("a GCE node: cluster %q, err %v; want neither", cluster, err)
	}
	_, err := LoadProbeOnKindNode(ctx, c, "lab-worker", "pvreboot/copyprobe:x", nil, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "node lab-worker is a kind node of cluster pvreboot-no-such-cluster") {
		t.Errorf("a kind node of a cluster not on this engine: err %v", err)
	}
}
