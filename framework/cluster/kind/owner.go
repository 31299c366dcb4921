package kind

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"path"
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
// owner file). It reads the node's /kind directory as a tar stream (docker
// cp works on stopped containers too) and looks for the file in it, rather
// than parsing the CLI's wording of a missing file, which differs between
// Docker versions. A cluster without nodes is nobody's: false.
func (p *Provider) Owned(ctx context.Context, name string) (bool, error) {
	ns, err := p.p.ListNodes(name)
	if err != nil {
		return false, fmt.Errorf("list nodes of kind cluster %q: %w", name, err)
	}
	var errs []error
	for _, n := range ns {
		var archive bytes.Buffer
		argv := append(slices.Clone(p.docker), "cp", n.String()+":"+path.Dir(ownerFile), "-")
		if _, err := exec.Output(ctx, exec.Cmd{Argv: argv, Stdout: &archive}); err != nil {
			errs = append(errs, err)
			continue
		}
		found, err := hasOwnerFile(&archive)
		if err != nil {
			errs = append(errs, fmt.Errorf("node %s: %w", n, err))
			continue
		}
		if found {
			return true, nil
		}
	}
	if len(ns) > 0 && len(errs) == len(ns) {
		return false, fmt.Errorf("kind cluster %q: read %s of its nodes: %w", name, ownerFile, errors.Join(errs...))
	}
	return false, nil
}

// hasOwnerFile reports whether a tar stream of /kind holds the owner file.
func hasOwnerFile(r io.Reader) (bool, error) {
	want := path.Base(path.Dir(ownerFile)) + "/" + path.Base(ownerFile) // kind/pvreboot-owner
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return false, nil
		}
		if err != nil {
			return false, fmt.Errorf("read tar of %s: %w", path.Dir(ownerFile), err)
		}
		if strings.TrimPrefix(path.Clean(h.Name), "./") == want && h.Typeflag == tar.TypeReg {
			return true, nil
		}
	}
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
