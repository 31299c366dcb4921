package app

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/pvreboot/pvreboot"
	"github.com/pvreboot/pvreboot/cmd/internal/exitcode"
	"github.com/pvreboot/pvreboot/framework/cluster"
	kindprovider "github.com/pvreboot/pvreboot/framework/cluster/kind"
	"github.com/pvreboot/pvreboot/framework/runner"
	"github.com/spf13/cobra"
	"k8s.io/client-go/tools/clientcmd"
	kindcluster "sigs.k8s.io/kind/pkg/cluster"
)

const defaultClusterName = "pvreboot"

func newClusterCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "cluster",
		Short: "Create, delete and list kind clusters for pvreboot, and print their kubeconfig",
		Example: `  pvreboot cluster create --config kind-config/two-workers.yaml --image pvreboot/node:v1.37.2
  pvreboot cluster list
  pvreboot cluster kubeconfig > kc && kubectl --kubeconfig kc get pods -A
  pvreboot cluster delete`,
	}
	cmd.AddCommand(newClusterCreateCmd(g), newClusterDeleteCmd(g), newClusterListCmd(g), newClusterKubeconfigCmd(g))
	return cmd
}

func newClusterCreateCmd(g *globals) *cobra.Command {
	var o kindprovider.CreateOptions
	var kubeconfig string
	var node nodeImageFlags
	cmd := &cobra.Command{
		Use:   "create",
		Short: "Create a kind cluster (or reuse a healthy one of that name) and write its kubeconfig as kind does",
		Long: "create makes a kind cluster, or reuses a healthy one of that name, and merges its context\n" +
			"(kind-NAME, made current) into the kubeconfig kind would write: the first existing file of\n" +
			"$KUBECONFIG (its last file when none exists), else ~/.kube/config. With --kubeconfig it writes\n" +
			"the cluster's kubeconfig to that file instead and leaves the others alone.\n" +
			"--config is a file, else the kind config of that name built into pvreboot\n" +
			"(" + strings.Join(shippedKindConfigs(), ", ") + ").\n" +
			"Without --image, a cluster to be made gets kind's standard node image when the Docker engine\n" +
			"has it or can pull it (--pull-image names another), else one built from sources, saying why\n" +
			"(as `pvreboot image node`); a healthy cluster is reused whatever its image.",
		Example: `  pvreboot cluster create --config kind-config/two-workers.yaml
  pvreboot cluster create --image pvreboot/node:v1.37.2
  pvreboot cluster create --name lab --reuse=false --kubeconfig lab.kubeconfig`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkClusterName(o.Name); err != nil {
				return err
			}
			if err := node.check(cmd); err != nil {
				return err
			}
			o.Image, o.ResolveImage = node.image, node.resolver(cmd, g)
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
			// A file, else the shipped copy of that name.
			configFile, removeConfig, err := runner.KindConfigFile(o.ConfigFile, "", pvreboot.Files())
			if err != nil {
				return err
			}
			defer removeConfig()
			if configFile != "" {
				if _, err := os.Stat(configFile); err != nil {
					return exitcode.Usagef("--config: %v (shipped: %s)", err, strings.Join(shippedKindConfigs(), ", "))
				}
			}
			o.ConfigFile = configFile
			mergeInto := ""
			if kubeconfig == "" {
				mergeInto = kindKubeconfigPath(g.env)
			}
			start := time.Now()
			p := kindprovider.New(g.logger(), g.s.Err)
			c, err := p.Create(cmd.Context(), o)
			removeConfig() // Create has read it
			if err != nil {
				return err
			}
			switch {
			case kubeconfig == "" && mergeInto == "":
				fmt.Fprintf(g.s.Err, "kubeconfig: not written ($KUBECONFIG and $HOME are unset): `pvreboot cluster kubeconfig --name %s` prints it\n", shellWord(c.Name()))
			case mergeInto != "":
				// What kind's own create does: merge, under kind's lock.
				if err := kindAPI().ExportKubeConfig(c.Name(), mergeInto, false); err != nil {
					return fmt.Errorf("write the kubeconfig of kind cluster %q to %s: %w", c.Name(), mergeInto, err)
				}
				fmt.Fprintf(g.s.Err, "kubeconfig: context %q in %s\n", kindContext(c.Name()), mergeInto)
			default:
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
	cmd.Flags().StringVar(&o.ConfigFile, "config", "kind-config/two-workers.yaml", "kind v1alpha4 config file, else the one of that name built into pvreboot (empty: kind's default)")
	node.add(cmd)
	cmd.Flags().BoolVar(&o.Reuse, "reuse", true, "reuse a healthy existing cluster of that name")
	cmd.Flags().BoolVar(&o.ReplaceUnhealthy, "replace-unhealthy", true, "with --reuse, delete and recreate a cluster that cannot be reused: node containers not all running, another node image than --image (when given), or not settled within --wait")
	cmd.Flags().DurationVar(&o.WaitForReady, "wait", 3*time.Minute, "how long to wait for the control plane to be Ready (0: do not wait)")
	cmd.Flags().BoolVar(&o.Retain, "retain", false, "keep node containers when creation fails, for debugging")
	cmd.Flags().StringVar(&kubeconfig, "kubeconfig", "", "write the cluster's kubeconfig to this file (replacing it) instead of merging it into $KUBECONFIG or ~/.kube/config")
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
			// The server of this cluster, so that only the entry create
			// merged for it is removed (not one of a same-named cluster of
			// another engine).
			server := ""
			if raw, err := kindAPI().KubeConfig(name, false); err == nil {
				if cfg, err := clientcmd.Load([]byte(raw)); err == nil {
					if cl := cfg.Clusters[kindContext(name)]; cl != nil {
						server = cl.Server
					}
				}
			}
			if err := p.Delete(cmd.Context(), name); err != nil {
				return err
			}
			fmt.Fprintf(g.s.Err, "deleted kind cluster %q\n", name)
			// The entry create merged where kind would.
			if path := kindKubeconfigPath(g.env); path != "" && server != "" {
				removed, err := removeKindContext(path, name, server)
				if err != nil {
					return fmt.Errorf("remove context %q from %s: %w", kindContext(name), path, err)
				}
				if removed {
					fmt.Fprintf(g.s.Err, "removed context %q from %s\n", kindContext(name), path)
				}
			}
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

func newClusterKubeconfigCmd(g *globals) *cobra.Command {
	var (
		name     string
		internal bool
	)
	cmd := &cobra.Command{
		Use:   "kubeconfig",
		Short: "Print a kind cluster's kubeconfig (for kubectl, k9s, ...)",
		Long: "kubeconfig prints the kubeconfig of a kind cluster, to reach its API server from this host, or\n" +
			"with --internal from a container on the kind network. Exit 2 for a bad name, 3 when no such\n" +
			"cluster exists (or Docker does not answer).",
		Example: `  pvreboot cluster kubeconfig > kc && kubectl --kubeconfig kc get pods -A
  pvreboot cluster kubeconfig --name pvreboot-e2e --internal`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkClusterName(name); err != nil {
				return err
			}
			p := kindprovider.New(g.logger(), g.s.Err)
			c, err := p.Get(cmd.Context(), name)
			if errors.Is(err, kindprovider.ErrNotFound) {
				return notFoundHelp(name, g.env)
			}
			if err != nil {
				return err
			}
			var kc []byte
			if internal {
				// framework/cluster/kind gives the host's view only.
				s, kerr := kindAPI().KubeConfig(name, true)
				kc, err = []byte(s), kerr
			} else {
				kc, err = c.Kubeconfig(cmd.Context())
			}
			if err != nil {
				return fmt.Errorf("kubeconfig of kind cluster %q: %w", name, err)
			}
			_, err = g.s.Out.Write(kc)
			return err
		},
	}
	cmd.Flags().StringVar(&name, "name", defaultClusterName, "cluster name")
	cmd.Flags().BoolVar(&internal, "internal", false, "the API server's address on the kind network (from another container), not the host's")
	return cmd
}

// notFoundHelp says how to make a missing cluster (an infrastructure
// failure, exit 3: the input was well formed).
func notFoundHelp(name string, env map[string]string) error {
	msg := fmt.Sprintf("kind cluster %q does not exist: create it with `pvreboot cluster create --name %s --image NODE_IMAGE` "+
		"(`make cluster` in a clone; `pvreboot run` makes it too), or see `pvreboot cluster list`", name, shellWord(name))
	if env["DOCKER_HOST"] == "" && exists(pvrebootDockerEnv) {
		msg += "; clusters on pvreboot's own Docker engine need `source " + pvrebootDockerEnv + "` first"
	}
	return errors.New(msg)
}

// pvrebootDockerEnv is where ci/docker-up.sh records its own Docker engine's
// DOCKER_HOST (on hosts whose capability bounding set is reduced).
const pvrebootDockerEnv = "/var/lib/pvreboot/docker.env"

// kindAPI is kind's own provider, on the same Docker engine as
// framework/cluster/kind's, for what that package does not offer: the
// internal kubeconfig and kind's merge of a kubeconfig into a file.
func kindAPI() *kindcluster.Provider {
	return kindcluster.NewProvider(kindcluster.ProviderWithDocker())
}

// kindContext is the kubeconfig context, cluster and user name kind gives a
// cluster.
func kindContext(name string) string { return "kind-" + name }

// kindKubeconfigPath is the file kind (and kubectl) merges a new context
// into: with $KUBECONFIG its first file that exists, else its last; without,
// $HOME/.kube/config. "" when neither variable is set.
func kindKubeconfigPath(env map[string]string) string {
	var paths []string
	for _, p := range filepath.SplitList(env["KUBECONFIG"]) {
		if p != "" && !contains(paths, p) {
			paths = append(paths, p)
		}
	}
	switch {
	case len(paths) == 1:
		return paths[0]
	case len(paths) > 1:
		for _, p := range paths {
			if fi, err := os.Stat(p); err == nil && !fi.IsDir() {
				return p
			}
		}
		return paths[len(paths)-1]
	case env["HOME"] != "":
		return filepath.Join(env["HOME"], ".kube", "config")
	}
	return ""
}

// removeKindContext removes the context, cluster and user kind merged into
// the kubeconfig file for the named cluster whose API server is server, and
// the current context when it was that one; an entry for another server is
// left alone. It reports whether the file held any of them; a missing file
// holds none.
func removeKindContext(path, name, server string) (bool, error) {
	cfg, err := clientcmd.LoadFromFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	key := kindContext(name)
	if cl := cfg.Clusters[key]; cl != nil && cl.Server != server {
		// Another cluster of that name (another engine, or a file the
		// person wrote): not the entry create merged.
		return false, nil
	}
	_, hasContext := cfg.Contexts[key]
	_, hasCluster := cfg.Clusters[key]
	_, hasUser := cfg.AuthInfos[key]
	if !hasContext && !hasCluster && !hasUser {
		return false, nil
	}
	delete(cfg.Contexts, key)
	delete(cfg.Clusters, key)
	delete(cfg.AuthInfos, key)
	if cfg.CurrentContext == key {
		cfg.CurrentContext = ""
	}
	return true, clientcmd.WriteToFile(*cfg, path)
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
