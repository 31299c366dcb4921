package app

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"time"

	"github.com/pvreboot/pvreboot/cmd/internal/exitcode"
	"github.com/pvreboot/pvreboot/framework/cluster/existing"
	kindprovider "github.com/pvreboot/pvreboot/framework/cluster/kind"
	"github.com/pvreboot/pvreboot/framework/ledger"
	"github.com/pvreboot/pvreboot/framework/runner"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// helperRemovalTimeout bounds removing the node helper pods after a sweep,
// on a context that outlives an interrupt (a pod's deletion takes seconds).
const helperRemovalTimeout = time.Minute

func newCleanupCmd(g *globals) *cobra.Command {
	var f cleanupFlags
	cmd := &cobra.Command{
		Use:   "cleanup",
		Short: "Remove what dead runs left: namespaces, PVs, StorageClasses, node-side units, loop devices, images",
		Long: "cleanup removes what runs that died (killed, node lost, cleanup failed) left behind. A run in\n" +
			"progress always has its namespace; namespaces older than --older-than count as dead. Only objects\n" +
			"labelled pvreboot.dev/owned and node files named pvreboot-<run>-* under /mnt/pvreboot are touched.\n" +
			"On a kind cluster every node is swept; on another cluster only the nodes given with --node (through\n" +
			"privileged helper pods from --probe-image). A kind node a dead run stopped during its reboot is\n" +
			"started again first, on its own addresses; any other node it left down is reported.\n\n" +
			"With --run, only that run's namespace, PVs and node backings are removed, whatever their age: the\n" +
			"run is known to be dead (an interrupted run prints its ID and this command).",
		Example: `  pvreboot cleanup --dry-run
  pvreboot cleanup --run 1a2b3c4d
  pvreboot cleanup --name pvreboot --older-than 10m
  pvreboot cleanup --kubeconfig ~/.kube/lab --node worker-3 --probe-image registry.example.com/pvreboot/copyprobe:v1`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := f.check(cmd.Flags()); err != nil {
				return err
			}
			ctx := cmd.Context()
			o := runner.SweepOptions{OlderThan: f.olderThan, DryRun: f.dryRun, NodeNames: f.nodes}
			if f.run != "" {
				o.Run, o.OlderThan = f.run, 0
			}
			var closeFn func(context.Context) error
			if f.kubeconfig != "" || f.context != "" {
				var paths []string
				if f.kubeconfig != "" {
					paths = []string{f.kubeconfig}
				}
				c, err := existing.Open(paths, f.context)
				if err != nil {
					return exitcode.UsageError(err)
				}
				o.Client = c.Client
				if len(f.nodes) > 0 {
					if f.probeImage == "" {
						return exitcode.Usagef("--probe-image: required with --node on a cluster pvreboot did not create (node helper pods)")
					}
					if _, err := c.SelectNodes(ctx, f.nodes, nil); err != nil {
						return exitcode.UsageError(fmt.Errorf("--node: %w", err))
					}
					pe, cl, err := runner.NodeHelpers(ctx, c.Client, c.RESTConfig, f.probeImage)
					if err != nil {
						return err
					}
					o.KeepNamespaces = []string{pe.Namespace}
					o.Nodes, closeFn = pe, cl
				} else {
					fmt.Fprintln(g.s.Err, "no --node given: sweeping the cluster's objects only, not node-side backings")
				}
			} else {
				kc, err := kindprovider.New(g.logger(), g.s.Err).Get(ctx, f.name)
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
				for _, n := range f.nodes {
					if !slices.Contains(names, n) {
						return exitcode.Usagef("--node: %s is not a node of kind cluster %s (nodes: %v)", n, f.name, names)
					}
				}
				if len(f.nodes) == 0 {
					o.NodeNames = names
				}
				o.Nodes = kc
				// A node a dead run stopped during its reboot is started again.
				o.Recover = runner.KindRecoverer(kc, runner.KindSetup{Log: g.logger(), RemoteEngine: remoteEngine(g.env["DOCKER_HOST"])})
			}
			o.StateDir = g.stateDir()
			// Every run with a ledger, live or dead, and what it still holds.
			if records, lerr := ledger.List(ctx, o.Client); lerr == nil {
				for _, rec := range records {
					if f.run != "" && rec.Run != f.run {
						continue
					}
					state := "dead: its heartbeat stopped " + time.Since(rec.Renewed).Round(time.Second).String() + " ago"
					if rec.Live(time.Now()) {
						state = "live (left alone)"
						if f.run != "" {
							state = "its heartbeat is still fresh: waiting for it to expire (a process killed a moment ago) before removing anything"
						}
					}
					fmt.Fprintf(g.s.Out, "run %s (scenario %s on %s, started %s by %s): %s; holds %d item(s)\n",
						rec.Run, rec.Scenario, rec.Cluster, rec.Started.UTC().Format(time.RFC3339), rec.Holder, state, len(rec.Items))
					for _, it := range rec.Items {
						fmt.Fprintf(g.s.Out, "  %s\n", it)
					}
				}
			}
			swept, err := runner.Sweep(ctx, o)
			if closeFn != nil {
				// Also after an interrupt: the helper pods must not stay.
				cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), helperRemovalTimeout)
				err = errors.Join(err, closeFn(cctx))
				cancel()
			}
			verb := "removed"
			if f.dryRun {
				verb = "would remove"
			}
			for _, s := range swept {
				fmt.Fprintf(g.s.Out, "%s %s\n", verb, s)
			}
			if len(swept) == 0 && err == nil {
				if f.run != "" {
					fmt.Fprintf(g.s.Out, "nothing left behind by run %s\n", f.run)
				} else {
					fmt.Fprintln(g.s.Out, "nothing left behind by dead runs")
				}
			}
			return err
		},
	}
	cmd.Flags().StringVar(&f.name, "name", defaultClusterName, "kind cluster to sweep")
	cmd.Flags().StringVar(&f.kubeconfig, "kubeconfig", "", "sweep a cluster pvreboot did not create, from this kubeconfig")
	cmd.Flags().StringVar(&f.context, "context", "", "kubeconfig context")
	cmd.Flags().StringArrayVar(&f.nodes, "node", nil, "node to sweep (repeatable; kind: default every node)")
	cmd.Flags().StringVar(&f.probeImage, "probe-image", "", "image of the node helper pods (clusters pvreboot did not create)")
	cmd.Flags().DurationVar(&f.olderThan, "older-than", 30*time.Minute, "a run namespace older than this belongs to a dead run")
	cmd.Flags().StringVar(&f.run, "run", "", "remove only this run's objects and node backings, whatever their age (the run ID: 1-8 lowercase hex digits)")
	cmd.Flags().BoolVar(&f.dryRun, "dry-run", false, "list what would be removed, remove nothing")
	return cmd
}

