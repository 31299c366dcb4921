package app

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"text/tabwriter"
	"time"

	"github.com/pvreboot/pvreboot/cmd/internal/exitcode"
	"github.com/pvreboot/pvreboot/framework/cluster"
	kindprovider "github.com/pvreboot/pvreboot/framework/cluster/kind"
	"github.com/spf13/cobra"
)

const defaultClusterName = "pvreboot"

func newClusterCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "cluster",
		Short: "Create, delete and list kind clusters for pvreboot",
		Example: `  pvreboot cluster create --config kind-config/two-workers.yaml --image pvreboot/node:v1.37.2
  pvreboot cluster list
  pvreboot cluster delete`,
	}
	cmd.AddCommand(newClusterCreateCmd(g), newClusterDeleteCmd(g), newClusterListCmd(g))
	return cmd
}

func newClusterCreateCmd(g *globals) *cobra.Command {
	var o kindprovider.CreateOptions
	var kubeconfig string
	cmd := &cobra.Command{
		Use:   "create",
		Short: "Create a kind cluster (or reuse a healthy one of that name)",
		Example: `  pvreboot cluster create --config kind-config/two-workers.yaml --image pvreboot/node:v1.37.2
  pvreboot cluster create --name lab --reuse=false`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkClusterName(o.Name); err != nil {
				return err
			}
			if o.WaitForReady < 0 {
				return exitcode.Usagef("--wait: %s is negative", o.WaitForReady)
			}
			if kubeconfig != "" {
				// Checked before a cluster is made, not after minutes.
				if fi, err := os.Stat(filepath.Dir(kubeconfig)); err != nil || !fi.IsDir() {
					return exitcode.Usagef("--kubeconfig: %s: no such directory to write the kubeconfig in", filepath.Dir(kubeconfig))
				}
			} else if cmd.Flags().Changed("kubeconfig") {
				return exitcode.Usagef("--kubeconfig: empty")
			}
			if o.ConfigFile != "" {
				if _, err := os.Stat(o.ConfigFile); err != nil {
					return exitcode.Usagef("--config: %v", err)
				}
			}
			start := time.Now()
			p := kindprovider.New(g.logger(), g.s.Err)
			c, err := p.Create(cmd.Context(), o)
			if err != nil {
				return err
			}
			if kubeconfig != "" {
				kc, err := c.Kubeconfig(cmd.Context())
				if err != nil {
					return err
				}
				if err := os.WriteFile(kubeconfig, kc, 0o600); err != nil {
					return fmt.Errorf("--kubeconfig: %w", err)
				}
			}
			nodes, err := c.Nodes(cmd.Context())
			if err != nil {
				return err
			}
			fmt.Fprintf(g.s.Err, "cluster %q ready in %s with %d nodes\n", c.Name(), time.Since(start).Round(time.Second), len(nodes))
			fmt.Fprintln(g.s.Out, c.Name())
			return nil
		},
	}
	cmd.Flags().StringVar(&o.Name, "name", defaultClusterName, "cluster name")
	cmd.Flags().StringVar(&o.ConfigFile, "config", "kind-config/two-workers.yaml", "kind v1alpha4 config file (empty: kind's default)")
	cmd.Flags().StringVar(&o.Image, "image", "", "node image (default: kind's)")
	cmd.Flags().BoolVar(&o.Reuse, "reuse", true, "reuse a healthy existing cluster of that name")
	cmd.Flags().BoolVar(&o.ReplaceUnhealthy, "replace-unhealthy", true, "with --reuse, delete and recreate a cluster that cannot be reused: node containers not all running, another node image than --image, or not settled within --wait")
	cmd.Flags().DurationVar(&o.WaitForReady, "wait", 3*time.Minute, "how long to wait for the control plane to be Ready (0: do not wait)")
	cmd.Flags().BoolVar(&o.Retain, "retain", false, "keep node containers when creation fails, for debugging")
	cmd.Flags().StringVar(&kubeconfig, "kubeconfig", "", "also write the cluster's kubeconfig to this file")
	return cmd
}

func newClusterDeleteCmd(g *globals) *cobra.Command {
	var name string
	cmd := &cobra.Command{
		Use:     "delete",
		Short:   "Delete a kind cluster: node containers, their volumes, its kubeconfig entry",
		Example: "  pvreboot cluster delete --name pvreboot",
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkClusterName(name); err != nil {
				return err
			}
			p := kindprovider.New(g.logger(), g.s.Err)
			ok, err := p.Exists(cmd.Context(), name)
			if err != nil {
				return err
			}
			if !ok {
				fmt.Fprintf(g.s.Err, "no kind cluster %q\n", name)
				return nil
			}
			if err := p.Delete(cmd.Context(), name); err != nil {
				return err
			}
			fmt.Fprintf(g.s.Err, "deleted kind cluster %q\n", name)
			return nil
		},
	}
	cmd.Flags().StringVar(&name, "name", defaultClusterName, "cluster name")
	return cmd
}

func newClusterListCmd(g *globals) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:     "list",
		Short:   "List kind clusters and their nodes (role, container, IPs)",
		Example: "  pvreboot cluster list\n  pvreboot cluster list -o json",
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if output != "text" && output != "json" {
				return exitcode.Usagef("--output: unknown format %q (want text or json)", output)
			}
			p := kindprovider.New(g.logger(), g.s.Err)
			names, err := p.List(cmd.Context())
			if err != nil {
				return err
			}
			type entry struct {
				Name  string         `json:"name"`
				Nodes []cluster.Node `json:"nodes"`
				Error string         `json:"error,omitempty"`
			}
			var entries []entry
			for _, n := range names {
				e := entry{Name: n}
				c, err := p.Get(cmd.Context(), n)
				if err == nil {
					e.Nodes, err = c.Nodes(cmd.Context())
				}
				if err != nil {
					e.Error = err.Error()
				}
				entries = append(entries, e)
			}
			if output == "json" {
				return writeJSON(g.s.Out, entries)
			}
			tw := tabwriter.NewWriter(g.s.Out, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "CLUSTER\tNODE\tROLE\tIPV4\tCONTAINER")
			for _, e := range entries {
				for _, n := range e.Nodes {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%.12s\n", e.Name, n.Name, n.Role, n.IPv4, n.ContainerID)
				}
				if e.Error != "" {
					fmt.Fprintf(tw, "%s\t-\t-\t-\t%s\n", e.Name, e.Error)
				}
			}
			return tw.Flush()
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "text", "output format: text or json")
	return cmd
}

// clusterName is what kind accepts as a cluster name (its container names
// and kubeconfig context derive from it).
var clusterName = regexp.MustCompile(`^[a-z0-9.-]+$`)

func checkClusterName(name string) error {
	if !clusterName.MatchString(name) {
		return exitcode.Usagef("--name: %q is not a kind cluster name (lowercase letters, digits, '.' and '-')", name)
	}
	return nil
}
