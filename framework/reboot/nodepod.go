package reboot

import (
	"context"
	_ "embed"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// NodeRunner runs a command in a node's host namespaces (nodeexec.PodExec:
// a privileged hostPID pod pinned to the node, nsenter -t 1 -m -u -i -n -p).
type NodeRunner interface {
	NodeExec(ctx context.Context, node string, stdin io.Reader, argv ...string) ([]byte, error)
}

// nodeRebootScript takes the delay and the mode as positional parameters.
//
//go:embed scripts/node-reboot.sh
var nodeRebootScript string

// NodeRebootScript is the script the node-pod method runs (for tests).
func NodeRebootScript() string { return nodeRebootScript }

// NodePod reboots a node from a privileged pod on it, for clusters without
// SSH access. It is kernel-level: the safety checks refuse it on kind nodes.
type NodePod struct {
	Exec NodeRunner
	Mode string // reboot (systemctl reboot) or sysrq-b
	// Delay before the detached command runs, so that the exec returns first.
	Delay time.Duration
}

// Method names the rebooter.
func (NodePod) Method() string { return "node-pod" }

// Command is the argv run in the node's namespaces.
func (n NodePod) Command() ([]string, error) {
	mode := n.Mode
	switch mode {
	case "":
		mode = "reboot"
	case "reboot", "sysrq-b":
	default:
		return nil, fmt.Errorf("node-pod rebooter: unknown mode %q (want reboot or sysrq-b)", n.Mode)
	}
	delay := max(int(n.Delay.Seconds()), 1)
	return []string{"sh", "-c", nodeRebootScript, "node-reboot", strconv.Itoa(delay), mode}, nil
}

// Reboot runs the detached reboot command on the node.
func (n NodePod) Reboot(ctx context.Context, node string) (Event, error) {
	ev := Event{Node: node, Method: n.Method()}
	argv, err := n.Command()
	if err != nil {
		return ev, err
	}
	ev.Issued = time.Now()
	out, err := n.Exec.NodeExec(ctx, node, nil, argv...)
	if err != nil {
		return ev, fmt.Errorf("reboot node %q: %w", node, err)
	}
	ev.Returned = time.Now().Add(max(n.Delay, time.Second))
	ev.Proof = fmt.Sprintf("ran node-reboot %s in the node's namespaces from a privileged pod: %s", strings.Join(argv[4:], " "), strings.TrimSpace(string(out)))
	return ev, nil
}
