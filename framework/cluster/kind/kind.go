package kind

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/pvreboot/pvreboot/framework/cluster"
	"github.com/pvreboot/pvreboot/framework/exec"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/kind/pkg/apis/config/v1alpha4"
	kindcluster "sigs.k8s.io/kind/pkg/cluster"
	"sigs.k8s.io/kind/pkg/cluster/nodes"
	"sigs.k8s.io/kind/pkg/cluster/nodeutils"
	kindlog "sigs.k8s.io/kind/pkg/log"
)

// ErrConfigRefused marks a kind config that reaches into the host further
// than pvreboot lets a scenario's config reach.
var ErrConfigRefused = errors.New("kind config refused")

// ErrNotFound is returned when no cluster of that name exists.
var ErrNotFound = errors.New("kind cluster not found")

// Provider manages kind clusters with the Docker node provider.
type Provider struct {
	p        *kindcluster.Provider
	log      *slog.Logger
	progress io.Writer
	docker   []string
}

// New returns a provider. progress receives kind's step lines ("Preparing
// nodes", ...); log nil means silent.
func New(log *slog.Logger, progress io.Writer) *Provider {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if progress == nil {
		progress = io.Discard
	}
	return &Provider{
		p:        kindcluster.NewProvider(kindcluster.ProviderWithDocker(), kindcluster.ProviderWithLogger(&logAdapter{log: log, progress: progress})),
		log:      log,
		progress: progress,
		docker:   []string{"docker"},
	}
}

// ErrInUse marks a cluster that must not be replaced, whatever its health:
// a live run has a node of it down (see CreateOptions.BeforeReuse).
var ErrInUse = errors.New("a live run is using it")

// CreateOptions describe a cluster to create.
type CreateOptions struct {
	Name       string
	ConfigFile string // kind v1alpha4 config; empty for kind's default
	Image      string // node image; empty for kind's default (or ResolveImage's)
	// ResolveImage, when Image is empty, gives the node image, and is called
	// only when a cluster is to be made (new, or replacing one that cannot
	// be reused): resolving can mean a pull or a build that a reused
	// cluster does not need. A cluster is then reused whatever its image.
	ResolveImage func(ctx context.Context) (string, error)
	// Reuse returns an existing healthy cluster of that name instead of failing.
	Reuse bool
	// ReplaceUnhealthy deletes and recreates an existing cluster that cannot
	// be reused: node containers not all running, nodes made from another
	// image than Image, or a control plane that does not settle within
	// WaitForReady (e.g. after the Docker daemon or the host restarted).
	ReplaceUnhealthy bool
	// WaitForReady bounds the wait for the control plane to be Ready (and,
	// with Reuse, for an existing cluster to settle).
	WaitForReady time.Duration
	// Retain keeps failed nodes for debugging.
	Retain bool
	// BeforeReuse, with Reuse, is called on an existing cluster before it
	// is judged: the runner starts there the nodes that dead runs left
	// stopped during their reboots, which would otherwise have the cluster
	// replaced. Its error is reported, and the cluster judged as it is;
	// one wrapping ErrInUse keeps the cluster from being replaced.
	BeforeReuse func(ctx context.Context, c *Cluster) error
}

// resolveImage sets Image from ResolveImage when it is empty.
func (o *CreateOptions) resolveImage(ctx context.Context) error {
	if o.Image != "" || o.ResolveImage == nil {
		return nil
	}
	image, err := o.ResolveImage(ctx)
	if err != nil {
		return fmt.Errorf("create kind cluster %q: node image: %w", o.Name, err)
	}
	if image == "" {
		return fmt.Errorf("create kind cluster %q: node image: none resolved", o.Name)
	}
	o.Image = image
	return nil
}

// Cluster is one kind cluster.
type Cluster struct {
	name string
	p    *Provider
}

// Name of the cluster.
func (c *Cluster) Name() string { return c.name }

// Get returns an existing cluster.
func (p *Provider) Get(ctx context.Context, name string) (*Cluster, error) {
	ok, err := p.Exists(ctx, name)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("kind cluster %q: %w", name, ErrNotFound)
	}
	return &Cluster{name: name, p: p}, nil
}

// Exists reports whether a cluster of that name exists.
func (p *Provider) Exists(ctx context.Context, name string) (bool, error) {
	names, err := p.List(ctx)
	if err != nil {
		return false, err
	}
	return slices.Contains(names, name), nil
}

