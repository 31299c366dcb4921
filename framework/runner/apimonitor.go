package runner

import (
	"context"
	"fmt"
	"reflect"
	"sync"
	"time"

	"k8s.io/client-go/kubernetes"
)

// apiProbeEvery is how often the API server's /readyz is asked while a
// reboot is waited for: a watch that breaks resumes by itself (the
// informer relists), so this is how the timeline learns of the outage.
const apiProbeEvery = 2 * time.Second

// apiMonitor notes the spans during which the API server did not answer.
type apiMonitor struct {
	mu    sync.Mutex
	spans []string
	stop  context.CancelFunc
	done  chan struct{}
}

// watchAPIServer starts asking /readyz every apiProbeEvery until Stop; t0
// is the reboot's start, against which the spans are given.
func watchAPIServer(ctx context.Context, c kubernetes.Interface, t0 time.Time) *apiMonitor {
	ctx, cancel := context.WithCancel(ctx)
	m := &apiMonitor{stop: cancel, done: make(chan struct{})}
	rc := c.Discovery().RESTClient()
	if rc == nil || reflect.ValueOf(rc).IsNil() { // a fake clientset has none
		close(m.done)
		return m
	}
	go func() {
		defer close(m.done)
		var down time.Time
		tick := time.NewTicker(apiProbeEvery)
		defer tick.Stop()
		for {
			pctx, pcancel := context.WithTimeout(ctx, apiProbeEvery)
			err := rc.Get().AbsPath("/readyz").Do(pctx).Error()
			pcancel()
			if ctx.Err() != nil {
				if !down.IsZero() {
					m.add(fmt.Sprintf("the API server did not answer from +%s until the wait ended", down.Sub(t0).Round(time.Second)))
				}
				return
			}
			switch {
			case err != nil && down.IsZero():
				down = time.Now()
			case err == nil && !down.IsZero():
				m.add(fmt.Sprintf("the API server did not answer from +%s to +%s (%s); the waits resumed", down.Sub(t0).Round(time.Second),
					time.Since(t0).Round(time.Second), time.Since(down).Round(time.Second)))
				down = time.Time{}
			}
			select {
			case <-ctx.Done():
			case <-tick.C:
			}
		}
	}()
	return m
}

func (m *apiMonitor) add(s string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.spans = append(m.spans, s)
}

// Stop ends the probing and returns the outages seen.
func (m *apiMonitor) Stop() []string {
	m.stop()
	<-m.done
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.spans
}
