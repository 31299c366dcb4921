package app

import (
	"fmt"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/pvreboot/pvreboot/cmd/internal/exitcode"
	"github.com/pvreboot/pvreboot/framework/nodeimage"
	"github.com/spf13/cobra"
)

func newImageNodeCmd(g *globals) *cobra.Command {
	var (
		f          imageFlags
		pull       string
		forceBuild bool
	)
	cmd := &cobra.Command{
		Use:   "node",
		Short: "Get a kind node image: pull the standard one when the engine can, else build it from sources",
		Long: "node prints the node image to use for --kubernetes-version: kind's standard image (kindest/node:<version>,\n" +
			"or --pull-image) when the Docker engine has it or can pull it, in minutes; otherwise, or with\n" +
			"--build-node-image, the image `pvreboot image build` makes from sources, saying why the standard one\n" +
			"was not used (the pull error). On a host without CAP_SYS_RESOURCE only a built image can run pods.",
		Example: `  pvreboot image node
  pvreboot image node --pull-image registry.example.com/kindest/node:v1.37.2
  pvreboot image node --build-node-image`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if cmd.Flags().Changed("pull-image") && pull == "" {
				return exitcode.Usagef("--pull-image: empty")
			}
			if _, err := name.ParseReference(pull); pull != "" && (err != nil || strings.HasPrefix(pull, "-")) {
				return exitcode.Usagef("--pull-image: %q is not an image reference (e.g. kindest/node:v1.37.2)", pull)
			}
			if err := nonEmpty(cmd, "kubernetes-version"); err != nil {
				return err
			}
			rc := resolveConfig(cmd, g, &f, pull, forceBuild)
			res, err := nodeimage.Resolve(cmd.Context(), rc)
			if err != nil {
				return err
			}
			fmt.Fprintf(g.s.Err, "node image %s (%s) in %s\n", res.Image, res.Source, res.Elapsed.Round(1e9))
			fmt.Fprintln(g.s.Out, res.Image)
			return nil
		},
	}
	f.bind(cmd, g.env)
	cmd.Flags().StringVar(&pull, "pull-image", "", "the standard node image to pull (default kindest/node:<kubernetes version>)")
	cmd.Flags().BoolVar(&forceBuild, "build-node-image", false, "build from sources without trying to pull")
	return cmd
}