// List returns the names of kind clusters.
func (p *Provider) List(ctx context.Context) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	names, err := p.p.List()
	if err != nil {
		return nil, fmt.Errorf("list kind clusters: %w", err)
	}
	return names, nil
}

// Create creates a cluster, or with Reuse returns an existing one that can be
// reused (see reusable). One that cannot is an error saying why, or with
// ReplaceUnhealthy it is deleted and created again.
func (p *Provider) Create(ctx context.Context, o CreateOptions) (*Cluster, error) {
	// The name becomes a host path component: check it before anything else.
	if err := validateName(o.Name); err != nil {
		return nil, fmt.Errorf("create kind cluster: %w", err)
	}
	var cfg *v1alpha4.Cluster
	if o.ConfigFile != "" {
		raw, err := os.ReadFile(o.ConfigFile)
		if err != nil {
			return nil, fmt.Errorf("create kind cluster %q: config: %w", o.Name, err)
		}
		parsed, err := ParseConfig(raw)
		if err != nil {
			return nil, fmt.Errorf("create kind cluster %q: config %s: %w", o.Name, o.ConfigFile, err)
		}
		if err := CheckConfigReach(parsed); err != nil {
			return nil, fmt.Errorf("create kind cluster %q: config %s: %w: %w", o.Name, o.ConfigFile, ErrConfigRefused, err)
		}
		if cfg, err = PerClusterConfig(parsed, o.Name); err != nil {
			return nil, fmt.Errorf("create kind cluster %q: config %s: %w", o.Name, o.ConfigFile, err)
		}
	}
	exists, err := p.Exists(ctx, o.Name)
	if err != nil {
		return nil, err
	}
	if exists {
		if !o.Reuse {
			return nil, fmt.Errorf("create kind cluster %q: a cluster of that name exists (delete it, or reuse it)", o.Name)
		}
		c := &Cluster{name: o.Name, p: p}
		var inUse error
		if o.BeforeReuse != nil {
			if err := o.BeforeReuse(ctx, c); errors.Is(err, ErrInUse) {
				inUse = err
			} else if err != nil {
				fmt.Fprintf(p.progress, "Kind cluster %q: %v\n", o.Name, err)
			}
		}
		err := c.reusable(ctx, o)
		if err == nil {
			fmt.Fprintf(p.progress, "Reusing kind cluster %q: node image as asked, API server ready, every kubelet and controller reporting\n", o.Name)
			return c, nil
		}
		if ctx.Err() != nil {
			return nil, err
		}
		if !o.ReplaceUnhealthy {
			return nil, fmt.Errorf("reuse kind cluster %q: %w", o.Name, err)
		}
		if inUse != nil {
			return nil, fmt.Errorf("reuse kind cluster %q: %w; not replaced: %w", o.Name, err, inUse)
		}
		// Never someone else's: only a cluster pvreboot created is replaced.
		if oerr := p.checkOwned(ctx, o.Name, "replace"); oerr != nil {
			return nil, fmt.Errorf("%w (it cannot be reused: %v)", oerr, err)
		}
		// Resolved before the old cluster goes: a failed pull or build leaves it.
		if rerr := o.resolveImage(ctx); rerr != nil {
			return nil, rerr
		}
		fmt.Fprintf(p.progress, "Replacing kind cluster %q: %v\n", o.Name, err)
		if err := p.Delete(ctx, o.Name); err != nil {
			return nil, err
		}
	}
	if err := o.resolveImage(ctx); err != nil {
		return nil, err
	}
	opts := []kindcluster.CreateOption{
		kindcluster.CreateWithRetain(o.Retain),
		kindcluster.CreateWithDisplayUsage(false),
		kindcluster.CreateWithDisplaySalutation(false),
		// Do not touch the user's ~/.kube/config: Kubeconfig() returns one.
		kindcluster.CreateWithKubeconfigPath(os.DevNull),
	}
	if cfg != nil {
		// Each cluster its own Local PV host directories (see PerClusterConfig).
		if err := makeHostDirs(ctx, o.Name, LocalPVHostDirs(cfg)); err != nil {
			return nil, fmt.Errorf("create kind cluster %q: %w", o.Name, err)
		}
		opts = append(opts, kindcluster.CreateWithV1Alpha4Config(cfg))
	}
	if o.Image != "" {
		opts = append(opts, kindcluster.CreateWithNodeImage(o.Image))
	}
	if o.WaitForReady > 0 {
		opts = append(opts, kindcluster.CreateWithWaitForReady(o.WaitForReady))
	}
	// kind's Create takes no context; it is bounded by its own steps' timeouts.
	if err := p.p.Create(o.Name, opts...); err != nil {
		return nil, fmt.Errorf("create kind cluster %q: %w", o.Name, err)
	}
	if err := p.markOwned(ctx, o.Name); err != nil {
		return nil, err
	}
	return &Cluster{name: o.Name, p: p}, nil
}

