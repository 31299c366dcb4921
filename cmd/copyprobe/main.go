// Command copyprobe measures file copies per syscall inside a pod or on a host.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/pvreboot/pvreboot/cmd/copyprobe/app"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := app.Run(ctx, os.Args[1:], app.Streams{In: os.Stdin, Out: os.Stdout, Err: os.Stderr})
	stop()
	os.Exit(code)
}
