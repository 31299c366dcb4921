package wait

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// ReportInterval is how often a wait that lasts says what it waits for and
// what it last saw, when its context carries a Reporter.
const ReportInterval = 10 * time.Second

// Reporter receives a wait's periodic line, e.g. "pod ns/p: waiting 20s for
// Ready, last phase=Pending ...".
type Reporter func(line string)

type reporterKey struct{}

type intervalKey struct{}

// WithReporter returns a context whose waits report through f every
// ReportInterval while they last. Without one, waits are silent.
func WithReporter(ctx context.Context, f Reporter) context.Context {
	return context.WithValue(ctx, reporterKey{}, f)
}

// lastSeen is the description of the last state a wait saw, shared between
// its watch and its reports.
type lastSeen struct {
	mu sync.Mutex
	s  string
}

func (l *lastSeen) set(s string) {
	l.mu.Lock()
	l.s = s
	l.mu.Unlock()
}

func (l *lastSeen) get() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.s == "" {
		return "nothing yet"
	}
	return l.s
}

// reportWhile reports "<object>: waiting <elapsed> for <want>, last <seen>"
// every interval through the context's Reporter until stop is called; stop
// waits for a report in flight.
func reportWhile(ctx context.Context, object, want string, seen *lastSeen) (stop func()) {
	f, _ := ctx.Value(reporterKey{}).(Reporter)
	if f == nil {
		return func() {}
	}
	every, _ := ctx.Value(intervalKey{}).(time.Duration)
	if every <= 0 {
		every = ReportInterval
	}
	t0 := time.Now()
	t := time.NewTicker(every)
	done, finished := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(finished)
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-t.C:
				f(fmt.Sprintf("%s: waiting %s for %s, last %s", object, time.Since(t0).Round(time.Second), want, seen.get()))
			}
		}
	}()
	return func() {
		t.Stop()
		close(done)
		<-finished
	}
}
