package reboot

import (
	"fmt"
	"os"
	"strings"
)

// Target is a node a plan would reboot.
type Target struct {
	Name         string
	ControlPlane bool
	Ready        bool
	ProviderID   string // kind nodes: kind://docker/<cluster>/<node>
	BootID       string // status.nodeInfo.bootID
}

// IsKind reports whether the node is a kind node container.
func (t Target) IsKind() bool { return strings.HasPrefix(t.ProviderID, "kind://") }

// controlPlaneLabels mark control-plane nodes: kubeadm's current and former
// role labels, and RKE's controlplane and etcd roles.
func controlPlaneLabels() []string {
	return []string{"node-role.kubernetes.io/control-plane", "node-role.kubernetes.io/master",
		"node-role.kubernetes.io/controlplane", "node-role.kubernetes.io/etcd"}
}

// IsControlPlane reports whether a node's labels mark it as a control-plane
// (or etcd) node.
func IsControlPlane(labels map[string]string) bool {
	for _, l := range controlPlaneLabels() {
		if v, ok := labels[l]; ok && v != "false" {
			return true
		}
	}
	return false
}

// HostBootID is this host's kernel boot ID: a node reporting the same one
// runs on this host's kernel (kind, k3d, minikube's docker driver).
func HostBootID() (string, error) {
	b, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		return "", fmt.Errorf("read host boot ID: %w", err)
	}
	return strings.TrimSpace(string(b)), nil
}

// Plan is what a run would reboot, shown by --dry-run.
type Plan struct {
	Method string
	// Mode is the method's flavour: reboot, sysrq-b, sysrq-c.
	Mode          string
	Nodes         []Target            // nodes to reboot
	ControlPlanes []Target            // every control-plane node of the cluster
	AffectedPods  map[string][]string // pods that restart with the node
	// Cordon: the node is cordoned before the reboot and uncordoned after;
	// Evicted lists, per node, the pods a drain evicts first.
	Cordon            bool
	Evicted           map[string][]string
	MaxParallel       int
	AllowReboot       bool
	AllowControlPlane bool
	// HostBootID is the test host's kernel boot ID (HostBootID()); a node
	// with the same one shares the host's kernel.
	HostBootID string
	// Commands is, per node, what the method will run (the command
	// rebooter's rendered argv), shown by --dry-run before --allow-reboot.
	Commands map[string][]string
}

// KernelLevel reports whether the method reboots the kernel itself
// (sysrq, or a reboot from a pod in the host's namespaces).
func (p Plan) KernelLevel() bool {
	return p.Method == "node-pod" || strings.HasPrefix(p.Mode, "sysrq")
}

// realNodeMethod reports whether the method reboots machines (not kind containers).
func (p Plan) realNodeMethod() bool {
	switch p.Method {
	case "ssh", "command", "node-pod":
		return true
	}
	return false
}

// Check returns every reason to refuse the plan, wrapped in ErrRefused.
func (p Plan) Check() error {
	var reasons []string
	for _, n := range p.Nodes {
		sharesKernel := n.BootID != "" && n.BootID == p.HostBootID
		switch {
		case n.IsKind() && p.KernelLevel():
			reasons = append(reasons, fmt.Sprintf("node %s is a kind node: it shares the host's kernel, so %s would reboot the host itself", n.Name, p.describe()))
		case sharesKernel && p.KernelLevel():
			reasons = append(reasons, fmt.Sprintf("node %s reports this host's boot ID %s: it runs on the host's kernel (a container node such as k3d or minikube's docker driver), so %s would reboot the host itself", n.Name, n.BootID, p.describe()))
		case sharesKernel && !n.IsKind() && p.realNodeMethod():
			// Not a kind container: it may be this very host (kubeadm, k3s or
			// minikube --driver=none on the test machine).
			reasons = append(reasons, fmt.Sprintf("node %s reports this host's boot ID %s and is not a kind node: it may be this host itself, so %s could reboot the machine pvreboot runs on", n.Name, n.BootID, p.describe()))
		}
		if n.ControlPlane && !p.AllowControlPlane {
			reasons = append(reasons, fmt.Sprintf("node %s is a control-plane node: set spec.reboot.allowControlPlane to reboot it", n.Name))
		}
	}
	if p.realNodeMethod() && !p.AllowReboot {
		reasons = append(reasons, fmt.Sprintf("method %s reboots real machines: the person running pvreboot must pass --allow-reboot (or set PVREBOOT_ALLOW_REBOOT=true) after reviewing the --dry-run plan", p.Method))
	}
	max := p.MaxParallel
	if max <= 0 {
		max = 1
	}
	if len(p.Nodes) > max {
		reasons = append(reasons, fmt.Sprintf("%d nodes at a time is more than the limit of %d", len(p.Nodes), max))
	}
	readyCP := 0
	rebootedReadyCP := 0
	for _, cp := range p.ControlPlanes {
		if !cp.Ready {
			continue
		}
		readyCP++
		for _, n := range p.Nodes {
			if n.Name == cp.Name {
				rebootedReadyCP++
			}
		}
	}
	if rebootedReadyCP > 0 && readyCP-rebootedReadyCP < 1 {
		reasons = append(reasons, "the plan would reboot the last Ready control-plane node")
	}
	if len(reasons) > 0 {
		return fmt.Errorf("%w:\n  %s", ErrRefused, strings.Join(reasons, "\n  "))
	}
	return nil
}

func (p Plan) describe() string {
	if p.Mode != "" && p.Mode != "reboot" {
		return p.Method + " " + p.Mode
	}
	return p.Method
}

// String renders the plan for --dry-run.
func (p Plan) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "reboot plan: method %s", p.describe())
	fmt.Fprintf(&b, ", at most %d node(s) at a time\n", max(p.MaxParallel, 1))
	for _, n := range p.Nodes {
		role := "worker"
		if n.ControlPlane {
			role = "control-plane"
		}
		kind := ""
		if n.IsKind() {
			kind = ", kind node sharing the host kernel"
		}
		fmt.Fprintf(&b, "  node %s (%s%s)\n", n.Name, role, kind)
		if argv, ok := p.Commands[n.Name]; ok {
			fmt.Fprintf(&b, "    runs on this host, without a shell: %q\n", argv)
		}
		if p.Cordon {
			fmt.Fprintf(&b, "    cordoned before the reboot, uncordoned after\n")
		}
		for _, pod := range p.Evicted[n.Name] {
			fmt.Fprintf(&b, "    pod %s evicted (drain)\n", pod)
		}
		pods := p.AffectedPods[n.Name]
		if len(pods) == 0 && len(p.Evicted[n.Name]) == 0 {
			fmt.Fprintf(&b, "    no pods affected\n")
		}
		for _, pod := range pods {
			fmt.Fprintf(&b, "    pod %s restarts\n", pod)
		}
	}
	if err := p.Check(); err != nil {
		fmt.Fprintf(&b, "REFUSED: %v\n", err)
	} else {
		fmt.Fprintln(&b, "allowed")
	}
	return b.String()
}
