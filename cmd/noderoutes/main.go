// Command noderoutes is the pod network daemon of pvreboot's offline kind node
// images (see cmd/noderoutes/app).
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/pvreboot/pvreboot/cmd/noderoutes/app"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := app.Run(ctx, os.Args[1:], os.Getenv, os.Stderr)
	stop()
	os.Exit(code)
}
