package reboot

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"strings"
)

// Recoverer is a Rebooter that can bring a node back when the process that
// rebooted it died half way: a kind node's container is stopped by one
// command and started by another, and a run killed between them leaves the
// node down for good. The run keeps the journal in its ledger before the
// reboot; whoever sweeps the dead run calls Recover with it.
type Recoverer interface {
	// Recovers reports whether Recover can bring back a node rebooted by
	// method (a Rebooter's Method).
	Recovers(method string) bool
	// Journal reads, just before the reboot, what Recover will need.
	Journal(ctx context.Context, node string) (map[string]string, error)
	// Recover starts the node again if it is down and says what it did
	// ("" when it was up). With dry it only looks, and says what it would
	// do.
	Recover(ctx context.Context, node string, journal map[string]string, dry bool) (string, error)
}

// JournalNetworks is the journal key of a kind node's addresses (JSON).
const JournalNetworks = "networks"

// kindLabelCluster is the label kind puts on each node container.
const kindLabelCluster = "io.x-k8s.kind.cluster"

// dockerName: a Docker network name or a network alias, never an option.
var dockerName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$`)

// Recovers: a node restarted or killed as a kind node container.
func (k KindContainer) Recovers(method string) bool {
	return method == KindContainer{}.Method() || method == KindContainer{Kill: true}.Method()
}

// Journal keeps the node container's addresses: a run killed after the
// stop leaves a container that must get them back when it starts.
func (k KindContainer) Journal(ctx context.Context, node string) (map[string]string, error) {
	nets, err := k.endpoints(ctx, node)
	if err != nil {
		return nil, fmt.Errorf("read the addresses of node %q: %w", node, err)
	}
	b, err := json.Marshal(pins(nets))
	if err != nil {
		return nil, err
	}
	return map[string]string{JournalNetworks: string(b)}, nil
}

// parseJournal reads the pins back, refusing what pvreboot never writes:
// the journal comes from a ledger in the cluster, which others can edit.
func parseJournal(journal map[string]string) ([]pin, error) {
	raw, ok := journal[JournalNetworks]
	if !ok {
		return nil, nil
	}
	var ps []pin
	if err := json.Unmarshal([]byte(raw), &ps); err != nil {
		return nil, fmt.Errorf("journal %s: %w", JournalNetworks, err)
	}
	var errs []error
	for i, p := range ps {
		if !dockerName.MatchString(p.Network) {
			errs = append(errs, fmt.Errorf("journal %s[%d]: network %q: not a Docker network name", JournalNetworks, i, p.Network))
		}
		if a, err := netip.ParseAddr(p.IP); err != nil || !a.Is4() {
			errs = append(errs, fmt.Errorf("journal %s[%d]: ip %q: not an IPv4 address", JournalNetworks, i, p.IP))
		}
		if a, err := netip.ParseAddr(p.IP6); p.IP6 != "" && (err != nil || !a.Is6() || a.Is4In6()) {
			errs = append(errs, fmt.Errorf("journal %s[%d]: ip6 %q: not an IPv6 address", JournalNetworks, i, p.IP6))
		}
		for _, a := range p.Aliases {
			if !dockerName.MatchString(a) {
				errs = append(errs, fmt.Errorf("journal %s[%d]: alias %q: not a network alias", JournalNetworks, i, a))
			}
		}
	}
	return ps, errors.Join(errs...)
}

// clusterNetworks are the Docker networks the node containers of kind
// cluster are on.
func (k KindContainer) clusterNetworks(ctx context.Context, cluster string) (map[string]bool, error) {
	out, err := k.docker(ctx, "ps", "--all", "--filter", "label="+kindLabelCluster+"="+cluster, "--format", "{{.Networks}}")
	if err != nil {
		return nil, fmt.Errorf("networks of kind cluster %s: %w", cluster, err)
	}
	nets := map[string]bool{}
	for _, line := range strings.Fields(out) {
		for _, n := range strings.Split(line, ",") {
			if n != "" {
				nets[n] = true
			}
		}
	}
	return nets, nil
}

// Recover starts a kind node container left stopped by a run that died
// during its restart, with its addresses pinned as the journal says. Only a
// container labelled as a node of k.Cluster (of any kind cluster when
// empty) is touched.
func (k KindContainer) Recover(ctx context.Context, node string, journal map[string]string, dry bool) (string, error) {
	ps, err := parseJournal(journal)
	if err != nil {
		return "", fmt.Errorf("bring back node %q: %w", node, err)
	}
	out, err := k.docker(ctx, "inspect", "--format", `{{.State.Running}} {{index .Config.Labels "`+kindLabelCluster+`"}}`, "--type", "container", node)
	if err != nil && strings.Contains(err.Error(), "No such container") {
		return "", nil // gone with its cluster: nothing to start
	}
	if err != nil {
		return "", fmt.Errorf("bring back node %q: %w", node, err)
	}
	running, cluster, _ := strings.Cut(out, " ")
	switch {
	case cluster == "":
		return "", fmt.Errorf("bring back node %q: container %s is not a kind node (no label %s)", node, node, kindLabelCluster)
	case k.Cluster != "" && cluster != k.Cluster:
		return "", fmt.Errorf("bring back node %q: container %s is a node of kind cluster %q, not %q", node, node, cluster, k.Cluster)
	case running == "true":
		return "", nil
	}
	if dry {
		return "would start its stopped container", nil
	}
	have, err := k.endpoints(ctx, node)
	if err != nil {
		return "", fmt.Errorf("bring back node %q: %w", node, err)
	}
	// Only the cluster's own networks: a journal is data from the
	// cluster, and must not attach the node anywhere else.
	ours, err := k.clusterNetworks(ctx, cluster)
	if err != nil {
		return "", fmt.Errorf("bring back node %q: %w", node, err)
	}
	for name := range have {
		ours[name] = true
	}
	for _, p := range ps {
		if !ours[p.Network] {
			return "", fmt.Errorf("bring back node %q: journal %s: network %q is none of kind cluster %s's", node, JournalNetworks, p.Network, cluster)
		}
	}
	if err := k.pinAddresses(ctx, node, ps, have); err != nil {
		return "", fmt.Errorf("bring back node %q: %w", node, err)
	}
	k.spareLoops(node)
	if _, err := k.docker(ctx, "start", node); err != nil {
		return "", fmt.Errorf("bring back node %q: start: %w", node, err)
	}
	return "started its stopped container again", nil
}
