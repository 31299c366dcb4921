package app

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/pvreboot/pvreboot/cmd/internal/exitcode"
	"github.com/pvreboot/pvreboot/framework/capfix"
	pexec "github.com/pvreboot/pvreboot/framework/exec"
	"github.com/pvreboot/pvreboot/framework/nodeimage"
	"github.com/spf13/cobra"
)

func newImageCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "image",
		Short: "Build and list kind node images and the probe image without a registry",
		Example: `  pvreboot image build
  pvreboot image list`,
	}
	cmd.AddCommand(newImageBuildCmd(g), newImageProbeCmd(g), newImageListCmd(g))
	return cmd
}

func defaultCacheDir(env map[string]string) string {
	if d := env["PVREBOOT_CACHE"]; d != "" {
		return d
	}
	if d := env["XDG_CACHE_HOME"]; d != "" {
		return filepath.Join(d, "pvreboot")
	}
	if h := env["HOME"]; h != "" {
		return filepath.Join(h, ".cache", "pvreboot")
	}
	return "/var/cache/pvreboot"
}

// hostNeedsRestrictedOOM reports whether this host cannot grant
// CAP_SYS_RESOURCE, so containerd in nodes must clamp oom_score_adj.
func hostNeedsRestrictedOOM() bool {
	missing, err := capfix.HostMissing()
	return err == nil && slices.Contains(missing, "CAP_SYS_RESOURCE")
}

type imageFlags struct {
	image, cacheDir, sourceDir, mirror string
	versions                           nodeimage.Versions
}

func (f *imageFlags) bind(cmd *cobra.Command, env map[string]string) {
	d := nodeimage.DefaultVersions()
	cmd.Flags().StringVar(&f.image, "image", "", "node image reference to tag (default pvreboot/node:<kubernetes version>)")
	cmd.Flags().StringVar(&f.cacheDir, "cache-dir", defaultCacheDir(env), "where root filesystems and built binaries are kept and reused")
	cmd.Flags().StringVar(&f.sourceDir, "source-dir", ".", "the pvreboot source tree (pause, noderoutes and copyprobe are built from it)")
	cmd.Flags().StringVar(&f.mirror, "mirror", "", "Debian mirror for debootstrap (default: the one this host's apt uses)")
	cmd.Flags().StringVar(&f.versions.Kubernetes, "kubernetes-version", d.Kubernetes, "Kubernetes version")
	cmd.Flags().StringVar(&f.versions.Etcd, "etcd-version", d.Etcd, "etcd version")
	cmd.Flags().StringVar(&f.versions.CoreDNS, "coredns-version", d.CoreDNS, "CoreDNS version")
	cmd.Flags().StringVar(&f.versions.Containerd, "containerd-version", d.Containerd, "containerd version")
	cmd.Flags().StringVar(&f.versions.Crictl, "crictl-version", d.Crictl, "crictl version")
	f.versions.Kind, f.versions.Debian = d.Kind, d.Debian
}

func (f *imageFlags) config(cmd *cobra.Command, g *globals) (nodeimage.Config, error) {
	if err := nonEmpty(cmd, "cache-dir", "source-dir", "kubernetes-version", "etcd-version", "coredns-version", "containerd-version", "crictl-version"); err != nil {
		return nodeimage.Config{}, err
	}
	if f.mirror != "" {
		if u, err := url.Parse(f.mirror); err != nil || !(u.Scheme == "http" || u.Scheme == "https" || u.Scheme == "file") || (u.Scheme != "file" && u.Host == "") {
			return nodeimage.Config{}, exitcode.Usagef("--mirror: %q is not a Debian mirror URL (http://, https:// or file:///)", f.mirror)
		}
	}
	cache, err := filepath.Abs(f.cacheDir)
	if err != nil {
		return nodeimage.Config{}, exitcode.Usagef("--cache-dir: %v", err)
	}
	src, err := sourceTree(f.sourceDir)
	if err != nil {
		return nodeimage.Config{}, err
	}
	cfg := nodeimage.Config{
		Versions: f.versions, CacheDir: cache, SourceDir: src, Image: f.image, Mirror: f.mirror,
		RestrictOOMScoreAdj: hostNeedsRestrictedOOM(), Progress: g.s.Err, Log: g.logger(),
	}
	if err := cfg.Validate(); err != nil {
		return cfg, exitcode.UsageError(errors.New(configFieldsAsFlags(err.Error())))
	}
	return cfg, nil
}

// configFieldsAsFlags renames the fields nodeimage.Config.Validate names
// ("versions.etcd: ...") after the flags that set them ("--etcd-version: ...").
func configFieldsAsFlags(msg string) string {
	lines := strings.Split(msg, "\n")
	for i, l := range lines {
		for field, flag := range map[string]string{
			"cache dir:": "--cache-dir:", "source dir:": "--source-dir:",
			"versions.kubernetes:": "--kubernetes-version:", "versions.etcd:": "--etcd-version:",
			"versions.coredns:": "--coredns-version:", "versions.containerd:": "--containerd-version:",
			"versions.crictl:": "--crictl-version:",
		} {
			if rest, ok := strings.CutPrefix(l, field); ok {
				lines[i] = flag + rest
			}
		}
	}
	return strings.Join(lines, "\n")
}

