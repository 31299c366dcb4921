package runner

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/pvreboot/pvreboot/framework/budget"
	"github.com/pvreboot/pvreboot/framework/reboot"
	"github.com/pvreboot/pvreboot/framework/scenario"
	"github.com/pvreboot/pvreboot/framework/workload"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/utils/ptr"
)

func TestMain(m *testing.M) {
	os.Setenv("KUBE_FEATURE_WatchListClient", "false")
	os.Exit(m.Run())
}

func mustScenario(t *testing.T, y string) *scenario.Scenario {
	t.Helper()
	s, err := scenario.Parse([]byte(y))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestBudgetsConversion(t *testing.T) {
	t.Parallel()
	s := mustScenario(t, `apiVersion: pvreboot.dev/v1alpha1
kind: Scenario
metadata: {name: b}
spec:
  budgets:
  - {phase: after-reboot, metric: p99, max: 120ms}
  - {phase: after-reboot, metric: throughput, min: 200MB/s}
  - {phase: after-reboot, metric: p50, relativeTo: baseline, maxRatio: 2}
  - {phase: after-reboot, statistical: {against: baseline, maxSlowdown: 1.5}}
`)
	b := Budgets(s)
	if len(b) != 4 {
		t.Fatalf("budgets = %+v", b)
	}
	if b[0].Kind != budget.Absolute || b[0].MaxNs != 120e6 || b[1].MinBytesPerSecond != 200e6 {
		t.Errorf("absolute: %+v %+v", b[0], b[1])
	}
	if b[2].Kind != budget.Relative || b[2].RelativeTo != "baseline" || b[2].MaxRatio != 2 {
		t.Errorf("relative: %+v", b[2])
	}
	if b[3].Kind != budget.Statistical || b[3].MaxSlowdown != 1.5 || b[3].Alpha != 0.01 || b[3].RelativeTo != "baseline" {
		t.Errorf("statistical: %+v", b[3])
	}
}

func kindNode(name string, cp bool) *corev1.Node {
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{}},
		Spec:   corev1.NodeSpec{ProviderID: "kind://docker/pvreboot/" + name},
		Status: corev1.NodeStatus{Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}}}}
	if cp {
		n.Labels["node-role.kubernetes.io/control-plane"] = ""
	}
	return n
}

