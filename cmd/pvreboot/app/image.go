package app

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/pvreboot/pvreboot/cmd/internal/exitcode"
	"github.com/pvreboot/pvreboot/framework/capfix"
	kindprovider "github.com/pvreboot/pvreboot/framework/cluster/kind"
	"github.com/pvreboot/pvreboot/framework/nodeimage"
	"github.com/pvreboot/pvreboot/framework/probeimage"
	"github.com/spf13/cobra"
)

func newImageCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "image",
		Short: "Build and list kind node images and the probe image without a registry",
		Example: `  pvreboot image build
  pvreboot image list`,
	}
	cmd.AddCommand(newImageBuildCmd(g), newImageNodeCmd(g), newImageProbeCmd(g), newImageListCmd(g))
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
	progress                           string
	versions                           nodeimage.Versions
}

func (f *imageFlags) bind(cmd *cobra.Command, env map[string]string) {
	d := nodeimage.DefaultVersions()
	cmd.Flags().StringVar(&f.image, "image", "", "node image reference to tag (default pvreboot/node:<kubernetes version>)")
	cmd.Flags().StringVar(&f.cacheDir, "cache-dir", defaultCacheDir(env), "where root filesystems and built binaries are kept and reused")
	cmd.Flags().StringVar(&f.sourceDir, "source-dir", "", "the pvreboot source tree to build the node's pause and noderoutes from (default: . when it is one, else this executable when static)")
	cmd.Flags().StringVar(&f.mirror, "mirror", "", "Debian mirror for debootstrap (default: the one this host's apt uses)")
	cmd.Flags().StringVar(&f.progress, "progress", progressAuto, "auto (bars on a terminal, plain lines in CI), plain (a line per step and a heartbeat every 10s) or bar")
	cmd.Flags().StringVar(&f.versions.Kubernetes, "kubernetes-version", d.Kubernetes, "Kubernetes version")
	cmd.Flags().StringVar(&f.versions.Etcd, "etcd-version", d.Etcd, "etcd version")
	cmd.Flags().StringVar(&f.versions.CoreDNS, "coredns-version", d.CoreDNS, "CoreDNS version")
	cmd.Flags().StringVar(&f.versions.Containerd, "containerd-version", d.Containerd, "containerd version")
	cmd.Flags().StringVar(&f.versions.Crictl, "crictl-version", d.Crictl, "crictl version")
	f.versions.Kind, f.versions.Debian = d.Kind, d.Debian
}

