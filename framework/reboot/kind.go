package reboot

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
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
	// Cluster is the kind cluster of the nodes: Recover starts only a
	// container labelled as one of its nodes (any kind node when empty).
	Cluster string
	Kill    bool
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
	out, err := k.docker(ctx, "inspect", "--format", "{{json .NetworkSettings.Networks}}", "--type", "container", node)
	if err != nil {
		return nil, err
	}
	var nets map[string]endpoint
	if err := json.Unmarshal([]byte(out), &nets); err != nil {
		return nil, fmt.Errorf("networks of %s: %w", node, err)
	}
	return nets, nil
}

// pin is a node container's address on one Docker network, as kept for
// its restart: in the run's ledger (the journal) and between its stop and
// start.
type pin struct {
	Network string   `json:"network"`
	IP      string   `json:"ip"`
	IP6     string   `json:"ip6,omitempty"`
	Aliases []string `json:"aliases,omitempty"`
}

// pins are the addresses of the running node container's endpoints.
func pins(nets map[string]endpoint) []pin {
	var out []pin
	for _, name := range slices.Sorted(maps.Keys(nets)) {
		ep := nets[name]
		if ep.IPAddress == "" {
			continue
		}
		p := pin{Network: name, IP: ep.IPAddress, IP6: ep.GlobalIPv6Address}
		for _, a := range ep.Aliases {
			// Docker adds the short container ID itself.
			if !strings.HasPrefix(a, "-") && !isShortID(a) {
				p.Aliases = append(p.Aliases, a)
			}
		}
		out = append(out, p)
	}
	return out
}

// pinAddresses makes the stopped node container get its addresses back when
// it starts: Docker otherwise gives a starting container the lowest free
// address of the network, which after another cluster's nodes went is not
// its own, and the cluster's pods, routes and certificates name the old one.
// have is the container's attachment now: a network it is no longer on (a
// run killed between disconnect and connect) is connected again. A network
// where the address cannot be pinned is connected again as it was (the
// caller's check then reports a changed address); the node is never left
// without its network.
func (k KindContainer) pinAddresses(ctx context.Context, node string, want []pin, have map[string]endpoint) error {
	for _, p := range want {
		ep, on := have[p.Network]
		if on && ep.IPAMConfig != nil && ep.IPAMConfig.IPv4Address == p.IP {
			continue
		}
		var aliases []string
		for _, a := range p.Aliases {
			aliases = append(aliases, "--alias", a)
		}
		if on {
			if _, err := k.docker(ctx, "network", "disconnect", p.Network, node); err != nil {
				return fmt.Errorf("pin the address of %s on network %s: disconnect: %w", node, p.Network, err)
			}
		}
		argv := []string{"network", "connect", "--ip", p.IP}
		if p.IP6 != "" {
			argv = append(argv, "--ip6", p.IP6)
		}
		argv = append(append(argv, aliases...), p.Network, node)
		_, err := k.docker(ctx, argv...)
		if err == nil {
			if k.Log != nil {
				k.Log.Info("pinned the node's address for its restart", "node", node, "network", p.Network, "ip", p.IP)
			}
			continue
		}
		if _, rerr := k.docker(ctx, append(append([]string{"network", "connect"}, aliases...), p.Network, node)...); rerr != nil {
			return fmt.Errorf("pin the address of %s on network %s: %w; connecting it again: %w", node, p.Network, err, rerr)
		}
		if k.Log != nil {
			k.Log.Warn("could not pin the node's address for its restart", "node", node, "network", p.Network, "ip", p.IP, "err", err)
		}
	}
	return nil
}

// spareLoops leaves the host's kernel free loop devices for the node's
// boot (see SpareLoops).
func (k KindContainer) spareLoops(node string) {
	if k.SpareLoops <= 0 {
		return
	}
	if added, err := SpareLoopDevices(k.SpareLoops); err != nil && k.Log != nil {
		k.Log.Warn("the node's loop mounts may fail at boot", "node", node, "err", err)
	} else if added > 0 && k.Log != nil {
		k.Log.Info("added spare loop devices before the node starts", "node", node, "added", added)
	}
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
	before, err := k.docker(ctx, "inspect", "--format", "{{.State.StartedAt}}", "--type", "container", node)
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
			// Never leave a node down: start it even when interrupted,
			// on its own addresses.
			_ = k.pinAddresses(octx, node, pins(nets), nets)
			_, _ = k.docker(octx, "start", node)
			return ev, fmt.Errorf("reboot node %q: interrupted while down: %w", node, ctx.Err())
		case <-t.C:
		}
	}
	if err := k.pinAddresses(octx, node, pins(nets), nets); err != nil {
		return ev, fmt.Errorf("reboot node %q: %w", node, err)
	}
	k.spareLoops(node)
	if _, err := k.docker(octx, "start", node); err != nil {
		return ev, fmt.Errorf("reboot node %q: start: %w", node, err)
	}
	ev.Returned = time.Now()
	after, err := k.docker(octx, "inspect", "--format", "{{.State.StartedAt}}", "--type", "container", node)
	if err != nil {
		return ev, fmt.Errorf("reboot node %q: %w", node, err)
	}
	if after == before {
		return ev, fmt.Errorf("reboot node %q: container start time did not change (%s)", node, after)
	}
	ev.Proof = fmt.Sprintf("node container started at %s, before at %s", after, before)
	return ev, nil
}