type cleanupFlags struct {
	name, kubeconfig, context, probeImage, run string
	nodes                                      []string
	olderThan                                  time.Duration
	dryRun                                     bool
}

// runIDPattern is a run ID as pvreboot names things with it
// (pvreboot-<run>-...).
var runIDPattern = regexp.MustCompile(`^[0-9a-f]{1,8}$`)

// check rejects flag values cleanup cannot act on, naming the flag, before
// anything is contacted.
func (f *cleanupFlags) check(fs *pflag.FlagSet) error {
	switch {
	case fs.Changed("run") && !runIDPattern.MatchString(f.run):
		return exitcode.Usagef("--run: %q is not a run ID (1-8 lowercase hex digits, as in pvreboot-<run>-...)", f.run)
	case f.run != "" && fs.Changed("older-than"):
		return exitcode.Usagef("--older-than: not with --run (the run's objects are removed whatever their age)")
	case f.olderThan < 0:
		return exitcode.Usagef("--older-than: %s is negative", f.olderThan)
	case fs.Changed("kubeconfig") && f.kubeconfig == "":
		return exitcode.Usagef("--kubeconfig: empty")
	case fs.Changed("context") && f.context == "":
		return exitcode.Usagef("--context: empty")
	}
	for _, n := range f.nodes {
		if n == "" {
			return exitcode.Usagef("--node: empty node name")
		}
	}
	if f.kubeconfig == "" && f.context == "" {
		return checkClusterName(f.name)
	}
	return nil
}