func TestBuildPlan(t *testing.T) {
	t.Parallel()
	c := fake.NewClientset(kindNode("pvreboot-control-plane", true), kindNode("pvreboot-worker", false),
		&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "w", Namespace: "ns"}, Spec: corev1.PodSpec{NodeName: "pvreboot-worker"}})
	ok := mustScenario(t, "apiVersion: pvreboot.dev/v1alpha1\nkind: Scenario\nmetadata: {name: p}\nspec: {}\n")
	p, err := BuildPlan(context.Background(), c, ok, PlanOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Check(); err != nil {
		t.Errorf("kind-restart of a worker refused: %v", err)
	}
	if len(p.ControlPlanes) != 1 || len(p.Nodes) != 1 || !p.Nodes[0].IsKind() {
		t.Errorf("plan = %+v", p)
	}
	if !strings.Contains(p.String(), "pod ns/w restarts") {
		t.Errorf("plan text lacks the affected pod:\n%s", p)
	}
	sysrq := mustScenario(t, `apiVersion: pvreboot.dev/v1alpha1
kind: Scenario
metadata: {name: p}
spec:
  reboot: {method: ssh, ssh: {mode: sysrq-b, knownHosts: /etc/ssh/ssh_known_hosts}}
`)
	p, err = BuildPlan(context.Background(), c, sysrq, PlanOptions{AllowReboot: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Check(); !errors.Is(err, reboot.ErrRefused) || !strings.Contains(err.Error(), "kind node") {
		t.Errorf("sysrq on kind: %v", err)
	}
	cp := mustScenario(t, `apiVersion: pvreboot.dev/v1alpha1
kind: Scenario
metadata: {name: p}
spec:
  cluster: {nodes: {names: [pvreboot-control-plane]}}
  reboot: {allowControlPlane: true}
`)
	p, err = BuildPlan(context.Background(), c, cp, PlanOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Check(); err == nil || !strings.Contains(err.Error(), "last Ready control-plane") {
		t.Errorf("last control plane: %v", err)
	}
	missing := mustScenario(t, "apiVersion: pvreboot.dev/v1alpha1\nkind: Scenario\nmetadata: {name: p}\nspec: {cluster: {nodes: {names: [nope]}}}\n")
	if _, err := BuildPlan(context.Background(), c, missing, PlanOptions{}); err == nil || !strings.Contains(err.Error(), "nope") {
		t.Errorf("missing node: %v", err)
	}
}

// Container nodes that are not kind's (k3d, minikube's docker driver) are
// recognised by the host's boot ID; control planes by every common label;
// rebooting machines needs the person's --allow-reboot.
func TestPlanSafetyRails(t *testing.T) {
	t.Parallel()
	node := func(name string, labels map[string]string, bootID string) *corev1.Node {
		return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels},
			Spec: corev1.NodeSpec{ProviderID: "k3s://" + name},
			Status: corev1.NodeStatus{NodeInfo: corev1.NodeSystemInfo{BootID: bootID},
				Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}}}}
	}
	const host = "0a6e7f3c-1111-4222-8333-944455556666"
	c := fake.NewClientset(
		node("k3d-server-0", map[string]string{"node-role.kubernetes.io/master": "true"}, host),
		node("rke-cp", map[string]string{"node-role.kubernetes.io/controlplane": "true"}, "other-1"),
		node("rke-etcd", map[string]string{"node-role.kubernetes.io/etcd": "true"}, "other-2"),
		node("k3d-agent-0", map[string]string{}, host),
		node("metal-1", map[string]string{}, "other-3"))
	scen := func(nodeName, reboot string) *scenario.Scenario {
		return mustScenario(t, "apiVersion: pvreboot.dev/v1alpha1\nkind: Scenario\nmetadata: {name: p}\nspec:\n  cluster: {existing: {}, nodes: {names: ["+nodeName+"]}}\n  reboot: "+reboot+"\n")
	}
	nodePod := "{method: node-pod}"
	for _, tc := range []struct {
		name, node, reboot string
		allow              bool
		refused            string // "" allowed
	}{
		{"node-pod on a container node sharing the host kernel", "k3d-agent-0", nodePod, true, "reports this host's boot ID"},
		{"sysrq over ssh on it", "k3d-agent-0", "{method: ssh, ssh: {mode: sysrq-b, knownHosts: /k}}", true, "runs on the host's kernel"},
		{"a clean ssh reboot of a real node", "metal-1", "{method: ssh, ssh: {knownHosts: /k}}", true, ""},
		{"the same without --allow-reboot", "metal-1", "{method: ssh, ssh: {knownHosts: /k}}", false, "must pass --allow-reboot"},
		{"a master-labelled node", "k3d-server-0", "{method: command, command: {argv: [virsh, reset, '{{.Name}}']}}", true, "is a control-plane node"},
		{"an RKE controlplane node", "rke-cp", "{method: command, command: {argv: [virsh, reset, '{{.Name}}']}}", true, "is a control-plane node"},
		{"an RKE etcd node", "rke-etcd", "{method: command, command: {argv: [virsh, reset, '{{.Name}}']}}", true, "is a control-plane node"},
	} {
		p, err := BuildPlan(context.Background(), c, scen(tc.node, tc.reboot), PlanOptions{AllowReboot: tc.allow, HostBootID: host})
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		err = p.Check()
		switch {
		case tc.refused == "" && err != nil:
			t.Errorf("%s: refused: %v", tc.name, err)
		case tc.refused != "" && (!errors.Is(err, reboot.ErrRefused) || !strings.Contains(err.Error(), tc.refused)):
			t.Errorf("%s: got %v, want a refusal saying %q", tc.name, err, tc.refused)
		}
	}
	if len(mustPlan(t, c, scen("metal-1", nodePod), host).ControlPlanes) != 3 {
		t.Errorf("control planes: want k3d-server-0, rke-cp, rke-etcd")
	}
}

func mustPlan(t *testing.T, c *fake.Clientset, s *scenario.Scenario, host string) reboot.Plan {
	t.Helper()
	p, err := BuildPlan(context.Background(), c, s, PlanOptions{HostBootID: host})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestNewNeedsEverything(t *testing.T) {
	t.Parallel()
	if _, err := New(Config{}); err == nil {
		t.Error("New accepted an empty config")
	}
}

func TestBuildPlanWithDrain(t *testing.T) {
	t.Parallel()
	ctrl := []metav1.OwnerReference{{Kind: "ReplicaSet", Name: "web", Controller: ptr.To(true)}}
	c := fake.NewClientset(kindNode("pvreboot-control-plane", true), kindNode("pvreboot-worker", false),
		&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "bare", Namespace: "ns"}, Spec: corev1.PodSpec{NodeName: "pvreboot-worker"}},
		&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web-1", Namespace: "ns", OwnerReferences: ctrl}, Spec: corev1.PodSpec{NodeName: "pvreboot-worker"}},
		&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "helper", Namespace: "pvreboot-nodeexec-1", OwnerReferences: ctrl, Labels: map[string]string{workload.LabelOwned: "true"}},
			Spec: corev1.PodSpec{NodeName: "pvreboot-worker"}})
	s := mustScenario(t, "apiVersion: pvreboot.dev/v1alpha1\nkind: Scenario\nmetadata: {name: p}\nspec: {reboot: {drain: true}}\n")
	p, err := BuildPlan(context.Background(), c, s, PlanOptions{})
	if err != nil {
		t.Fatal(err)
	}
	text := p.String()
	for _, want := range []string{"cordoned before the reboot, uncordoned after", "pod ns/web-1 evicted (drain)",
		"pod ns/bare (no controller would recreate it) restarts", "pod pvreboot-nodeexec-1/helper (the test's own pod) restarts", "allowed"} {
		if !strings.Contains(text, want) {
			t.Errorf("plan lacks %q:\n%s", want, text)
		}
	}
}
