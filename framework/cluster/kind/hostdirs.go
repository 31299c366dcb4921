package kind

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	yaml "go.yaml.in/yaml/v3"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/kind/pkg/apis/config/v1alpha4"
)

// LocalPVRoot is the containerPath of the extraMount that holds a node's
// Local PVs. Create gives every cluster its own host directories for it, so
// that two clusters never see (or sweep) each other's files.
const LocalPVRoot = "/mnt/pvreboot"

// maxNameLen bounds a cluster name so that its longest node name,
// "<name>-control-plane", is a hostname of at most 63 characters.
const maxNameLen = 63 - len("-control-plane")

// hostDirMarker, in a cluster's own host directory (<parent>/<cluster>),
// records that Create made it for that cluster. Delete removes node
// directories only from beside a marker naming the cluster.
const hostDirMarker = ".pvreboot-cluster"

func hostDirMarkerContent(name string) []byte {
	return []byte("created-by: pvreboot\ncluster: " + name + "\n")
}

// validateName checks a cluster name before it becomes part of a host path:
// a DNS-1123 label of at most maxNameLen characters.
func validateName(name string) error {
	if name == "" {
		return errors.New("name: must be set")
	}
	if len(name) > maxNameLen {
		return fmt.Errorf("name %q: longer than %d characters (node %s-control-plane would not be a valid hostname)", name, maxNameLen, name)
	}
	if msgs := validation.IsDNS1123Label(name); len(msgs) > 0 {
		return fmt.Errorf("name %q: %s", name, strings.Join(msgs, "; "))
	}
	return nil
}

// ParseConfig strictly decodes a kind v1alpha4 Cluster config the way kind's
// CreateWithConfigFile does (YAML with known fields only, kind's own
// validation of mount propagation and port protocols), without defaults.
func ParseConfig(raw []byte) (*v1alpha4.Cluster, error) {
	var tm struct {
		Kind       string `yaml:"kind"`
		APIVersion string `yaml:"apiVersion"`
	}
	if err := yaml.Unmarshal(raw, &tm); err != nil {
		return nil, fmt.Errorf("parse kind config: kind and apiVersion: %w", err)
	}
	if tm.APIVersion != "kind.x-k8s.io/v1alpha4" || tm.Kind != "Cluster" {
		return nil, fmt.Errorf("parse kind config: kind %q apiVersion %q: want Cluster kind.x-k8s.io/v1alpha4", tm.Kind, tm.APIVersion)
	}
	d := yaml.NewDecoder(bytes.NewReader(raw))
	d.KnownFields(true)
	cfg := &v1alpha4.Cluster{}
	if err := d.Decode(cfg); err != nil {
		return nil, fmt.Errorf("parse kind config: %w", err)
	}
	return cfg, nil
}

// PerClusterConfig returns a copy of cfg in which every extraMount at
// LocalPVRoot has a host directory of the named cluster's own:
// <dir of hostPath>/<name>/<base of hostPath>, made absolute as kind would.
// Every other field is kept; a config without such a mount comes back equal.
func PerClusterConfig(cfg *v1alpha4.Cluster, name string) (*v1alpha4.Cluster, error) {
	if err := validateName(name); err != nil {
		return nil, fmt.Errorf("per-cluster kind config: %w", err)
	}
	out := cfg.DeepCopy()
	for i := range out.Nodes {
		for j := range out.Nodes[i].ExtraMounts {
			m := &out.Nodes[i].ExtraMounts[j]
			if !isLocalPVRoot(m.ContainerPath) {
				continue
			}
			hp, err := perClusterHostPath(m.HostPath, name)
			if err != nil {
				return nil, fmt.Errorf("per-cluster kind config: nodes[%d].extraMounts[%d]: %w", i, j, err)
			}
			m.HostPath = hp
		}
	}
	return out, nil
}

// CheckConfigReach refuses what a kind config named by a scenario could use
// to reach into the test host beyond a kind node: extraMounts other than the
// Local PV root (a host directory under /var/lib/pvreboot), and containerd
// config patches (which can name host binaries as runtimes of the privileged
// node). The kubeadm patches and everything else are kept.
func CheckConfigReach(cfg *v1alpha4.Cluster) error {
	var errs []error
	for i, n := range cfg.Nodes {
		for j, m := range n.ExtraMounts {
			hp := path.Clean(m.HostPath)
			if !isLocalPVRoot(m.ContainerPath) || !strings.HasPrefix(hp, "/var/lib/pvreboot/") {
				errs = append(errs, fmt.Errorf("nodes[%d].extraMounts[%d]: only %s from a host directory under /var/lib/pvreboot/ is allowed, not %s from %s",
					i, j, LocalPVRoot, m.ContainerPath, m.HostPath))
			}
		}
	}
	if len(cfg.ContainerdConfigPatches) > 0 || len(cfg.ContainerdConfigPatchesJSON6902) > 0 {
		errs = append(errs, errors.New("containerdConfigPatches are not allowed (they can make a host binary the runtime of a privileged node)"))
	}
	return errors.Join(errs...)
}

