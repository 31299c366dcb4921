// Package app is the pause command, the pod sandbox process of pvreboot's
// node images: it holds the pod's namespaces, reaps orphaned children when it
// is PID 1 of a shared PID namespace, and returns when its context ends.
// cmd/pause and cmd/pvreboot (invoked as "pause") are its mains.
package app

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// Run holds on until ctx ends (main ends it on SIGINT or SIGTERM), reaping
// every exited child on SIGCHLD, and returns 0. Like Kubernetes' pause, it
// warns on stderr when it is not PID 1 (orphans then go to another reaper);
// the warning comes once the signals are subscribed.
func Run(ctx context.Context, stderr io.Writer) int {
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, syscall.SIGCHLD)
	defer signal.Stop(sigs)
	if os.Getpid() != 1 {
		fmt.Fprintln(stderr, "pause: warning: not PID 1 (pause should be the first process of the pod)")
	}
	for {
		select {
		case <-ctx.Done():
			return 0
		case <-sigs:
			reap()
		}
	}
}

// reap collects every child that has exited, without blocking.
func reap() {
	for {
		var ws syscall.WaitStatus
		pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
		if pid <= 0 || err != nil {
			return
		}
	}
}
