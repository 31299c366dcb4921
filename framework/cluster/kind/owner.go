package kind

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/pvreboot/pvreboot/framework/exec"
)

// ownerFile marks, in each node container of a cluster pvreboot created,
// that pvreboot may delete or replace it. It lives in the container's own
// filesystem, so it is read from a stopped container too (docker cp).
const ownerFile = "/kind/pvreboot-owner"

// ErrNotOwned is returned when pvreboot would delete or replace a kind
// cluster it did not create.
var ErrNotOwned = errors.New("not created by pvreboot")

// markOwned writes the owner file into every node of the cluster.
func (p *Provider) markOwned(ctx context.Context, name string) error {
	ns, err := p.p.ListNodes(name)
	if err != nil {
		return fmt.Errorf("mark kind cluster %q as pvreboot's: %w", name, err)
	}
	var errs []error
	for _, n := range ns {
		argv := append(slices.Clone(p.docker), "exec", "-i", "--", n.String(), "cp", "/dev/stdin", ownerFile)
		if _, err := exec.Run(ctx, exec.Cmd{Argv: argv, Stdin: strings.NewReader("created-by: pvreboot\ncluster: " + name + "\n")}); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("mark kind cluster %q as pvreboot's: %w", name, err)
	}
	return nil
}

// Owned reports whether pvreboot created the cluster (its nodes carry the
// owner file). A cluster without nodes is nobody's: false.
func (p *Provider) Owned(ctx context.Context, name string) (bool, error) {
	ns, err := p.p.ListNodes(name)
	if err != nil {
		return false, fmt.Errorf("list nodes of kind cluster %q: %w", name, err)
	}
	for _, n := range ns {
		argv := append(slices.Clone(p.docker), "cp", n.String()+":"+ownerFile, "-")
		_, err := exec.Output(ctx, exec.Cmd{Argv: argv})
		if err == nil {
			return true, nil
		}
		var re *exec.RunError
		if !errors.As(err, &re) || !strings.Contains(re.Output, "Could not find the file") {
			return false, fmt.Errorf("kind cluster %q: read %s of node %s: %w", name, ownerFile, n, err)
		}
	}
	return false, nil
}

// checkOwned returns ErrNotOwned, with what to do instead, unless pvreboot
// created the cluster.
func (p *Provider) checkOwned(ctx context.Context, name, action string) error {
	owned, err := p.Owned(ctx, name)
	if err != nil {
		return err
	}
	if !owned {
		return fmt.Errorf("%s kind cluster %q: %w (its nodes have no %s): refusing; delete it yourself (kind delete cluster --name %s) or give the scenario another cluster name",
			action, name, ErrNotOwned, ownerFile, name)
	}
	return nil
}