// LocalPVHostDirs returns the hostPaths of cfg's extraMounts at LocalPVRoot,
// in node order.
func LocalPVHostDirs(cfg *v1alpha4.Cluster) []string {
	if cfg == nil {
		return nil
	}
	var dirs []string
	for _, n := range cfg.Nodes {
		for _, m := range n.ExtraMounts {
			if isLocalPVRoot(m.ContainerPath) {
				dirs = append(dirs, m.HostPath)
			}
		}
	}
	return dirs
}

func isLocalPVRoot(containerPath string) bool {
	return containerPath != "" && path.Clean(containerPath) == LocalPVRoot
}

// perClusterHostPath puts the named cluster's component in front of the
// last element of hostPath. name must have passed validateName.
func perClusterHostPath(hostPath, name string) (string, error) {
	if hostPath == "" {
		return "", fmt.Errorf("hostPath for %s: must be set", LocalPVRoot)
	}
	// kind's Docker provider resolves a relative hostPath the same way.
	abs, err := filepath.Abs(hostPath)
	if err != nil {
		return "", fmt.Errorf("hostPath %q: %w", hostPath, err)
	}
	parent := filepath.Dir(abs)
	if parent == abs {
		return "", fmt.Errorf("hostPath %q: the filesystem root has no parent to hold per-cluster directories", hostPath)
	}
	return filepath.Join(parent, name, filepath.Base(abs)), nil
}

// removableHostDir says whether dir, the host directory of a node's
// LocalPVRoot, is one Create makes for the named cluster and so one Delete
// may remove: an absolute, clean path directly below a directory named after
// the cluster (<parent>/<cluster>/<node dir>). Never that directory itself,
// its parent, anything deeper, or another cluster's.
func removableHostDir(name, dir string) error {
	if err := validateName(name); err != nil {
		return err
	}
	if !filepath.IsAbs(dir) {
		return fmt.Errorf("host directory %q: not absolute", dir)
	}
	if filepath.Clean(dir) != dir {
		return fmt.Errorf("host directory %q: not a clean path (want %q)", dir, filepath.Clean(dir))
	}
	if filepath.Base(filepath.Dir(dir)) != name {
		return fmt.Errorf("host directory %q: not directly below a directory named after cluster %q", dir, name)
	}
	return nil
}

// makeHostDirs creates the named cluster's host directories (0755) and the
// marker beside them that lets Delete remove them again. It uses a cluster
// directory only if it makes it or made it before for this cluster, and
// never one inside another cluster's directories.
func makeHostDirs(ctx context.Context, name string, dirs []string) error {
	for _, d := range dirs {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := removableHostDir(name, d); err != nil {
			return fmt.Errorf("make host directory: %w", err)
		}
		clusterDir := filepath.Dir(d)
		if err := checkNotNested(clusterDir); err != nil {
			return fmt.Errorf("make host directory %s: %w", d, err)
		}
		switch _, err := os.Lstat(clusterDir); {
		case err == nil:
			if err := checkHostDirMarker(name, clusterDir); err != nil {
				return fmt.Errorf("make host directory %s: %w", d, err)
			}
		case errors.Is(err, fs.ErrNotExist):
			if err := os.MkdirAll(clusterDir, 0o755); err != nil {
				return fmt.Errorf("make host directory: %w", err)
			}
			if err := os.WriteFile(filepath.Join(clusterDir, hostDirMarker), hostDirMarkerContent(name), 0o644); err != nil {
				return fmt.Errorf("make host directory: %w", err)
			}
		default:
			return fmt.Errorf("make host directory: %w", err)
		}
		if err := os.MkdirAll(d, 0o755); err != nil {
			return fmt.Errorf("make host directory: %w", err)
		}
	}
	return nil
}

