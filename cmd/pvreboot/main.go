// Command pvreboot runs reboot-scenario end-to-end tests of Kubernetes Local PersistentVolumes.
//
// A static pvreboot carries the programs pvreboot puts into images, and runs
// one of them when invoked under its name (argv[0]'s base name):
//   - "copyprobe": the probe image's /copyprobe (see `pvreboot image probe`);
//   - "pause": the pod sandbox process, /pause of a built node image;
//   - "noderoutes": the pod network daemon, /noderoutes of a built node image
//     (see `pvreboot image build` without a source tree).
package main

import (
	"context"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	probeapp "github.com/pvreboot/pvreboot/cmd/copyprobe/app"
	noderoutesapp "github.com/pvreboot/pvreboot/cmd/noderoutes/app"
	pauseapp "github.com/pvreboot/pvreboot/cmd/pause/app"
	"github.com/pvreboot/pvreboot/cmd/pvreboot/app"
)

func main() {
	s := app.Streams{In: os.Stdin, Out: os.Stdout, Err: os.Stderr}
	if run := carried(filepath.Base(os.Args[0]), os.Getenv, s); run != nil {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		code := run(ctx, os.Args[1:])
		stop()
		os.Exit(code)
	}
	sigs := make(chan os.Signal, 2) // the first cancels, the second exits at once
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	os.Exit(app.Main(os.Args[1:], s, os.Environ(), sigs, os.Exit))
}

// carried returns the command this executable carries under name
// (copyprobe, pause, noderoutes), which runs until its context ends and
// returns its exit code; nil for any other name (pvreboot itself).
func carried(name string, getenv func(string) string, s app.Streams) func(ctx context.Context, args []string) int {
	switch name {
	case "copyprobe":
		return func(ctx context.Context, args []string) int {
			return probeapp.Run(ctx, args, probeapp.Streams{In: s.In, Out: s.Out, Err: s.Err})
		}
	case "pause":
		return func(ctx context.Context, _ []string) int { return pauseapp.Run(ctx, s.Err) }
	case "noderoutes":
		return func(ctx context.Context, args []string) int { return noderoutesapp.Run(ctx, args, getenv, s.Err) }
	}
	return nil
}
