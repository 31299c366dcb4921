package fault

import (
	"context"
	_ "embed"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
)

// NodeRunner runs an argv on a node with optional stdin.
type NodeRunner interface {
	NodeExec(ctx context.Context, node string, stdin io.Reader, argv ...string) ([]byte, error)
}

//go:embed scripts/io-throttle.sh
var ioThrottleScript string

// IOThrottleScript is the script IOThrottle runs (for tests).
func IOThrottleScript() string { return ioThrottleScript }

var (
	containerIDRE = regexp.MustCompile(`^[0-9a-f]{12,64}$`)
	majMinRE      = regexp.MustCompile(`^[0-9]{1,9}:[0-9]{1,9}$`)
)

// IOThrottle limits a container's reads from a block device (major:minor)
// to bps bytes per second through its cgroup (v1 blkio or v2 io.max) on the
// node, and returns the cgroup file it wrote. containerID is the runtime's
// ID, with or without its "containerd://" scheme.
func IOThrottle(ctx context.Context, nodes NodeRunner, node, containerID, device string, bps int64) (string, error) {
	cid := containerID
	if i := strings.Index(cid, "://"); i >= 0 {
		cid = cid[i+3:]
	}
	if !containerIDRE.MatchString(cid) {
		return "", fmt.Errorf("fault io-throttle: container ID %q: want 12-64 hex digits", containerID)
	}
	if !majMinRE.MatchString(device) {
		return "", fmt.Errorf("fault io-throttle: device %q: want major:minor", device)
	}
	if bps <= 0 {
		return "", fmt.Errorf("fault io-throttle: %d bytes/s: want > 0", bps)
	}
	out, err := nodes.NodeExec(ctx, node, nil, "sh", "-c", ioThrottleScript, "io-throttle", cid, device, strconv.FormatInt(bps, 10))
	if err != nil {
		return "", fmt.Errorf("fault io-throttle on node %s: %w", node, err)
	}
	return strings.TrimSpace(string(out)), nil
}