// Delete deletes a cluster pvreboot created: its node containers, their
// volumes, the cluster's kubeconfig entry and the host directories Create
// made for its nodes' LocalPVRoot (any other host directory is kept). A
// missing cluster is not an error; one pvreboot did not create is ErrNotOwned.
func (p *Provider) Delete(ctx context.Context, name string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	exists, err := p.Exists(ctx, name)
	if err != nil || !exists {
		return err
	}
	if err := p.checkOwned(ctx, name, "delete"); err != nil {
		return err
	}
	// Read before the node containers, and with them their mounts, are gone.
	hostDirs, err := (&Cluster{name: name, p: p}).LocalPVHostDirs(ctx)
	if err != nil {
		return fmt.Errorf("delete kind cluster %q: %w", name, err)
	}
	if err := p.p.Delete(name, os.DevNull); err != nil {
		return fmt.Errorf("delete kind cluster %q: %w", name, err)
	}
	if err := removeHostDirs(ctx, name, slices.Collect(maps.Values(hostDirs)), p.progress); err != nil {
		return fmt.Errorf("delete kind cluster %q: %w", name, err)
	}
	return nil
}

// Kubeconfig returns a kubeconfig reaching the cluster from this host.
func (c *Cluster) Kubeconfig(ctx context.Context) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s, err := c.p.p.KubeConfig(c.name, false)
	if err != nil {
		return nil, fmt.Errorf("kubeconfig of kind cluster %q: %w", c.name, err)
	}
	return []byte(s), nil
}

// Nodes lists the cluster's nodes with their container IDs and IPs.
func (c *Cluster) Nodes(ctx context.Context) ([]cluster.Node, error) {
	ns, err := c.kindNodes(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]cluster.Node, 0, len(ns))
	for _, n := range ns {
		role, err := n.Role()
		if err != nil {
			return nil, fmt.Errorf("node %s: role: %w", n, err)
		}
		v4, v6, err := n.IP()
		if err != nil {
			return nil, fmt.Errorf("node %s: IP: %w", n, err)
		}
		id, err := c.p.containerID(ctx, n.String())
		if err != nil {
			return nil, err
		}
		out = append(out, cluster.Node{Name: n.String(), Role: role, ContainerID: id, IPv4: v4, IPv6: v6})
	}
	slices.SortFunc(out, func(a, b cluster.Node) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

func (c *Cluster) kindNodes(ctx context.Context) ([]nodes.Node, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	ns, err := c.p.p.ListNodes(c.name)
	if err != nil {
		return nil, fmt.Errorf("list nodes of kind cluster %q: %w", c.name, err)
	}
	if len(ns) == 0 {
		return nil, fmt.Errorf("kind cluster %q: %w (no node containers)", c.name, ErrNotFound)
	}
	return ns, nil
}

// reusable checks an existing cluster can serve a run as it is: its nodes run
// the image asked for, their containers are running, and it has settled
// (bounded by WaitForReady, default 3 minutes).
func (c *Cluster) reusable(ctx context.Context, o CreateOptions) error {
	if err := c.ImageMismatch(ctx, o.Image); err != nil {
		return err
	}
	if err := c.Healthy(ctx); err != nil {
		return err
	}
	timeout := o.WaitForReady
	if timeout <= 0 {
		timeout = 3 * time.Minute
	}
	sctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	fmt.Fprintf(c.p.progress, "Kind cluster %q exists: waiting up to %s for it to settle\n", c.name, timeout)
	return c.Settled(sctx)
}

// Healthy checks that every node container is running.
func (c *Cluster) Healthy(ctx context.Context) error {
	ns, err := c.kindNodes(ctx)
	if err != nil {
		return err
	}
	var bad []string
	for _, n := range ns {
		s, err := c.p.inspect(ctx, n.String(), "{{.State.Status}}")
		if err != nil {
			return err
		}
		if s != "running" {
			bad = append(bad, n.String()+" is "+s)
		}
	}
	if len(bad) > 0 {
		return fmt.Errorf("node containers not running: %s", strings.Join(bad, ", "))
	}
	return nil
}

func (p *Provider) containerID(ctx context.Context, name string) (string, error) {
	return p.inspect(ctx, name, "{{.Id}}")
}

// inspect returns a Go-template field of a node container (docker inspect).
func (p *Provider) inspect(ctx context.Context, name, format string) (string, error) {
	out, err := exec.Output(ctx, exec.Cmd{Argv: append(slices.Clone(p.docker), "inspect", "--format", format, name)})
	if err != nil {
		return "", fmt.Errorf("node %s: %w", name, err)
	}
	return strings.TrimSpace(string(out)), nil
}

// Client returns a REST config and clientset reaching the cluster from this host.
func (c *Cluster) Client(ctx context.Context) (*rest.Config, kubernetes.Interface, error) {
	raw, err := c.Kubeconfig(ctx)
	if err != nil {
		return nil, nil, err
	}
	rc, err := clientcmd.RESTConfigFromKubeConfig(raw)
	if err != nil {
		return nil, nil, fmt.Errorf("kubeconfig of kind cluster %q: %w", c.name, err)
	}
	client, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return nil, nil, fmt.Errorf("client of kind cluster %q: %w", c.name, err)
	}
	return rc, client, nil
}

