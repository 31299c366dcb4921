package reboot

import (
	"context"
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

// Reboot restarts the node's container and returns when it runs again.
func (k KindContainer) Reboot(ctx context.Context, node string) (Event, error) {
	ev := Event{Node: node, Method: k.Method()}
	before, err := k.docker(ctx, "inspect", "--format", "{{.State.StartedAt}}", node)
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