// removeHostDirs removes those of dirs that removableHostDir allows and that
// sit beside the named cluster's marker, then the cluster's directory if
// nothing but the marker is left in it. A directory it may not remove is
// kept and reported to kept; failures to remove are returned.
func removeHostDirs(ctx context.Context, name string, dirs []string, kept io.Writer) error {
	if err := validateName(name); err != nil {
		return fmt.Errorf("remove host directories: %w", err)
	}
	dirs = slices.Clone(dirs)
	slices.Sort(dirs)
	dirs = slices.Compact(dirs)
	var errs []error
	var clusterDirs []string
	for _, d := range dirs {
		if err := ctx.Err(); err != nil {
			return errors.Join(append(errs, err)...)
		}
		if err := removableHostDir(name, d); err != nil {
			fmt.Fprintf(kept, "Keeping %v\n", err) // "host directory ...: why"
			continue
		}
		clusterDir := filepath.Dir(d)
		if err := checkHostDirMarker(name, clusterDir); err != nil {
			fmt.Fprintf(kept, "Keeping host directory %s: %v\n", d, err)
			continue
		}
		if _, err := os.Lstat(d); errors.Is(err, fs.ErrNotExist) {
			if !slices.Contains(clusterDirs, clusterDir) {
				clusterDirs = append(clusterDirs, clusterDir)
			}
			continue // gone already; its cluster directory may still go
		}
		if err := checkNoMarkerInside(d); err != nil {
			fmt.Fprintf(kept, "Keeping host directory %s: %v\n", d, err)
			continue
		}
		if err := os.RemoveAll(d); err != nil {
			errs = append(errs, fmt.Errorf("remove host directory: %w", err))
			continue
		}
		if !slices.Contains(clusterDirs, clusterDir) {
			clusterDirs = append(clusterDirs, clusterDir)
		}
	}
	for _, cd := range clusterDirs {
		entries, err := os.ReadDir(cd)
		if err != nil {
			errs = append(errs, fmt.Errorf("remove host directory: %w", err))
			continue
		}
		if len(entries) != 1 || entries[0].Name() != hostDirMarker {
			continue // something else lives there: not ours to remove
		}
		if err := os.Remove(filepath.Join(cd, hostDirMarker)); err != nil {
			errs = append(errs, fmt.Errorf("remove host directory: %w", err))
			continue
		}
		if err := os.Remove(cd); err != nil {
			errs = append(errs, fmt.Errorf("remove host directory: %w", err))
		}
	}
	return errors.Join(errs...)
}

// checkHostDirMarker returns nil when clusterDir is a real directory (not a
// symbolic link) holding the marker Create wrote for the named cluster.
func checkHostDirMarker(name, clusterDir string) error {
	fi, err := os.Lstat(clusterDir)
	if err != nil {
		return fmt.Errorf("cluster directory: %w", err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("cluster directory %s: not a directory (mode %s)", clusterDir, fi.Mode())
	}
	marker := filepath.Join(clusterDir, hostDirMarker)
	b, err := os.ReadFile(marker)
	if err != nil {
		return fmt.Errorf("cluster directory %s: not made by pvreboot for cluster %q: %w", clusterDir, name, err)
	}
	if !bytes.Equal(b, hostDirMarkerContent(name)) {
		return fmt.Errorf("cluster directory %s: not made by pvreboot for cluster %q (%s says %q)", clusterDir, name, marker, b)
	}
	return nil
}

// checkNotNested returns an error when an ancestor of clusterDir is a
// directory pvreboot made for a cluster (it holds a marker).
func checkNotNested(clusterDir string) error {
	for dir := filepath.Dir(clusterDir); ; dir = filepath.Dir(dir) {
		marker := filepath.Join(dir, hostDirMarker)
		if _, err := os.Lstat(marker); err == nil {
			return fmt.Errorf("inside another cluster's host directories (%s)", marker)
		} else if !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, syscall.ENOTDIR) {
			return err
		}
		if filepath.Dir(dir) == dir {
			return nil
		}
	}
}

// checkNoMarkerInside returns an error when another cluster's host
// directories live inside dir: removing dir would remove them too.
func checkNoMarkerInside(dir string) error {
	return filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if e.Name() == hostDirMarker {
			return fmt.Errorf("holds another cluster's host directories (%s)", p)
		}
		return nil
	})
}

// LocalPVHostDirs returns, by node name, the host directory mounted at
// LocalPVRoot in each node container (docker inspect); nodes without that
// mount are left out.
func (c *Cluster) LocalPVHostDirs(ctx context.Context) (map[string]string, error) {
	ns, err := c.kindNodes(ctx)
	if err != nil {
		return nil, err
	}
	format := fmt.Sprintf(`{{range .Mounts}}{{if eq .Destination %q}}{{.Source}}{{end}}{{end}}`, LocalPVRoot)
	dirs := make(map[string]string, len(ns))
	for _, n := range ns {
		src, err := c.p.inspect(ctx, n.String(), format)
		if err != nil {
			return nil, fmt.Errorf("host directory of %s: %w", LocalPVRoot, err)
		}
		if src != "" {
			dirs[n.String()] = src
		}
	}
	return dirs, nil
}