// ExportLogs writes kind's log bundle (journal, containerd, kubelet, pods) to dir.
func (c *Cluster) ExportLogs(ctx context.Context, dir string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := c.p.p.CollectLogs(c.name, dir); err != nil {
		return fmt.Errorf("export logs of kind cluster %q: %w", c.name, err)
	}
	return nil
}

// LoadImage loads a local Docker image into every node (or the named ones),
// the way `kind load docker-image` does.
func (c *Cluster) LoadImage(ctx context.Context, image string, only ...string) error {
	ns, err := c.kindNodes(ctx)
	if err != nil {
		return err
	}
	var archive bytes.Buffer
	out, err := exec.Output(ctx, exec.Cmd{Argv: append(slices.Clone(c.p.docker), "save", image), Stdout: &archive})
	if err != nil {
		return fmt.Errorf("load image %s: %w: %s", image, err, out)
	}
	for _, n := range ns {
		if len(only) > 0 && !slices.Contains(only, n.String()) {
			continue
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := nodeutils.LoadImageArchive(n, bytes.NewReader(archive.Bytes())); err != nil {
			return fmt.Errorf("load image %s into node %s: %w", image, n, err)
		}
	}
	return nil
}

// logAdapter sends kind's user-facing lines to progress and the rest to slog.
type logAdapter struct {
	log      *slog.Logger
	progress io.Writer
}

func (l *logAdapter) Warn(m string)                        { l.log.Warn(m) }
func (l *logAdapter) Warnf(f string, a ...any)             { l.log.Warn(fmt.Sprintf(f, a...)) }
func (l *logAdapter) Error(m string)                       { l.log.Error(m) }
func (l *logAdapter) Errorf(f string, a ...any)            { l.log.Error(fmt.Sprintf(f, a...)) }
func (l *logAdapter) V(v kindlog.Level) kindlog.InfoLogger { return infoLogger{l: l, v: v} }

type infoLogger struct {
	l *logAdapter
	v kindlog.Level
}

func (i infoLogger) Info(m string) {
	if i.v == 0 {
		fmt.Fprintln(i.l.progress, strings.TrimRight(m, "\n"))
		return
	}
	i.l.log.Debug(m, "kindV", int(i.v))
}
func (i infoLogger) Infof(f string, a ...any) { i.Info(fmt.Sprintf(f, a...)) }
func (i infoLogger) Enabled() bool            { return true }

// NodeExec runs argv inside a node container (docker exec, with -i when
// stdin is given) and returns its combined output.
func (c *Cluster) NodeExec(ctx context.Context, node string, stdin io.Reader, argv ...string) ([]byte, error) {
	args := append(slices.Clone(c.p.docker), "exec")
	if stdin != nil {
		args = append(args, "-i")
	}
	out, err := exec.Run(ctx, exec.Cmd{Argv: append(append(args, "--", node), argv...), Stdin: stdin})
	if err != nil {
		return out, fmt.Errorf("on node %s: %w", node, err)
	}
	return out, nil
}

// Docker returns the docker CLI argv prefix the provider uses.
func (c *Cluster) Docker() []string { return slices.Clone(c.p.docker) }
