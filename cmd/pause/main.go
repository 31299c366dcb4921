// Command pause is the pod sandbox process of pvreboot's node images (see
// cmd/pause/app); it exits 0 on SIGINT or SIGTERM.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/pvreboot/pvreboot/cmd/pause/app"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := app.Run(ctx, os.Stderr)
	stop()
	os.Exit(code)
}
