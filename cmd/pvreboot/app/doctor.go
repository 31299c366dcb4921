package app

import (
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/pvreboot/pvreboot/cmd/internal/exitcode"
	"github.com/pvreboot/pvreboot/framework/hostcheck"
	"github.com/pvreboot/pvreboot/framework/nodeimage"
	"github.com/spf13/cobra"
	kinddefaults "sigs.k8s.io/kind/pkg/apis/config/defaults"
)

// Where ci/docker-up.sh puts pvreboot's own Docker engine, and what a run
// needs free, in bytes.
const (
	pvrebootDockerHost = "unix:///run/pvreboot/docker.sock"
	capfixRuntime      = "runc-capfix"
	localPVDir         = "/var/lib/pvreboot" // kind clusters' Local PV host directories
	needLocalPV        = 4 << 30             // the default scenario's 2 GiB volume and its image file, with room
	needBuildCache     = 12 << 30            // debootstrap rootfs and built binaries (the Go caches take ~9 GiB more)
	needDocker         = 8 << 30             // a 1.4 GB node image, its build's layers, three node containers
)

func newDoctorCmd(g *globals) *cobra.Command {
	var image, cacheDir, output string
	var registryTimeout time.Duration
	cmd := &cobra.Command{
		Use:   "doctor",
		Short: "Check this host before a run and say what a run will do and how to fix what blocks it",
		Long: "doctor checks the Docker engine a run will use (pvreboot's own, selected by DOCKER_HOST, or the system one),\n" +
			"the capability bounding set, the cgroup version, loop devices, free disk where images, volumes and the build\n" +
			"cache go, whether the kind node image registry answers and whether the node image is there. It prints what a\n" +
			"run will do and how to fix what blocks it, and exits 3 when something blocks a run, else 0.",
		Example: `  pvreboot doctor
  pvreboot doctor --image pvreboot/node:v1.37.2 -o json`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if output != "text" && output != "json" {
				return exitcode.Usagef("--output: unknown format %q (want text or json)", output)
			}
			if err := nonEmpty(cmd, "image", "cache-dir"); err != nil {
				return err
			}
			if registryTimeout <= 0 {
				return exitcode.Usagef("--registry-timeout: %s is not positive", registryTimeout)
			}
			if _, err := name.ParseReference(image); err != nil {
				return exitcode.Usagef("--image: %v", err)
			}
			cache, err := filepath.Abs(cacheDir)
			if err != nil {
				return exitcode.Usagef("--cache-dir: %v", err)
			}
			pull, err := name.ParseReference(kinddefaults.Image)
			if err != nil {
				return err
			}
			root, ok := os.DirFS("/").(fs.StatFS)
			if !ok {
				return errors.New("doctor: the root file system cannot be read")
			}
			host := hostcheck.Host{
				Root: root, Free: hostcheck.Statfs,
				Docker:   hostcheck.DockerCLI{Argv: []string{"docker"}},
				Registry: hostcheck.HTTPRegistry{Client: &http.Client{}},
			}
			cfg := hostcheck.Config{
				DockerHost: g.env["DOCKER_HOST"], OwnDockerHost: pvrebootDockerHost, OwnDockerEnv: pvrebootDockerEnv,
				CapfixRuntime: capfixRuntime, NodeImage: image,
				PullImage: strings.SplitN(kinddefaults.Image, "@", 2)[0], PullRegistry: pull.Context().RegistryStr(),
				RegistryTimeout: registryTimeout,
				Dirs: []hostcheck.Dir{
					{Path: localPVDir, What: "Local PV volumes", Need: needLocalPV},
					{Path: cache, What: "node image build cache", Need: needBuildCache, ForBuild: true},
				},
				DockerNeed: needDocker,
			}
			rep := hostcheck.Run(cmd.Context(), host, cfg)
			if output == "json" {
				if err := writeJSON(g.s.Out, rep); err != nil {
					return err
				}
			} else if err := writeDoctor(g, rep); err != nil {
				return err
			}
			if rep.Blocked() {
				return errors.New("doctor: something blocks a run on this host (see the fixes above)")
			}
			return nil
		},
	}
	def := g.env["PVREBOOT_NODE_IMAGE"]
	if def == "" {
		def = "pvreboot/node:" + nodeimage.DefaultVersions().Kubernetes
	}
	cmd.Flags().StringVar(&image, "image", def, "the node image a run will use ($PVREBOOT_NODE_IMAGE when set)")
	cmd.Flags().StringVar(&cacheDir, "cache-dir", defaultCacheDir(g.env), "the node image build's cache (see pvreboot image build)")
	cmd.Flags().DurationVar(&registryTimeout, "registry-timeout", 5*time.Second, "how long to wait for the node image registry to answer")
	cmd.Flags().StringVarP(&output, "output", "o", "text", "output format: text or json")
	return cmd
}

func writeDoctor(g *globals, rep hostcheck.Report) error {
	tw := tabwriter.NewWriter(g.s.Out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "CHECK\tSTATUS\tFOUND")
	for _, c := range rep.Checks {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", c.Name, c.Status, c.Found)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(g.s.Out, "\nWhat a run will do:")
	for _, p := range rep.Plan {
		fmt.Fprintln(g.s.Out, "  - "+p)
	}
	var fixes []string
	for _, c := range rep.Checks {
		if c.Fix != "" && c.Status != hostcheck.OK {
			fixes = append(fixes, fmt.Sprintf("  - %s (%s): %s", c.Name, c.Status, c.Fix))
		}
	}
	if len(fixes) > 0 {
		fmt.Fprintln(g.s.Out, "\nHow to fix:")
		fmt.Fprintln(g.s.Out, strings.Join(fixes, "\n"))
	}
	return nil
}
