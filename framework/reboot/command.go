package reboot

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"regexp"
	"strings"
	"text/template"
	"time"

	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/pvreboot/pvreboot/framework/exec"
)

var providerIDRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9:/._-]*$`)

// NodeInfo is what a command template can use.
type NodeInfo struct {
	Name       string
	Address    string // InternalIP
	ProviderID string
}

// Command reboots a node by running a command template on the test host,
// e.g. ["virsh", "reset", "{{.Name}}"] or
// ["aws", "ec2", "reboot-instances", "--instance-ids", "{{.ProviderID}}"].
// Each element is rendered on its own and the argv runs without a shell.
type Command struct {
	Argv []string
	// Lookup returns the node's facts for the template.
	Lookup func(ctx context.Context, node string) (NodeInfo, error)
}

// Method names the rebooter.
func (Command) Method() string { return "command" }

// Render renders the template for a node; every element must render to a
// non-empty string.
func (c Command) Render(n NodeInfo) ([]string, error) {
	if len(c.Argv) == 0 {
		return nil, fmt.Errorf("command rebooter: empty argv")
	}
	// The node's facts come from the API server: each must be what it says,
	// so that none can become an option ("-oProxyCommand=...") or text.
	if msgs := validation.IsDNS1123Subdomain(n.Name); len(msgs) > 0 {
		return nil, fmt.Errorf("command rebooter: node name %q: %s", n.Name, strings.Join(msgs, "; "))
	}
	if n.Address != "" && net.ParseIP(n.Address) == nil {
		return nil, fmt.Errorf("command rebooter: node %s: address %q is not an IP address", n.Name, n.Address)
	}
	if n.ProviderID != "" && !providerIDRE.MatchString(n.ProviderID) {
		return nil, fmt.Errorf("command rebooter: node %s: providerID %q has characters other than letters, digits and :/._-", n.Name, n.ProviderID)
	}
	out := make([]string, len(c.Argv))
	for i, a := range c.Argv {
		t, err := template.New(fmt.Sprintf("argv[%d]", i)).Option("missingkey=error").Parse(a)
		if err != nil {
			return nil, fmt.Errorf("command rebooter: argv[%d] %q: %w", i, a, err)
		}
		var b bytes.Buffer
		if err := t.Execute(&b, n); err != nil {
			return nil, fmt.Errorf("command rebooter: argv[%d] %q: %w", i, a, err)
		}
		if strings.TrimSpace(b.String()) == "" {
			return nil, fmt.Errorf("command rebooter: argv[%d] %q renders empty for node %s", i, a, n.Name)
		}
		out[i] = b.String()
	}
	return out, nil
}

// Reboot runs the rendered command.
func (c Command) Reboot(ctx context.Context, node string) (Event, error) {
	ev := Event{Node: node, Method: c.Method()}
	info := NodeInfo{Name: node}
	if c.Lookup != nil {
		var err error
		if info, err = c.Lookup(ctx, node); err != nil {
			return ev, fmt.Errorf("reboot node %q: %w", node, err)
		}
	}
	argv, err := c.Render(info)
	if err != nil {
		return ev, err
	}
	ev.Issued = time.Now()
	out, err := exec.Run(ctx, exec.Cmd{Argv: argv})
	ev.Returned = time.Now()
	if err != nil {
		return ev, fmt.Errorf("reboot node %q: %w", node, err)
	}
	ev.Proof = fmt.Sprintf("ran %q: %s", argv, strings.TrimSpace(string(out)))
	return ev, nil
}