func (f *imageFlags) config(cmd *cobra.Command, g *globals) (nodeimage.Config, error) {
	if cmd.Flags().Changed("source-dir") && f.sourceDir == "" {
		return nodeimage.Config{}, exitcode.Usagef("--source-dir: empty")
	}
	if err := nonEmpty(cmd, "cache-dir", "kubernetes-version", "etcd-version", "coredns-version", "containerd-version", "crictl-version"); err != nil {
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
	cfg := nodeimage.Config{
		Versions: f.versions, CacheDir: cache, Image: f.image, Mirror: f.mirror,
		RestrictOOMScoreAdj: hostNeedsRestrictedOOM(), Progress: g.s.Err, Log: g.logger(),
	}
	if cfg.SourceDir, cfg.Executable, err = f.ownBinaries(cmd.Flags().Changed("source-dir"), selfExecutable); err != nil {
		return cfg, err
	}
	if err := cfg.Validate(); err != nil {
		return cfg, exitcode.UsageError(errors.New(configFieldsAsFlags(err.Error())))
	}
	if cfg.Executable != "" {
		fmt.Fprintf(g.s.Err, "pause, noderoutes: this executable (static), %s\n", cfg.Executable)
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

// ownBinaries says where the node's pause and noderoutes come from: the
// source tree --source-dir names when given (explicit); else the source
// tree at f.sourceDir (default .) when it is one, else this executable
// (self, selfExecutable outside tests) when it is static: it runs them when
// invoked under their names.
func (f *imageFlags) ownBinaries(explicit bool, self func() (string, error)) (sourceDir, executable string, err error) {
	if explicit {
		src, err := sourceTree(f.sourceDir)
		return src, "", err
	}
	dir := cmp.Or(f.sourceDir, ".")
	if src, err := sourceTree(dir); err == nil {
		return src, "", nil
	}
	exe, err := self()
	if err == nil {
		err = probeimage.CheckStatic(exe, probeimage.HostPlatform())
	}
	if err != nil {
		why := err.Error()
		if errors.Is(err, probeimage.ErrNotStatic) {
			why = exe + " is not static"
		}
		abs, _ := filepath.Abs(dir)
		return "", "", exitcode.Usagef("--source-dir not given: %s is not the pvreboot source tree (no cmd/copyprobe), "+
			"and this executable cannot stand in for pause and noderoutes (%s): build it with CGO_ENABLED=0 or pass --source-dir", abs, why)
	}
	return "", exe, nil
}

// selfExecutable is the path of the running executable, symlinks resolved.
func selfExecutable() (string, error) {
	self, err := os.Executable()
	if err != nil {
		return "", err
	}
	if s, err := filepath.EvalSymlinks(self); err == nil {
		self = s
	}
	return self, nil
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
			"Every step whose output is already present (content-addressed) is skipped. The node's pause and noderoutes\n" +
			"are built from the pvreboot source tree (--source-dir, or . when it is one), else they are this executable\n" +
			"when it is static (built with CGO_ENABLED=0): a static pvreboot runs them when invoked under their names.",
		Example: `  pvreboot image build
  pvreboot image build --kubernetes-version v1.37.2 --image pvreboot/node:test`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := f.config(cmd, g)
			if err != nil {
				return err
			}
			var done func()
			if cfg.Progress, done, err = progressOutput(f.progress, g); err != nil {
				return err
			}
			res, err := nodeimage.Build(cmd.Context(), cfg)
			done()
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
	var f probeFlags
	cmd := &cobra.Command{
		Use:   "probe",
		Short: "Assemble the copyprobe workload image (static copyprobe and BusyBox) without a Docker build",
		Long: "probe assembles the workload image with go-containerregistry: a static /copyprobe (this executable when\n" +
			"it is static, else cmd/copyprobe built from the module source) and a static BusyBox (/bin/busybox, else\n" +
			"Debian's busybox-static through apt-get), one image per platform. No Dockerfile, no source directory needed.\n\n" +
			"With no --push or --load, the image for this host's platform is loaded into the Docker engine and its\n" +
			"reference printed. --load also puts it into the nodes of a kind cluster; --push REF pushes an image index\n" +
			"(linux/amd64 and linux/arm64 unless --platform says otherwise) with the credentials `docker login` keeps.",
		Example: `  pvreboot image probe
  pvreboot image probe --load --name pvreboot
  pvreboot image probe --push registry.example.com/pvreboot/copyprobe:v1
  pvreboot image probe --push REF --busybox linux/arm64=/srv/arm64/busybox`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			o, err := f.options(cmd, g)
			if err != nil {
				return err
			}
			if o.push == nil {
				var c *kindprovider.Cluster
				if f.load {
					if c, err = kindCluster(ctx, g, f.name); err != nil {
						return err
					}
				}
				ref, err := assembleProbeImage(ctx, g, o)
				if err != nil {
					return err
				}
				if c != nil {
					if err := loadIntoKind(ctx, g, c, ref); err != nil {
						return err
					}
				}
				fmt.Fprintln(g.s.Out, ref)
				return nil
			}
			start := time.Now()
			vs, err := o.sources.Variants(ctx, o.platforms)
			if err != nil {
				return err
			}
			idx, err := probeimage.Index(vs)
			if err != nil {
				return err
			}
			if err := describeVariants(g, idx, vs); err != nil {
				return err
			}
			d, err := probeimage.Push(ctx, o.push, idx, authn.DefaultKeychain)
			if err != nil {
				return err
			}
			fmt.Fprintf(g.s.Err, "pushed %s (%d platforms) in %s\n", d, len(vs), time.Since(start).Round(time.Millisecond))
			fmt.Fprintln(g.s.Out, d)
			return nil
		},
	}
	f.bind(cmd, g.env)
	return cmd
}

type probeFlags struct {
	platforms            []string
	push, name, cacheDir string
	sourceDir            string
	load                 bool
	copyprobe, busyboxes []string
}

func (f *probeFlags) bind(cmd *cobra.Command, env map[string]string) {
	cmd.Flags().StringSliceVar(&f.platforms, "platform", nil, "platforms os/arch, comma separated (default: this host's; linux/amd64,linux/arm64 with --push)")
	cmd.Flags().StringVar(&f.push, "push", "", "push the image index to this reference (registry/repository:tag)")
	cmd.Flags().BoolVar(&f.load, "load", false, "also load the image into every node of the kind cluster --name")
	cmd.Flags().StringVar(&f.name, "name", defaultClusterName, "kind cluster for --load")
	cmd.Flags().StringVar(&f.cacheDir, "cache-dir", defaultCacheDir(env), "where built copyprobe and downloaded BusyBox binaries are kept")
	cmd.Flags().StringVar(&f.sourceDir, "source-dir", "", "a pvreboot source tree to build copyprobe from (default: the one this executable was built from, if present)")
	cmd.Flags().StringArrayVar(&f.copyprobe, "copyprobe", nil, "a static copyprobe, PLATFORM=PATH or PATH for this host's platform (repeatable)")
	cmd.Flags().StringArrayVar(&f.busyboxes, "busybox", nil, "a static BusyBox, PLATFORM=PATH or PATH for this host's platform (repeatable; default /bin/busybox, else Debian's busybox-static)")
}

// probeOptions are the checked flags of `image probe`.
type probeOptions struct {
	platforms []v1.Platform
	push      name.Reference
	sources   probeimage.Sources
}

func (f *probeFlags) options(cmd *cobra.Command, g *globals) (probeOptions, error) {
	var o probeOptions
	if err := nonEmpty(cmd, "cache-dir", "name"); err != nil {
		return o, err
	}
	for _, n := range []string{"push", "source-dir"} {
		if cmd.Flags().Changed(n) && cmd.Flags().Lookup(n).Value.String() == "" {
			return o, exitcode.Usagef("--%s: empty", n)
		}
	}
	if f.push != "" {
		if f.load {
			return o, exitcode.Usagef("--push and --load: choose one")
		}
		ref, err := name.ParseReference(f.push)
		if err != nil || strings.HasPrefix(f.push, "-") {
			return o, exitcode.Usagef("--push: %q is not an image reference (registry/repository:tag)", f.push)
		}
		o.push = ref
	}
	plats := f.platforms
	if len(plats) == 0 && o.push != nil {
		plats = []string{"linux/amd64", "linux/arm64"}
	}
	host := probeimage.HostPlatform()
	for _, s := range plats {
		p, err := probeimage.ParsePlatform(s)
		if err != nil {
			return o, exitcode.Usagef("--platform: %v", err)
		}
		if slices.ContainsFunc(o.platforms, p.Equals) {
			return o, exitcode.Usagef("--platform: %s given twice", s)
		}
		o.platforms = append(o.platforms, p)
	}
	if len(o.platforms) == 0 {
		o.platforms = []v1.Platform{host}
	}
	if o.push == nil && (len(o.platforms) != 1 || !o.platforms[0].Equals(host)) {
		return o, exitcode.Usagef("--platform: only %s can be loaded on this host (use --push for others)", probeimage.PlatformString(host))
	}
	cache, err := filepath.Abs(f.cacheDir)
	if err != nil {
		return o, exitcode.Usagef("--cache-dir: %v", err)
	}
	cp, err := platformPaths("copyprobe", f.copyprobe, host)
	if err != nil {
		return o, err
	}
	bb, err := platformPaths("busybox", f.busyboxes, host)
	if err != nil {
		return o, err
	}
	src := probeSources(g, cache)
	src.Copyprobe, src.Busybox = cp, bb
	if f.sourceDir != "" {
		d, err := sourceTree(f.sourceDir)
		if err != nil {
			return o, err
		}
		src.SourceDirs = []string{d}
	}
	o.sources = src
	return o, nil
}

// platformPaths reads repeated PLATFORM=PATH values (a bare PATH is for
// host) of the flag called flag.
func platformPaths(flag string, vals []string, host v1.Platform) (map[string]string, error) {
	m := map[string]string{}
	for _, v := range vals {
		if v == "" {
			return nil, exitcode.Usagef("--%s: empty", flag)
		}
		plat, path, ok := strings.Cut(v, "=")
		if !ok {
			plat, path = probeimage.PlatformString(host), v
		}
		p, err := probeimage.ParsePlatform(plat)
		if err != nil {
			return nil, exitcode.Usagef("--%s %s: %v", flag, v, err)
		}
		if path == "" {
			return nil, exitcode.Usagef("--%s %s: empty path", flag, v)
		}
		abs, err := filepath.Abs(path)
		if err != nil {
			return nil, exitcode.Usagef("--%s %s: %v", flag, v, err)
		}
		if _, err := os.Stat(abs); err != nil {
			return nil, exitcode.Usagef("--%s: %v", flag, err)
		}
		key := probeimage.PlatformString(p)
		if _, dup := m[key]; dup {
			return nil, exitcode.Usagef("--%s: %s given twice", flag, key)
		}
		m[key] = abs
	}
	return m, nil
}

// probeSources says where this executable finds the probe image's
// binaries: itself when static (main dispatches on argv[0] "copyprobe"),
// the source tree it was built from when still there, the module cache copy
// of its version, /bin/busybox, Debian's busybox-static.
func probeSources(g *globals, cache string) probeimage.Sources {
	src := probeimage.Sources{CacheDir: cache, HostBusybox: "/bin/busybox", Progress: g.s.Err, Log: g.logger()}
	if self, err := selfExecutable(); err == nil {
		src.Self = self
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		src.Module, src.Version = bi.Main.Path, bi.Main.Version
	}
	if src.Module == "" {
		src.Module = "github.com/pvreboot/pvreboot"
	}
	// Without -trimpath the file names compiled in are where the source was.
	if _, file, _, ok := runtime.Caller(0); ok && filepath.IsAbs(file) {
		src.SourceDirs = append(src.SourceDirs, filepath.Dir(filepath.Dir(filepath.Dir(filepath.Dir(file)))))
	}
	return src
}

// assembleProbeImage assembles the image for this host's platform, loads it
// into the Docker engine (unless there) and returns its reference.
func assembleProbeImage(ctx context.Context, g *globals, o probeOptions) (string, error) {
	start := time.Now()
	vs, err := o.sources.Variants(ctx, o.platforms)
	if err != nil {
		return "", err
	}
	img, err := probeimage.Image(vs[0])
	if err != nil {
		return "", err
	}
	tag, err := probeimage.LocalTag(img)
	if err != nil {
		return "", err
	}
	if err := describeImage(g, vs[0], img); err != nil {
		return "", err
	}
	assembled := time.Since(start)
	loaded, err := probeimage.LoadDocker(ctx, nil, tag, img)
	if err != nil {
		return "", err
	}
	what := "already in the Docker engine"
	if loaded {
		what = "loaded into the Docker engine"
	}
	fmt.Fprintf(g.s.Err, "probe image %s: assembled in %s, %s (%s total)\n", tag, assembled.Round(time.Millisecond), what, time.Since(start).Round(time.Millisecond))
	return tag.String(), nil
}

func describeVariants(g *globals, idx v1.ImageIndex, vs []probeimage.Variant) error {
	im, err := idx.IndexManifest()
	if err != nil {
		return err
	}
	for i, v := range vs {
		img, err := idx.Image(im.Manifests[i].Digest)
		if err != nil {
			return err
		}
		if err := describeImage(g, v, img); err != nil {
			return err
		}
	}
	d, err := idx.Digest()
	if err != nil {
		return err
	}
	fmt.Fprintf(g.s.Err, "index %s\n", d)
	return nil
}

func describeImage(g *globals, v probeimage.Variant, img v1.Image) error {
	d, err := img.Digest()
	if err != nil {
		return err
	}
	size, err := probeimage.Size(img)
	if err != nil {
		return err
	}
	fmt.Fprintf(g.s.Err, "%s: %s, %.1f MB compressed; /copyprobe: %s; /bin/busybox: %s\n",
		probeimage.PlatformString(v.Platform), d, float64(size)/1e6, v.Copyprobe.From, v.Busybox.From)
	return nil
}

// kindCluster returns the kind cluster --name names.
func kindCluster(ctx context.Context, g *globals, clusterName string) (*kindprovider.Cluster, error) {
	c, err := kindprovider.New(g.logger(), g.s.Err).Get(ctx, clusterName)
	if errors.Is(err, kindprovider.ErrNotFound) {
		return nil, exitcode.Usagef("--name: %v", err)
	}
	return c, err
}

// loadIntoKind puts an image of the Docker engine into every node of c.
func loadIntoKind(ctx context.Context, g *globals, c *kindprovider.Cluster, ref string) error {
	start := time.Now()
	if err := c.LoadImage(ctx, ref); err != nil {
		return err
	}
	fmt.Fprintf(g.s.Err, "probe image %s loaded into the nodes of kind cluster %s in %s\n", ref, c.Name(), time.Since(start).Round(time.Millisecond))
	return nil
}

// defaultProbeImage is the probe image of a run given none: assembled for
// this host and loaded into the Docker engine, from where the run loads it
// into the kind nodes.
func defaultProbeImage(ctx context.Context, g *globals) (string, error) {
	host := probeimage.HostPlatform()
	cache, err := filepath.Abs(defaultCacheDir(g.env))
	if err != nil {
		return "", err
	}
	src := probeSources(g, cache)
	ref, err := assembleProbeImage(ctx, g, probeOptions{platforms: []v1.Platform{host}, sources: src})
	if err != nil {
		return "", fmt.Errorf("probe image (none given with --probe-image): %w", err)
	}
	return ref, nil
}
