package app

import (
	"context"
	"fmt"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/pvreboot/pvreboot/cmd/internal/exitcode"
	"github.com/pvreboot/pvreboot/framework/nodeimage"
	"github.com/spf13/cobra"
)

// nodeImageFlags choose the node image of a kind cluster pvreboot makes:
// --image names one; otherwise kind's standard image is used when the
// engine has it or can pull it (--pull-image names another), else one is
// built from sources (--build-node-image skips the pull).
type nodeImageFlags struct {
	image, pull string
	build       bool
}

func (f *nodeImageFlags) add(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.image, "image", "", "kind node image for a cluster that must be made (default: kind's standard image when it can be pulled, else built from sources)")
	cmd.Flags().StringVar(&f.pull, "pull-image", "", "without --image: the standard node image to pull (default kindest/node:<kubernetes version>)")
	cmd.Flags().BoolVar(&f.build, "build-node-image", false, "without --image: build the node image from sources without trying to pull")
}

// check refuses bad values before anything is made.
func (f *nodeImageFlags) check(cmd *cobra.Command) error {
	for flag, v := range map[string]string{"image": f.image, "pull-image": f.pull} {
		if cmd.Flags().Changed(flag) && v == "" {
			return exitcode.Usagef("--%s: empty", flag)
		}
		if _, err := name.ParseReference(v); v != "" && (err != nil || strings.HasPrefix(v, "-")) {
			return exitcode.Usagef("--%s: %q is not an image reference (e.g. kindest/node:%s)", flag, v, nodeimage.DefaultVersions().Kubernetes)
		}
	}
	if f.image != "" && (f.pull != "" || f.build) {
		return exitcode.Usagef("--image names the node image: --pull-image and --build-node-image choose one when it is not given")
	}
	return nil
}

// resolver returns how to get the node image when a cluster must be made:
// nil when --image names it.
func (f *nodeImageFlags) resolver(cmd *cobra.Command, g *globals) func(context.Context) (string, error) {
	if f.image != "" {
		return nil
	}
	return func(ctx context.Context) (string, error) {
		res, err := nodeimage.Resolve(ctx, resolveConfig(cmd, g, defaultImageFlags(g.env), f.pull, f.build))
		if err != nil {
			return "", err
		}
		fmt.Fprintf(g.s.Err, "node image %s (%s) in %s\n", res.Image, res.Source, res.Elapsed.Round(1e9))
		return res.Image, nil
	}
}

// resolveConfig is how `image node`, `run` and `cluster create` resolve a
// node image: pull the standard one, else build with the build flags f.
func resolveConfig(cmd *cobra.Command, g *globals, f *imageFlags, pull string, forceBuild bool) nodeimage.ResolveConfig {
	return nodeimage.ResolveConfig{
		Kubernetes: f.versions.Kubernetes, Pull: pull, ForceBuild: forceBuild,
		RestrictOOMScoreAdj: hostNeedsRestrictedOOM(), Progress: g.s.Err,
		Build: func(ctx context.Context) (nodeimage.Result, error) {
			cfg, err := f.config(cmd, g)
			if err != nil {
				return nodeimage.Result{}, err
			}
			var done func()
			if cfg.Progress, done, err = progressOutput(f.progress, g); err != nil {
				return nodeimage.Result{}, err
			}
			defer done()
			return nodeimage.Build(ctx, cfg)
		},
	}
}

// defaultImageFlags are the build flags' defaults, for commands that build a
// node image without offering every build flag (run, cluster create).
func defaultImageFlags(env map[string]string) *imageFlags {
	return &imageFlags{cacheDir: defaultCacheDir(env), progress: progressAuto, versions: nodeimage.DefaultVersions()}
}
