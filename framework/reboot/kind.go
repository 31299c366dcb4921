package reboot

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/pvreboot/pvreboot/framework/exec"
)

// ErrRefused is returned when a reboot is refused for safety.
var ErrRefused = errors.New("reboot refused")

// Event is what a rebooter reports of one reboot.
type Event struct {
	Node     string
	Method   string
	Issued   time.Time
	Returned time.Time
	// Proof is the evidence the node really restarted (for kind: the
	// container's StartedAt before and after).
	Proof string
}

// KindContainer reboots kind nodes by restarting their containers, one node
// at a time. Kill=false stops with a grace period (systemd halts cleanly on
// SIGRTMIN+3); Kill=true sends SIGKILL, a power cut.
type KindContainer struct {
	Docker []string
	Kill   bool
	// Grace is how long a clean stop may take before Docker kills.
	Grace time.Duration
	// Down is how long the node stays stopped.
	Down time.Duration
	// SpareLoops, when > 0, is how many free loop devices the host's kernel
	// must have before a node starts again (SpareLoopDevices): set when the
	// Docker engine runs on this host.
	SpareLoops int
	Log        *slog.Logger
}

// Method names the rebooter.
func (k KindContainer) Method() string {
	if k.Kill {
		return "kind-kill"
	}
	return "kind-restart"
}

func (k KindContainer) docker(ctx context.Context, args ...string) (string, error) {
	d := k.Docker
	if len(d) == 0 {
		d = []string{"docker"}
	}
	out, err := exec.Output(ctx, exec.Cmd{Argv: append(slices.Clone(d), args...)})
	return strings.TrimSpace(string(out)), err
}

// endpoint is a node container's attachment to one Docker network.
type endpoint struct {
	IPAMConfig *struct {
		IPv4Address string
		IPv6Address string
	}
	Aliases           []string
	IPAddress         string
	GlobalIPv6Address string
}

// endpoints reads the running node container's networks and addresses.
func (k KindContainer) endpoints(ctx context.Context, node string) (map[string]endpoint, error) {
	out, err := k.docker(ctx, "inspect", "--format", "{{json .NetworkSettings.Networks}}", node)
	if err != nil {
		return nil, err
	}
	var nets map[string]endpoint
	if err := json.Unmarshal([]byte(out), &nets); err != nil {
		return nil, fmt.Errorf("networks of %s: %w", node, err)
	}
	return nets, nil
}

// pinAddresses makes the stopped node container get its addresses back when
// it starts: Docker otherwise gives a starting container the lowest free
// address of the network, which after another cluster's nodes went is not
// its own, and the cluster's pods, routes and certificates name the old one.
// A network where the address cannot be pinned is connected again as it
// was (the caller's check then reports a changed address); the node is
// never left without its network.
func (k KindContainer) pinAddresses(ctx context.Context, node string, nets map[string]endpoint) error {
	for name, ep := range nets {
		if ep.IPAddress == "" || (ep.IPAMConfig != nil && ep.IPAMConfig.IPv4Address == ep.IPAddress) {
			continue
		}
		var aliases []string
		for _, a := range ep.Aliases {
			// Docker adds the short container ID itself.
			if !strings.HasPrefix(a, "-") && !isShortID(a) {
				aliases = append(aliases, "--alias", a)
			}
		}
		if _, err := k.docker(ctx, "network", "disconnect", name, node); err != nil {
			return fmt.Errorf("pin the address of %s on network %s: disconnect: %w", node, name, err)
		}
		pin := []string{"network", "connect", "--ip", ep.IPAddress}
		if ep.GlobalIPv6Address != "" {
			pin = append(pin, "--ip6", ep.GlobalIPv6Address)
		}
		pin = append(append(pin, aliases...), name, node)
		_, err := k.docker(ctx, pin...)
		if err == nil {
			if k.Log != nil {
				k.Log.Info("pinned the node's address for its restart", "node", node, "network", name, "ip", ep.IPAddress)
			}
			continue
		}
		if _, rerr := k.docker(ctx, append(append([]string{"network", "connect"}, aliases...), name, node)...); rerr != nil {
			return fmt.Errorf("pin the address of %s on network %s: %w; connecting it again: %w", node, name, err, rerr)
		}
		if k.Log != nil {
			k.Log.Warn("could not pin the node's address for its restart", "node", node, "network", name, "ip", ep.IPAddress, "err", err)
		}
	}
	return nil
}

// isShortID reports whether s looks like a 12-digit container ID.
func isShortID(s string) bool {
	if len(s) != 12 {
		return false
	}
	for _, c := range s {
		if !strings.ContainsRune("0123456789abcdef", c) {
			return false
		}
	}
	return true
}

// Reboot restarts the node's container and returns when it runs again.
func (k KindContainer) Reboot(ctx context.Context, node string) (Event, error) {
	ev := Event{Node: node, Method: k.Method()}
	before, err := k.docker(ctx, "inspect", "--format", "{{.State.StartedAt}}", node)
	if err != nil {
		return ev, fmt.Errorf("reboot node %q: %w", node, err)
	}
	nets, err := k.endpoints(ctx, node)
	if err != nil {
		return ev, fmt.Errorf("reboot node %q: %w", node, err)
	}
	ev.Issued = time.Now()
	// Stop and start are not cancelled half way: an interrupt must never
	// leave a node down. They are bounded by the grace period instead.
	grace := k.Grace
	if grace == 0 {
		grace = 60 * time.Second
	}
	octx, cancel := context.WithTimeout(context.WithoutCancel(ctx), grace+time.Minute)
	defer cancel()
	if k.Kill {
		if _, err := k.docker(octx, "kill", "--signal", "KILL", node); err != nil {
			return ev, fmt.Errorf("reboot node %q: kill: %w", node, err)
		}
	} else {
		if _, err := k.docker(octx, "stop", "--time", fmt.Sprint(int(grace.Seconds())), node); err != nil {
			return ev, fmt.Errorf("reboot node %q: stop: %w", node, err)
		}
	}
	if k.Down > 0 {
		t := time.NewTimer(k.Down)
		select {
		case <-ctx.Done():
			t.Stop()
			// Never leave a node down: start it even when interrupted.
			_, _ = k.docker(octx, "start", node)
			return ev, fmt.Errorf("reboot node %q: interrupted while down: %w", node, ctx.Err())
		case <-t.C:
		}
	}
	if err := k.pinAddresses(octx, node, nets); err != nil {
		return ev, fmt.Errorf("reboot node %q: %w", node, err)
	}
	if k.SpareLoops > 0 {
		if added, err := SpareLoopDevices(k.SpareLoops); err != nil && k.Log != nil {
			k.Log.Warn("the node's loop mounts may fail at boot", "node", node, "err", err)
		} else if added > 0 && k.Log != nil {
			k.Log.Info("added spare loop devices before the node starts", "node", node, "added", added)
		}
	}
	if _, err := k.docker(octx, "start", node); err != nil {
		return ev, fmt.Errorf("reboot node %q: start: %w", node, err)
	}
	ev.Returned = time.Now()
	after, err := k.docker(octx, "inspect", "--format", "{{.State.StartedAt}}", node)
	if err != nil {
		return ev, fmt.Errorf("reboot node %q: %w", node, err)
	}
	if after == before {
		return ev, fmt.Errorf("reboot node %q: container start time did not change (%s)", node, after)
	}
	ev.Proof = fmt.Sprintf("node container started at %s, before at %s", after, before)
	return ev, nil
}
