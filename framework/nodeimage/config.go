package nodeimage

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"

	"github.com/pvreboot/pvreboot/framework/probeimage"
)

// Versions pins every component. Defaults are compatible with kind v0.33.0.
type Versions struct {
	Kubernetes string `json:"kubernetes"`
	Etcd       string `json:"etcd"`
	CoreDNS    string `json:"coredns"`
	Containerd string `json:"containerd"`
	Crictl     string `json:"crictl"`
	Kind       string `json:"kind"`
	Debian     string `json:"debian"`
}

// DefaultVersions are the versions CI builds and tests.
func DefaultVersions() Versions {
	return Versions{
		Kubernetes: "v1.37.2", Etcd: "v3.7.0", CoreDNS: "v1.14.6",
		Containerd: "v2.3.7", Crictl: "v1.37.0", Kind: "v0.33.0", Debian: "bookworm",
	}
}

// Config of one node image build.
type Config struct {
	Versions Versions
	// CacheDir holds root filesystems, build modules and binaries, each in a
	// content-addressed folder that is reused when complete.
	CacheDir string
	// SourceDir is the pvreboot module root; the node's pause and noderoutes
	// are built from it. Set exactly one of SourceDir and Executable.
	SourceDir string
	// Executable is a static pvreboot executable for this host's platform,
	// copied as the node's /pause and /noderoutes instead of building them:
	// it must run them when invoked under those names (cmd/pvreboot
	// dispatches on argv[0]).
	Executable string
	// Image is the node image reference to tag; default pvreboot/node:<k8s version>.
	Image string
	// Mirror is the Debian mirror for debootstrap.
	Mirror string
	// RestrictOOMScoreAdj makes containerd in the node clamp oom_score_adj,
	// needed where the host's bounding set lacks CAP_SYS_RESOURCE.
	RestrictOOMScoreAdj bool
	// Docker is the argv prefix of the docker CLI (default ["docker"]).
	Docker []string
	// Go is the go command (default "go").
	Go string
	// Progress receives one line per step start and end, with timings.
	Progress io.Writer
	Log      *slog.Logger
}

// Validate returns every problem with the configuration. It reads the
// headers of Executable: one that needs a dynamic loader is refused
// (errors.Is probeimage.ErrNotStatic), as the node's images have no libc.
func (c Config) Validate() error {
	var errs []error
	if c.CacheDir == "" || !filepath.IsAbs(c.CacheDir) {
		errs = append(errs, fmt.Errorf("cache dir: must be an absolute path, got %q", c.CacheDir))
	}
	switch {
	case c.SourceDir == "" && c.Executable == "":
		errs = append(errs, errors.New("source dir: must be set to the pvreboot module root, or executable to a static pvreboot"))
	case c.SourceDir != "" && c.Executable != "":
		errs = append(errs, errors.New("source dir and executable: set only one (where pause and noderoutes come from)"))
	case c.Executable != "":
		if err := probeimage.CheckStatic(c.Executable, probeimage.HostPlatform()); err != nil {
			errs = append(errs, fmt.Errorf("executable: %w", err))
		}
	}
	v := c.Versions
	for name, val := range map[string]string{"kubernetes": v.Kubernetes, "etcd": v.Etcd, "coredns": v.CoreDNS,
		"containerd": v.Containerd, "crictl": v.Crictl, "kind": v.Kind} {
		if !strings.HasPrefix(val, "v") || strings.Count(val, ".") != 2 {
			errs = append(errs, fmt.Errorf("versions.%s: %q is not a version like v1.2.3", name, val))
		}
	}
	if !strings.HasPrefix(v.Kubernetes, "v1.") {
		errs = append(errs, fmt.Errorf("versions.kubernetes: %q is not a v1.x version", v.Kubernetes))
	}
	return errors.Join(errs...)
}

func (c Config) withDefaults() Config {
	if c.Versions == (Versions{}) {
		c.Versions = DefaultVersions()
	}
	if c.Image == "" {
		c.Image = "pvreboot/node:" + c.Versions.Kubernetes
	}
	if len(c.Docker) == 0 {
		c.Docker = []string{"docker"}
	}
	if c.Go == "" {
		c.Go = "go"
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	if c.Progress == nil {
		c.Progress = io.Discard
	}
	return c
}

// stagingVersion maps v1.37.2 to the staging modules' v0.37.2.
func stagingVersion(k8s string) string { return "v0" + strings.TrimPrefix(k8s, "v1") }

// minor returns "37" for v1.37.2.
func minor(k8s string) string {
	parts := strings.Split(strings.TrimPrefix(k8s, "v"), ".")
	if len(parts) < 2 {
		return ""
	}
	return parts[1]
}