// nonEmpty rejects an empty value given to one of the named flags.
func nonEmpty(cmd *cobra.Command, names ...string) error {
	for _, n := range names {
		if f := cmd.Flags().Lookup(n); f != nil && f.Value.String() == "" {
			return exitcode.Usagef("--%s: empty", n)
		}
	}
	return nil
}

// sourceTree returns the absolute path of the pvreboot source tree at dir
// (the value of --source-dir).
func sourceTree(dir string) (string, error) {
	src, err := filepath.Abs(dir)
	if err != nil {
		return "", exitcode.Usagef("--source-dir: %v", err)
	}
	if _, err := os.Stat(filepath.Join(src, "cmd", "copyprobe")); err != nil {
		return "", exitcode.Usagef("--source-dir: %s is not the pvreboot source tree (no cmd/copyprobe)", src)
	}
	return src, nil
}

func newImageBuildCmd(g *globals) *cobra.Command {
	var f imageFlags
	cmd := &cobra.Command{
		Use:   "build",
		Short: "Build a kind node image from Debian packages and the Go module proxy (no registry needed)",
		Long: "build makes a kind node image where none can be pulled: debootstrap for the base system, Kubernetes,\n" +
			"etcd, CoreDNS, containerd and crictl built from the Go module proxy, control-plane images preloaded.\n" +
			"Every step whose output is already present (content-addressed) is skipped.",
		Example: `  pvreboot image build
  pvreboot image build --kubernetes-version v1.37.2 --image pvreboot/node:test`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := f.config(cmd, g)
			if err != nil {
				return err
			}
			res, err := nodeimage.Build(cmd.Context(), cfg)
			if err != nil {
				return err
			}
			fmt.Fprintln(g.s.Out, res.Image)
			return nil
		},
	}
	f.bind(cmd, g.env)
	return cmd
}

func newImageListCmd(g *globals) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:     "list",
		Short:   "List the node, base and probe images pvreboot built, with versions and build flags",
		Example: "  pvreboot image list\n  pvreboot image list -o json",
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if output != "text" && output != "json" {
				return exitcode.Usagef("--output: unknown format %q (want text or json)", output)
			}
			infos, err := nodeimage.List(cmd.Context(), nil)
			if err != nil {
				return err
			}
			if output == "json" {
				return writeJSON(g.s.Out, infos)
			}
			tw := tabwriter.NewWriter(g.s.Out, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "IMAGE\tKIND\tSIZE\tCREATED\tVERSIONS")
			for _, i := range infos {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", i.Reference, i.Kind, i.Size, i.Created, i.Labels[nodeimage.LabelVersions])
			}
			return tw.Flush()
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "text", "output format: text or json")
	return cmd
}

func newImageProbeCmd(g *globals) *cobra.Command {
	var sourceDir, busybox string
	cmd := &cobra.Command{
		Use:   "probe",
		Short: "Build the workload image: a scratch image with the static copyprobe and a static BusyBox",
		Example: `  pvreboot image probe
  pvreboot image probe --busybox /bin/busybox`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := nonEmpty(cmd, "source-dir", "busybox"); err != nil {
				return err
			}
			src, err := sourceTree(sourceDir)
			if err != nil {
				return err
			}
			if _, err := os.Stat(busybox); err != nil {
				return exitcode.Usagef("--busybox: %v (install Debian's busybox-static)", err)
			}
			tmp, err := os.MkdirTemp("", "pvreboot-probe-")
			if err != nil {
				return err
			}
			defer os.RemoveAll(tmp)
			bin := filepath.Join(tmp, "copyprobe")
			if _, err := runIn(cmd, src, []string{"CGO_ENABLED=0"}, "go", "build", "-trimpath", "-ldflags", "-s -w", "-o", bin, "./cmd/copyprobe"); err != nil {
				return err
			}
			ref, err := nodeimage.BuildProbeImage(cmd.Context(), nodeimage.ProbeConfig{CopyprobeBinary: bin, BusyboxBinary: busybox})
			if err != nil {
				return err
			}
			fmt.Fprintln(g.s.Out, ref)
			return nil
		},
	}
	cmd.Flags().StringVar(&sourceDir, "source-dir", ".", "the pvreboot source tree")
	cmd.Flags().StringVar(&busybox, "busybox", "/bin/busybox", "a static BusyBox binary (Debian's busybox-static)")
	return cmd
}

func runIn(cmd *cobra.Command, dir string, env []string, argv ...string) ([]byte, error) {
	return pexec.Run(cmd.Context(), pexec.Cmd{Argv: argv, Dir: dir, Env: env})
}
