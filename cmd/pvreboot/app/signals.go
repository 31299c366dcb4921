package app

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"

	"github.com/pvreboot/pvreboot/cmd/internal/exitcode"
)

// Main runs pvreboot as a process: Run, with what sigs delivers (main
// subscribes it to SIGINT and SIGTERM). The first signal cancels the
// command's context; the command cleans up and returns, and Main returns
// exitcode.Signal of that signal (130, 143) whatever the command returned.
// A second signal calls exit at once with the same code, after printing what
// the live run, if any, leaves behind and how to remove it.
func Main(args []string, s Streams, environ []string, sigs <-chan os.Signal, exit func(int)) int {
	live := &liveRun{}
	return supervise(sigs, s.Err, live, exit, func(ctx context.Context) int {
		return execute(ctx, args, s, environ, live)
	})
}

// supervise runs cmd until it returns, turning signals into cancellation,
// exit codes and, on the second, an immediate exit.
func supervise(sigs <-chan os.Signal, stderr io.Writer, live *liveRun, exit func(int), cmd func(context.Context) int) int {
	// The process's root context: Main is main's body.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan int, 1)
	go func() { done <- cmd(ctx) }()
	var first os.Signal
	for {
		select {
		case code := <-done:
			if first != nil {
				return exitcode.Signal(first)
			}
			return code
		case sig := <-sigs:
			if first == nil {
				first = sig
				fmt.Fprintf(stderr, "pvreboot: %v: stopping and cleaning up (signal again to exit at once, leaving things behind)\n", sig)
				cancel()
				continue
			}
			fmt.Fprint(stderr, live.report())
			code := exitcode.Signal(first)
			exit(code)
			return code // exit returns only in tests
		}
	}
}

// leftovers is what a run in progress can tell about itself for a second
// interrupt to print: its ID, and what it made and has not removed yet
// (namespace, PVs, node backings), one human-readable item each. Leftovers
// is called from the signal handling while the run cleans up: it must be
// safe for concurrent use and return at once (no API calls).
type leftovers interface {
	Leftovers() []string
	RunID() string
}

// liveRun holds the run in progress, if any: set by the run command while a
// run is live, read by the signal handling.
type liveRun struct {
	mu  sync.Mutex
	run leftovers
}

// registerRun records r as the live run until the returned func is called:
// `defer g.registerRun(run)()` right after the run is made.
func (g *globals) registerRun(r leftovers) (unregister func()) {
	g.live.mu.Lock()
	g.live.run = r
	g.live.mu.Unlock()
	return func() {
		g.live.mu.Lock()
		g.live.run = nil
		g.live.mu.Unlock()
	}
}

// report says what exiting now leaves behind.
func (l *liveRun) report() string {
	l.mu.Lock()
	r := l.run
	l.mu.Unlock()
	if r == nil {
		return "pvreboot: interrupted again: exiting now\n"
	}
	id := r.RunID()
	items := r.Leftovers()
	if len(items) == 0 {
		return fmt.Sprintf("pvreboot: interrupted again: exiting without finishing cleanup; run %s has left nothing behind\n", id)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "pvreboot: interrupted again: exiting without finishing cleanup; left behind by run %s:\n", id)
	for _, it := range items {
		fmt.Fprintf(&b, "  %s\n", it)
	}
	fmt.Fprintf(&b, "remove them with: pvreboot cleanup --run %s\n", id)
	return b.String()
}
