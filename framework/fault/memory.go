package fault

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/pvreboot/pvreboot/framework/scenario"
)

func checkMemoryLimit(n int64) error {
	if n < scenario.MinFaultMemoryBytes || n > scenario.MaxFaultMemoryBytes {
		return invalid(scenario.FaultMemorySqueeze, "memory limit of %d bytes: want %d to %d", n, scenario.MinFaultMemoryBytes, int64(scenario.MaxFaultMemoryBytes))
	}
	return nil
}

// MemorySqueeze puts a memory limit of bytes on a container's cgroup on the
// node (v2 memory.max; v1 memory.limit_in_bytes, lowered in steps with the
// cgroup's pages reclaimed when the kernel refuses one) and returns the
// cgroup file and the limit it holds. containerID is the runtime's ID, with
// or without its "containerd://" scheme.
func MemorySqueeze(ctx context.Context, nodes NodeRunner, node, containerID string, bytes int64) (file, limit string, err error) {
	cid, err := runtimeID(scenario.FaultMemorySqueeze, containerID)
	if err != nil {
		return "", "", err
	}
	if err := checkMemoryLimit(bytes); err != nil {
		return "", "", err
	}
	out, err := nodes.NodeExec(ctx, node, nil, scriptArgv(scriptMemorySqueeze, cid, strconv.FormatInt(bytes, 10))...)
	if err != nil {
		return "", "", fmt.Errorf("fault memory-squeeze on node %s: %w", node, err)
	}
	f := strings.Fields(string(out))
	if len(f) < 2 {
		return "", "", fmt.Errorf("fault memory-squeeze on node %s: unexpected output %q", node, out)
	}
	return f[len(f)-2], f[len(f)-1], nil
}

// memorySqueeze: after the pod is back, its container's cgroup gets a memory
// limit small enough that the copy's page cache must be reclaimed and its
// dirty pages written back while it runs. Per pod: the recreated pod's
// container has a new cgroup without the limit.
type memorySqueeze struct {
	noHooks
	bytes int64
}

func (f memorySqueeze) AfterPodBack(ctx context.Context, t Target) error {
	file, limit, err := MemorySqueeze(ctx, t.Nodes, t.Node, t.ContainerID, f.bytes)
	if err != nil {
		return err
	}
	t.note("fault memory-squeeze: the restarted container's memory limit is %s bytes (%s)", limit, file)
	return nil
}
