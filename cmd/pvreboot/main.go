// Command pvreboot runs reboot-scenario end-to-end tests of Kubernetes Local PersistentVolumes.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/pvreboot/pvreboot/cmd/pvreboot/app"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := app.Run(ctx, os.Args[1:], app.Streams{In: os.Stdin, Out: os.Stdout, Err: os.Stderr}, os.Environ())
	stop()
	os.Exit(code)
}
