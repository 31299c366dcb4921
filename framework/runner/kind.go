package runner

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	kindprovider "github.com/pvreboot/pvreboot/framework/cluster/kind"
	"github.com/pvreboot/pvreboot/framework/reboot"
	"github.com/pvreboot/pvreboot/framework/scenario"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// KindSetup says how to reach (or make) a scenario's kind cluster.
type KindSetup struct {
	NodeImage string // used when the cluster must be created
	// ResolveNodeImage gives the node image when neither the scenario nor
	// NodeImage names one; called only when a cluster is to be made (the
	// CLI pulls kind's standard image or builds one from sources).
	ResolveNodeImage func(ctx context.Context) (string, error)
	ProbeImage       string
	// BaseDir resolves a relative spec.cluster.kind.config.
	BaseDir string
	// Configs holds kind configs under the names scenarios give them
	// (kind-config/two-workers.yaml); the CLI passes the copies built into
	// it. A relative config with no such file under BaseDir is read from
	// here (see KindConfigFile). Nil: files only.
	Configs fs.FS
	// SSHAgentSocket is the ssh-agent socket for the ssh method (cmd/ passes $SSH_AUTH_SOCK).
	SSHAgentSocket string
	// RemoteEngine says the Docker engine runs on another machine: the
	// host's loop devices are then not the nodes' (see spareLoops).
	RemoteEngine bool
	Log          *slog.Logger
	Progress     io.Writer
}

// Kind reuses (or creates) the scenario's kind cluster, loads the probe image
// into the nodes under test and returns the run configuration for it.
func Kind(ctx context.Context, s *scenario.Scenario, ks KindSetup) (Config, *kindprovider.Cluster, error) {
	k := s.Spec.Cluster.Kind
	if k == nil {
		return Config{}, nil, fmt.Errorf("scenario %s has no kind cluster", s.Metadata.Name)
	}
	cfgFile, removeCfg, err := KindConfigFile(k.Config, ks.BaseDir, ks.Configs)
	if err != nil {
		return Config{}, nil, fmt.Errorf("spec.cluster.kind.config: %w", err)
	}
	if ks.Log != nil {
		ks.Log.Info("kind config", "scenario", s.Metadata.Name, "config", k.Config, "file", cfgFile)
	}
	image := k.Image
	if image == "" {
		image = ks.NodeImage
	}
	p := kindprovider.New(ks.Log, ks.Progress)
	c, err := p.Create(ctx, kindprovider.CreateOptions{Name: k.Name, ConfigFile: cfgFile, Image: image, ResolveImage: ks.ResolveNodeImage, Reuse: true, ReplaceUnhealthy: true, WaitForReady: 3 * time.Minute,
		BeforeReuse: func(ctx context.Context, c *kindprovider.Cluster) error { return bringBackKindNodes(ctx, c, ks) }})
	removeCfg() // Create has read it
	if err != nil {
		return Config{}, nil, err
	}
	rc, client, err := c.Client(ctx)
	if err != nil {
		return Config{}, nil, err
	}
	if err := c.LoadImage(ctx, ks.ProbeImage, s.Spec.Cluster.Nodes.Names...); err != nil {
		return Config{}, nil, err
	}
	var rb Rebooter
	switch m := s.Spec.Reboot.Method; m {
	case scenario.RebootKindRestart, scenario.RebootKindKill:
		rb = reboot.KindContainer{Docker: c.Docker(), Cluster: k.Name, Kill: m == scenario.RebootKindKill, Down: s.Spec.Reboot.Down.Duration, Log: ks.Log,
			SpareLoops: spareLoops(ks)}
	case scenario.RebootCommand:
		rb = reboot.Command{Argv: s.Spec.Reboot.Command.Argv, Lookup: nodeLookup(client)}
	case scenario.RebootSSH:
		rb = sshRebooter(s, ks.SSHAgentSocket, client, ks.Log)
	case scenario.RebootNodePod:
		// Refused by the plan's safety check on every kind node (kernel-level).
		rb = reboot.NodePod{Exec: c}
	default:
		rb = unavailable{method: m}
	}
	return Config{Scenario: s, Client: client, RESTConfig: rc, Nodes: c, Rebooter: rb, ProbeImage: ks.ProbeImage,
		ClusterName: k.Name, Provider: "kind", Log: ks.Log, Progress: ks.Progress}, c, nil
}

// spareLoops is how many free loop devices a kind node restart leaves the
// host's kernel (reboot.SpareLoopDevices): enough for every volume of a
// few runs at once and the kubelet's block mappings. Only when the engine
// is on this host (a unix socket, or DOCKER_HOST unset as the CLI passes
// it in Docker's argv) and this process may add devices (root).
func spareLoops(ks KindSetup) int {
	if ks.RemoteEngine || os.Geteuid() != 0 {
		return 0
	}
	return 16
}

// bringBackTimeout bounds looking, before a kind cluster is judged, for the
// nodes dead runs left down: the API server may be down as well (a host
// restart), and then the cluster is judged as it is.
const bringBackTimeout = 2 * time.Minute

