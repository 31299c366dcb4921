// Command pvreboot runs reboot-scenario end-to-end tests of Kubernetes Local PersistentVolumes.
//
// Invoked as "copyprobe" (the probe image's /copyprobe can be this very
// executable, see `pvreboot image probe`), it is the copyprobe command.
package main

import (
	"context"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	probeapp "github.com/pvreboot/pvreboot/cmd/copyprobe/app"
	"github.com/pvreboot/pvreboot/cmd/pvreboot/app"
)

func main() {
	if filepath.Base(os.Args[0]) == "copyprobe" {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		code := probeapp.Run(ctx, os.Args[1:], probeapp.Streams{In: os.Stdin, Out: os.Stdout, Err: os.Stderr})
		stop()
		os.Exit(code)
	}
	sigs := make(chan os.Signal, 2) // the first cancels, the second exits at once
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	os.Exit(app.Main(os.Args[1:], app.Streams{In: os.Stdin, Out: os.Stdout, Err: os.Stderr}, os.Environ(), sigs, os.Exit))
}
