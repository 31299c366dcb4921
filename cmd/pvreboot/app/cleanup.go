package app

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/pvreboot/pvreboot/cmd/internal/exitcode"
	"github.com/pvreboot/pvreboot/framework/cluster/existing"
	kindprovider "github.com/pvreboot/pvreboot/framework/cluster/kind"
	"github.com/pvreboot/pvreboot/framework/runner"
	"github.com/spf13/cobra"
)

func newCleanupCmd(g *globals) *cobra.Command {
	var (
		name, kubeconfig, kubeContext, probeImage string
		nodes                                     []string
		olderThan                                 time.Duration
		dryRun                                    bool
	)
	cmd := &cobra.Command{
		Use:   "cleanup",
		Short: "Remove what dead runs left: namespaces, PVs, StorageClasses, node-side units, loop devices, images",
		Long: "cleanup removes what runs that died (killed, node lost, cleanup failed) left behind. A run in\n" +
			"progress always has its namespace; namespaces older than --older-than count as dead. Only objects\n" +
			"labelled pvreboot.dev/owned and node files named pvreboot-<run>-* under /mnt/pvreboot are touched.\n" +
			"On a kind cluster every node is swept; on another cluster only the nodes given with --node (through\n" +
			"privileged helper pods from --probe-image).",
		Example: `  pvreboot cleanup --dry-run
  pvreboot cleanup --name pvreboot --older-than 10m
  pvreboot cleanup --kubeconfig ~/.kube/lab --node worker-3 --probe-image registry.example.com/pvreboot/copyprobe:v1`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if olderThan < 0 {
				return exitcode.Usagef("--older-than: %s is negative", olderThan)
			}
			ctx := cmd.Context()
			o := runner.SweepOptions{OlderThan: olderThan, DryRun: dryRun, NodeNames: nodes}
			var closeFn func(context.Context) error
			if kubeconfig != "" || kubeContext != "" {
				var paths []string
				if kubeconfig != "" {
					paths = []string{kubeconfig}
				}
				c, err := existing.Open(paths, kubeContext)
				if err != nil {
					return exitcode.UsageError(err)
				}
				o.Client = c.Client
				if len(nodes) > 0 {
					if probeImage == "" {
						return exitcode.Usagef("--probe-image: required with --node on a cluster pvreboot did not create (node helper pods)")
					}
					if _, err := c.SelectNodes(ctx, nodes, nil); err != nil {
						return exitcode.UsageError(fmt.Errorf("--node: %w", err))
					}
					pe, cl, err := runner.NodeHelpers(ctx, c.Client, c.RESTConfig, probeImage)
					if err != nil {
						return err
					}
					o.Nodes, closeFn = pe, cl
				} else {
					fmt.Fprintln(g.s.Err, "no --node given: sweeping the cluster's objects only, not node-side backings")
				}
			} else {
				kc, err := kindprovider.New(g.logger(), g.s.Err).Get(ctx, name)
				if err != nil {
					return exitcode.UsageError(fmt.Errorf("--name: %w", err))
				}
				if _, o.Client, err = kc.Client(ctx); err != nil {
					return err
				}
				all, err := kc.Nodes(ctx)
				if err != nil {
					return err
				}
				var names []string
				for _, n := range all {
					names = append(names, n.Name)
				}
				for _, n := range nodes {
					if !slices.Contains(names, n) {
						return exitcode.Usagef("--node: %s is not a node of kind cluster %s (nodes: %v)", n, name, names)
					}
				}
				if len(nodes) == 0 {
					o.NodeNames = names
				}
				o.Nodes = kc
			}
			swept, err := runner.Sweep(ctx, o)
			if closeFn != nil {
				err = errors.Join(err, closeFn(context.WithoutCancel(ctx)))
			}
			verb := "removed"
			if dryRun {
				verb = "would remove"
			}
			for _, s := range swept {
				fmt.Fprintf(g.s.Out, "%s %s\n", verb, s)
			}
			if len(swept) == 0 {
				fmt.Fprintln(g.s.Out, "nothing left behind by dead runs")
			}
			return err
		},
	}
	cmd.Flags().StringVar(&name, "name", defaultClusterName, "kind cluster to sweep")
	cmd.Flags().StringVar(&kubeconfig, "kubeconfig", "", "sweep a cluster pvreboot did not create, from this kubeconfig")
	cmd.Flags().StringVar(&kubeContext, "context", "", "kubeconfig context")
	cmd.Flags().StringArrayVar(&nodes, "node", nil, "node to sweep (repeatable; kind: default every node)")
	cmd.Flags().StringVar(&probeImage, "probe-image", "", "image of the node helper pods (clusters pvreboot did not create)")
	cmd.Flags().DurationVar(&olderThan, "older-than", 30*time.Minute, "a run namespace older than this belongs to a dead run")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "list what would be removed, remove nothing")
	return cmd
}