// bringBackKindNodes starts the node containers of c that dead runs left
// stopped during their reboots (their ledgers' reboot items), before the
// cluster is judged. A run that holds such a node and whose heartbeat is
// fresh (killed a moment ago) is waited for until its lease expires.
func bringBackKindNodes(ctx context.Context, c *kindprovider.Cluster, ks KindSetup) error {
	bctx, cancel := context.WithTimeout(ctx, bringBackTimeout)
	defer cancel()
	_, client, err := c.Client(bctx)
	if err != nil {
		return fmt.Errorf("look for nodes dead runs left down: %w", err)
	}
	said, err := BringBackNodes(bctx, client, KindRecoverer(c, ks))
	for _, s := range said {
		if ks.Progress != nil {
			fmt.Fprintf(ks.Progress, "Kind cluster %q: %s\n", c.Name(), s)
		}
	}
	if errors.Is(err, ErrRebootInProgress) {
		return fmt.Errorf("%w: %w", kindprovider.ErrInUse, err)
	}
	return err
}

// KindRecoverer brings back the nodes of kind cluster c that dead runs left
// down during their reboots (SweepOptions.Recover).
func KindRecoverer(c *kindprovider.Cluster, ks KindSetup) reboot.Recoverer {
	return reboot.KindContainer{Docker: c.Docker(), Cluster: c.Name(), Log: ks.Log, SpareLoops: spareLoops(ks)}
}

// kindConfigDir is where the built-in kind configs are in the configs
// KindConfigFile is given (the module root's assets: kind-config/).
const kindConfigDir = "kind-config"

// KindConfigFile resolves a kind config named by a scenario or a person to a
// file kind can read. A file path wins: name itself when absolute, else
// name under baseDir (the working directory when baseDir is empty) when
// such a file exists. Otherwise the copy of that name in configs (e.g.
// "kind-config/two-workers.yaml"), when it has one, is written to a
// temporary file. remove deletes that file and is a no-op for a file path;
// call it once the config has been read. A name found nowhere resolves to
// its path under baseDir, for the reader to report as missing.
func KindConfigFile(name, baseDir string, configs fs.FS) (file string, remove func(), err error) {
	noop := func() {}
	if name == "" || filepath.IsAbs(name) {
		return name, noop, nil
	}
	file = name
	if baseDir != "" {
		file = filepath.Join(baseDir, name)
	}
	if _, err := os.Stat(file); !errors.Is(err, fs.ErrNotExist) {
		return file, noop, nil // a file, or one that cannot be read: its reader says why
	}
	key := path.Clean(filepath.ToSlash(name))
	if configs == nil || !fs.ValidPath(key) || !strings.HasPrefix(key, kindConfigDir+"/") {
		// Only a kind config is one: not a scenario or a manifest that
		// happens to be built in too.
		return file, noop, nil
	}
	raw, err := fs.ReadFile(configs, key)
	if errors.Is(err, fs.ErrNotExist) {
		return file, noop, nil
	}
	if err != nil {
		return "", noop, fmt.Errorf("kind config %s: %w", name, err)
	}
	// Named as the original, so that kind's messages name the config.
	dir, err := os.MkdirTemp("", "pvreboot-kind-config-")
	if err != nil {
		return "", noop, fmt.Errorf("kind config %s: %w", name, err)
	}
	remove = func() { _ = os.RemoveAll(dir) }
	file = filepath.Join(dir, path.Base(key))
	if err := os.WriteFile(file, raw, 0o600); err != nil {
		remove()
		return "", noop, fmt.Errorf("kind config %s: %w", name, err)
	}
	return file, remove, nil
}

// nodeLookup gives the command rebooter a node's name, InternalIP and providerID.
func nodeLookup(c kubernetes.Interface) func(context.Context, string) (reboot.NodeInfo, error) {
	return func(ctx context.Context, name string) (reboot.NodeInfo, error) {
		n, err := c.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return reboot.NodeInfo{}, err
		}
		return nodeInfo(n), nil
	}
}

// nodeInfo is what a command template and the SSH rebooter know of a node.
func nodeInfo(n *corev1.Node) reboot.NodeInfo {
	info := reboot.NodeInfo{Name: n.Name, ProviderID: n.Spec.ProviderID}
	for _, a := range n.Status.Addresses {
		if a.Type == corev1.NodeInternalIP && info.Address == "" {
			info.Address = a.Address
		}
	}
	return info
}

func sshRebooter(s *scenario.Scenario, agentSocket string, c kubernetes.Interface, log *slog.Logger) reboot.SSH {
	cfg := s.Spec.Reboot.SSH
	return reboot.SSH{User: cfg.User, Port: cfg.SSHPort(), KeyFile: cfg.KeyFile, AgentSocket: agentSocket, KnownHosts: cfg.KnownHosts,
		InsecureIgnoreHostKey: cfg.InsecureIgnore, Mode: cfg.Mode, Sudo: cfg.Sudo, Lookup: nodeLookup(c), Log: log}
}
