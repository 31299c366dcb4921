// Command pvreboot runs reboot-scenario end-to-end tests of Kubernetes Local PersistentVolumes.
package main

import (
	"os"
	"os/signal"
	"syscall"

	"github.com/pvreboot/pvreboot/cmd/pvreboot/app"
)

func main() {
	sigs := make(chan os.Signal, 2) // the first cancels, the second exits at once
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	os.Exit(app.Main(os.Args[1:], app.Streams{In: os.Stdin, Out: os.Stdout, Err: os.Stderr}, os.Environ(), sigs, os.Exit))
}
