package nodeexec

import (
	"context"
	"fmt"
	"io"

	"github.com/pvreboot/pvreboot/framework/workload"
)

// HelperExec runs argv in the helper pod on node as the helper image's own
// program (its /copyprobe, in the pod's mount namespace; the node's PIDs,
// the pod being hostPID), not as a node command, with its standard streams
// connected as they flow: for a program that converses with its caller,
// such as `copyprobe trace-agent`. stdin, when not nil, is the program's
// input (its end closes the program's); stdout and stderr receive its
// output as it comes. It returns when the program has ended; a non-zero
// exit is an error.
func (p *PodExec) HelperExec(ctx context.Context, node string, stdin io.Reader, stdout, stderr io.Writer, argv ...string) error {
	name, err := p.ensure(ctx, node)
	if err != nil {
		return err
	}
	if err := workload.Stream(ctx, p.RESTConfig, p.Client, p.Namespace, name, "exec", argv, stdin, stdout, stderr); err != nil {
		return fmt.Errorf("on node %s: %w", node, err)
	}
	return nil
}
