package trace

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
)

// AgentSchema tags the document a trace agent writes when it stops.
const AgentSchema = "pvreboot.dev/trace-agent/v1"

// AgentOptions of a trace of one container by an Agent.
type AgentOptions struct {
	// Host is where the container's processes and cgroups are read.
	Host Host
	// ContainerID is the runtime's hex ID (see RuntimeContainerID).
	ContainerID string
	Syscalls    []Syscall // none means DefaultSyscalls
	// ExcludeCurrent leaves out the container's processes running when the
	// trace starts, so that the runs of a command exec'd into it are what
	// is traced. Where the host numbers processes in a PID namespace of its
	// own (see Host.KernelPIDs) they cannot be named to the kernel: they
	// are traced, and the result's notes say so.
	ExcludeCurrent bool
	Log            *slog.Logger
}

// AgentResult is a finished trace of a container and the windows marked
// during it, on the clock of its samples.
type AgentResult struct {
	Schema      string  `json:"schema"`
	ContainerID string  `json:"containerID"`
	Result      *Result `json:"result"`
	// Windows are the spans marked by Begin and End, in order.
	Windows []Window `json:"windows"`
	// Notes say what the trace could not do as asked.
	Notes []string `json:"notes,omitempty"`
}

// Agent traces one container's processes and marks windows (the runs of a
// command) with MonotonicNs, the clock of the samples. It runs where the
// container's kernel is: on this host for a kind node, in a node helper
// pod elsewhere (`copyprobe trace-agent`, driven through ServeAgent), so
// that windows and samples share one clock whatever the caller's.
type Agent struct {
	host Host
	id   string
	// pid is the container's first process (its init, in the usual case):
	// Evict opens files in its root.
	pid     int
	tr      *Tracer
	windows []Window
	open    bool
	notes   []string
}

// StartAgent finds the container's cgroup and starts the tracer on it.
func StartAgent(ctx context.Context, o AgentOptions) (*Agent, error) {
	cg, pids, err := o.Host.CgroupOfContainer(o.ContainerID)
	if err != nil {
		return nil, fmt.Errorf("start trace agent: %w", err)
	}
	a := &Agent{host: o.Host, id: o.ContainerID, pid: pids[0]}
	topts := Options{Cgroup: cg, Syscalls: o.Syscalls, Log: o.Log}
	if o.ExcludeCurrent {
		procs, err := cg.Procs()
		if err != nil {
			return nil, fmt.Errorf("start trace agent: %w", err)
		}
		if o.Host.KernelPIDs() {
			topts.Exclude = procs
		} else {
			a.notes = append(a.notes, fmt.Sprintf("trace: the node numbers processes in a PID namespace of its own (a node in a container, as kind's), "+
				"so the container's processes from before the command (%d) could not be left out: they were traced, and only the windows bound the calls", len(procs)))
		}
	}
	if a.tr, err = Start(ctx, topts); err != nil {
		return nil, fmt.Errorf("start trace agent: %w", err)
	}
	return a, nil
}

// Begin starts a window now; the one before must have ended.
func (a *Agent) Begin(ctx context.Context) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	if a.open {
		return 0, fmt.Errorf("begin: window %d has not ended (want end first): %w", len(a.windows), ErrAgentProtocol)
	}
	now := MonotonicNs()
	a.windows, a.open = append(a.windows, Window{StartNs: now}), true
	return now, nil
}

// End ends the window Begin started.
func (a *Agent) End(ctx context.Context) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	if !a.open {
		return 0, fmt.Errorf("end: no window has begun (want begin first): %w", ErrAgentProtocol)
	}
	now := MonotonicNs()
	a.windows[len(a.windows)-1].EndNs, a.open = now, false
	return now, nil
}

// Evict drops the page cache of path as the container sees it (EvictFile
// in its first process's root), for a cold-cache run.
func (a *Agent) Evict(ctx context.Context, path string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return EvictFile(a.host.proc(), a.pid, path)
}

// Stop stops the tracer and returns the trace with its windows. A window
// still open ends now, with a note.
func (a *Agent) Stop(_ context.Context) (*AgentResult, error) {
	if a.open {
		a.windows[len(a.windows)-1].EndNs, a.open = MonotonicNs(), false
		a.notes = append(a.notes, fmt.Sprintf("trace: window %d had not ended when the trace stopped: it ends there", len(a.windows)))
	}
	res, err := a.tr.Stop()
	out := &AgentResult{Schema: AgentSchema, ContainerID: a.id, Result: res, Windows: a.windows, Notes: a.notes}
	if out.Windows == nil {
		out.Windows = []Window{}
	}
	if err != nil {
		return out, fmt.Errorf("stop trace agent: %w", err)
	}
	return out, nil
}

// ErrAgentProtocol is a line a trace agent does not understand, or a
// command out of order.
var ErrAgentProtocol = errors.New("trace agent protocol")
