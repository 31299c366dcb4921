package fault

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/pvreboot/pvreboot/framework/scenario"
)

var (
	containerIDRE = regexp.MustCompile(`^[0-9a-f]{12,64}$`)
	majMinRE      = regexp.MustCompile(`^[0-9]{1,9}:[0-9]{1,9}$`)
)

// runtimeID strips the runtime scheme ("containerd://") and checks what
// is left is a runtime's container ID.
func runtimeID(typ, id string) (string, error) {
	cid := id
	if i := strings.Index(cid, "://"); i >= 0 {
		cid = cid[i+3:]
	}
	if !containerIDRE.MatchString(cid) {
		return "", invalid(typ, "container ID %q: want 12-64 hex digits", id)
	}
	return cid, nil
}

// IOThrottleScript is the script IOThrottle runs (for tests).
func IOThrottleScript() string { return script(scriptIOThrottle) }

// IOThrottle limits a container's reads from a block device (major:minor)
// to bps bytes per second through its cgroup (v1 blkio or v2 io.max) on the
// node, and returns the cgroup file it wrote. containerID is the runtime's
// ID, with or without its "containerd://" scheme.
func IOThrottle(ctx context.Context, nodes NodeRunner, node, containerID, device string, bps int64) (string, error) {
	cid, err := runtimeID(scenario.FaultIOThrottle, containerID)
	if err != nil {
		return "", err
	}
	if !majMinRE.MatchString(device) {
		return "", invalid(scenario.FaultIOThrottle, "device %q: want major:minor", device)
	}
	if bps <= 0 {
		return "", invalid(scenario.FaultIOThrottle, "%d bytes/s: want > 0", bps)
	}
	out, err := nodes.NodeExec(ctx, node, nil, scriptArgv(scriptIOThrottle, cid, device, strconv.FormatInt(bps, 10))...)
	if err != nil {
		return "", fmt.Errorf("fault io-throttle on node %s: %w", node, err)
	}
	return strings.TrimSpace(string(out)), nil
}

// ioThrottle: after the pod is back, its container's reads from the first
// volume's device are limited to bps bytes per second. Per pod: the
// recreated pod's container has a new cgroup without the limit.
type ioThrottle struct {
	noHooks
	bps int64
}

func (f ioThrottle) AfterPodBack(ctx context.Context, t Target) error {
	if len(t.Volumes) == 0 {
		return invalid(scenario.FaultIOThrottle, "the run has no volume")
	}
	// Checked before the device is asked for: nothing runs with a bad ID.
	if _, err := runtimeID(scenario.FaultIOThrottle, t.ContainerID); err != nil {
		return err
	}
	dev, err := t.Devices.Device(ctx, t.Volumes[0])
	if err != nil {
		return fmt.Errorf("fault io-throttle: %w", err)
	}
	file, err := IOThrottle(ctx, t.Nodes, t.Node, t.ContainerID, dev, f.bps)
	if err != nil {
		return err
	}
	t.note("fault io-throttle: the restarted container's reads from device %s limited to %.3g MiB/s (%s)", dev, float64(f.bps)/(1<<20), file)
	return nil
}
