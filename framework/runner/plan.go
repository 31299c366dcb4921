package runner

import (
	"context"
	"errors"
	"fmt"
	"sort"

	"github.com/pvreboot/pvreboot/framework/drain"
	"github.com/pvreboot/pvreboot/framework/reboot"
	"github.com/pvreboot/pvreboot/framework/scenario"
	"github.com/pvreboot/pvreboot/framework/wait"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/kubernetes"
)

// ErrUnsupported marks a reboot method this build cannot run.
var ErrUnsupported = errors.New("reboot method not available")

// PlanOptions are what the person running pvreboot decides, not the scenario.
type PlanOptions struct {
	// AllowReboot confirms rebooting real machines (--allow-reboot).
	AllowReboot bool
	// HostBootID is this host's kernel boot ID; empty reads it.
	HostBootID string
}

// BuildPlan describes what the scenario would reboot and which pods restart.
func BuildPlan(ctx context.Context, c kubernetes.Interface, s *scenario.Scenario, o PlanOptions) (reboot.Plan, error) {
	rb := s.Spec.Reboot
	if o.HostBootID == "" {
		// Without it a container node on this host's kernel is still refused
		// kernel-level reboots when it is a kind node.
		o.HostBootID, _ = reboot.HostBootID()
	}
	p := reboot.Plan{Method: rb.Method, MaxParallel: 1, AllowReboot: o.AllowReboot, HostBootID: o.HostBootID,
		AllowControlPlane: rb.AllowControlPlane, AffectedPods: map[string][]string{}}
	if rb.SSH != nil {
		p.Mode = rb.SSH.Mode
	}
	if rb.NodePod != nil {
		p.Mode = rb.NodePod.Mode
	}
	nodes, err := c.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return p, fmt.Errorf("list nodes: %w", err)
	}
	byName := map[string]corev1.Node{}
	for _, n := range nodes.Items {
		byName[n.Name] = n
		if reboot.IsControlPlane(n.Labels) {
			p.ControlPlanes = append(p.ControlPlanes, target(n))
		}
	}
	// The runner reboots the first selected node.
	names := s.Spec.Cluster.Nodes.Names
	if len(names) == 0 {
		return p, errors.New("the scenario names no node")
	}
	n, ok := byName[names[0]]
	if !ok {
		return p, fmt.Errorf("node %s: not in the cluster", names[0])
	}
	p.Nodes = append(p.Nodes, target(n))
	if rb.Method == scenario.RebootCommand && rb.Command != nil {
		// What --allow-reboot authorises, shown before it is given.
		argv, err := reboot.Command{Argv: rb.Command.Argv}.Render(nodeInfo(&n))
		if err != nil {
			return p, err
		}
		p.Commands = map[string][]string{n.Name: argv}
	}
	pods, err := c.CoreV1().Pods("").List(ctx, metav1.ListOptions{FieldSelector: fields.OneTermEqualSelector("spec.nodeName", n.Name).String()})
	if err != nil {
		return p, fmt.Errorf("list pods on %s: %w", n.Name, err)
	}
	p.Cordon = rb.Cordon || rb.Drain
	if !rb.Drain {
		for _, pod := range pods.Items {
			p.AffectedPods[n.Name] = append(p.AffectedPods[n.Name], pod.Namespace+"/"+pod.Name)
		}
		sort.Strings(p.AffectedPods[n.Name])
		return p, nil
	}
	p.Evicted = map[string][]string{}
	for _, d := range drain.Plan(pods.Items, ownPod) {
		if d.Evict {
			p.Evicted[n.Name] = append(p.Evicted[n.Name], d.Pod)
		} else {
			p.AffectedPods[n.Name] = append(p.AffectedPods[n.Name], d.Pod+" ("+d.Reason+")")
		}
	}
	return p, nil
}

func target(n corev1.Node) reboot.Target {
	return reboot.Target{Name: n.Name, ControlPlane: reboot.IsControlPlane(n.Labels), Ready: wait.NodeReadyStatus(&n) == corev1.ConditionTrue,
		ProviderID: n.Spec.ProviderID, BootID: n.Status.NodeInfo.BootID}
}

// unavailable is the rebooter for methods this build cannot run; the plan's
// safety check still runs (and refuses kernel-level methods on kind) first.
type unavailable struct{ method string }

func (u unavailable) Method() string { return u.method }
func (u unavailable) Reboot(context.Context, string) (reboot.Event, error) {
	return reboot.Event{}, fmt.Errorf("%w: %s is not implemented in this build (use kind-restart, kind-kill or command)", ErrUnsupported, u.method)
}
