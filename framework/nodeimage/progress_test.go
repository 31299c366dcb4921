package nodeimage

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeClock is a clock the test moves.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// chanSink hands every event to the test.
type chanSink chan StepEvent

func (s chanSink) StepEvent(ev StepEvent) { s <- ev }

// fakeTicker is a heartbeat ticker the test fires by hand.
func fakeTicker(ticks chan time.Time, asked *time.Duration) func(time.Duration) (<-chan time.Time, func()) {
	return func(d time.Duration) (<-chan time.Time, func()) {
		*asked = d
		return ticks, func() {}
	}
}

func TestHeartbeatIntervalIsAtMostTenSeconds(t *testing.T) {
	t.Parallel()
	if HeartbeatInterval > 10*time.Second || HeartbeatInterval <= 0 {
		t.Fatalf("HeartbeatInterval %s: the build must speak at least every 10s", HeartbeatInterval)
	}
}

// TestStepHeartbeats drives a step with a fake clock and ticker: one
// running event per tick, with the elapsed time, the estimate and what the
// step last said; the step's duration is recorded for the next estimate.
func TestStepHeartbeats(t *testing.T) {
	t.Parallel()
	clock := &fakeClock{t: time.Unix(1_000_000, 0)}
	ticks := make(chan time.Time)
	var asked time.Duration
	sink := make(chanSink, 16)
	hist := filepath.Join(t.TempDir(), historyFile)
	p := &progress{w: &bytes.Buffer{}, start: clock.now(), sink: sink, history: hist, now: clock.now, ticker: fakeTicker(ticks, &asked)}

	release := make(chan struct{})
	stepErr := make(chan error, 1)
	go func() {
		stepErr <- p.step("go build kubernetes-v1.37.2", func() (bool, error) {
			<-release
			return false, nil
		})
	}()
	want := func(phase StepPhase, elapsed time.Duration, detail string) StepEvent {
		t.Helper()
		ev := <-sink
		if ev.Step != "go build kubernetes-v1.37.2" || ev.Phase != phase || ev.Elapsed != elapsed || ev.Detail != detail {
			t.Fatalf("event %+v, want phase %s, elapsed %s, detail %q", ev, phase, elapsed, detail)
		}
		return ev
	}
	if ev := want(StepStarted, 0, ""); ev.Samples != 0 || ev.Estimate != 0 {
		t.Errorf("first build: estimate %s from %d, want none", ev.Estimate, ev.Samples)
	}
	if asked != HeartbeatInterval {
		t.Errorf("ticker every %s, want HeartbeatInterval %s", asked, HeartbeatInterval)
	}
	for i, detail := range []string{"", "compiling k8s.io/api/core/v1", "compiling k8s.io/kubernetes/pkg/kubelet"} {
		if detail != "" {
			p.note("go build kubernetes-v1.37.2", detail)
		}
		clock.advance(10 * time.Second)
		ticks <- clock.now()
		want(StepRunning, time.Duration(i+1)*10*time.Second, detail)
	}
	clock.advance(5 * time.Second)
	close(release)
	want(StepDone, 35*time.Second, "")
	if err := <-stepErr; err != nil {
		t.Fatal(err)
	}

	// The next build of that step has an estimate.
	if est, n := p.estimate("go build kubernetes-v1.37.2"); est != 35*time.Second || n != 1 {
		t.Errorf("estimate after one build: %s from %d, want 35s from 1", est, n)
	}
}

func TestStepReusedOrFailedIsNotRecorded(t *testing.T) {
	t.Parallel()
	hist := filepath.Join(t.TempDir(), historyFile)
	sink := make(chanSink, 16)
	p := &progress{w: &bytes.Buffer{}, start: time.Now(), sink: sink, history: hist, every: time.Hour}
	if err := p.step("base image", func() (bool, error) { return true, nil }); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	if err := p.step("base image", func() (bool, error) { return false, boom }); !errors.Is(err, boom) {
		t.Fatalf("step error %v, want boom", err)
	}
	var phases []StepPhase
	for len(sink) > 0 {
		phases = append(phases, (<-sink).Phase)
	}
	if want := []StepPhase{StepStarted, StepReused, StepStarted, StepFailed}; !equalPhases(phases, want) {
		t.Errorf("phases %v, want %v", phases, want)
	}
	if _, err := os.Stat(hist); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("history written for a reused or failed step: %v", err)
	}
}

func equalPhases(a, b []StepPhase) bool {
	return strings.Join(phaseStrings(a), ",") == strings.Join(phaseStrings(b), ",")
}

func phaseStrings(ps []StepPhase) []string {
	var s []string
	for _, p := range ps {
		s = append(s, string(p))
	}
	return s
}

func TestEstimate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		history string // file content; "" for no file
		want    time.Duration
		samples int
	}{
		{name: "no history", want: 0, samples: 0},
		{name: "one", history: `{"s": [120]}`, want: 120 * time.Second, samples: 1},
		{name: "median of odd", history: `{"s": [60, 1560, 116]}`, want: 116 * time.Second, samples: 3},
		{name: "median of even", history: `{"s": [100, 200]}`, want: 150 * time.Second, samples: 2},
		{name: "other steps only", history: `{"t": [5]}`, want: 0, samples: 0},
		{name: "damaged", history: `{"s": [1`, want: 0, samples: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			hist := filepath.Join(t.TempDir(), historyFile)
			if tt.history != "" {
				if err := os.WriteFile(hist, []byte(tt.history), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			p := &progress{history: hist}
			if got, n := p.estimate("s"); got != tt.want || n != tt.samples {
				t.Errorf("estimate = %s from %d, want %s from %d", got, n, tt.want, tt.samples)
			}
		})
	}
}

func TestRecordKeepsTheLastFew(t *testing.T) {
	t.Parallel()
	hist := filepath.Join(t.TempDir(), historyFile)
	p := &progress{history: hist}
	for i := 1; i <= historyKeep+2; i++ {
		if err := p.record("s", time.Duration(i)*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(hist)
	if err != nil {
		t.Fatal(err)
	}
	var d durations
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatal(err)
	}
	if len(d["s"]) != historyKeep || d["s"][0] != 3 || d["s"][historyKeep-1] != historyKeep+2 {
		t.Errorf("history %v, want the last %d of 1..%d", d["s"], historyKeep, historyKeep+2)
	}
}

func TestStepLine(t *testing.T) {
	t.Parallel()
	tests := []struct {
		ev   StepEvent
		want string
	}{
		{StepEvent{Step: "go build etcd-v3.7.0", Phase: StepStarted}, "go build etcd-v3.7.0: started (no estimate yet: no earlier run of this step recorded on this machine)"},
		{StepEvent{Step: "go build etcd-v3.7.0", Phase: StepStarted, Estimate: 269 * time.Second, Samples: 2}, "go build etcd-v3.7.0: started (estimate ~4m29s from 2 earlier builds on this machine)"},
		{StepEvent{Step: "s", Phase: StepRunning, Elapsed: 20 * time.Second, Detail: "compiling go.etcd.io/etcd/server/v3/etcdserver"}, "s: running for 20s (no estimate yet), compiling go.etcd.io/etcd/server/v3/etcdserver"},
		{StepEvent{Step: "s", Phase: StepRunning, Elapsed: 90 * time.Second, Estimate: time.Minute, Samples: 1}, "s: running for 1m30s of ~1m0s (longer than before)"},
		{StepEvent{Step: "s", Phase: StepDone, Elapsed: 61 * time.Second}, "s: done in 1m1s"},
		{StepEvent{Step: "s", Phase: StepReused, Elapsed: 120 * time.Millisecond}, "s: reused (100ms)"},
		{StepEvent{Step: "s", Phase: StepFailed, Elapsed: 3 * time.Second, Err: errors.New("exit status 1")}, "s: FAILED after 3s: exit status 1"},
	}
	for _, tt := range tests {
		if got := StepLine(tt.ev); got != tt.want {
			t.Errorf("StepLine(%+v) =\n  %q\nwant\n  %q", tt.ev, got, tt.want)
		}
	}
}

func TestGoActivity(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"k8s.io/kubernetes/pkg/kubelet":          "compiling k8s.io/kubernetes/pkg/kubelet",
		"runtime":                                "compiling runtime",
		"go: downloading k8s.io/api v0.37.2":     "downloading k8s.io/api v0.37.2",
		"go: added k8s.io/api v0.37.2":           "",
		"# k8s.io/kubernetes/pkg/kubelet":        "",
		"pkg/kubelet/kubelet.go:12:2: undefined": "",
	} {
		if got := goActivity(in); got != want {
			t.Errorf("goActivity(%q) = %q, want %q", in, got, want)
		}
	}
}

// lockedBuffer is a buffer that tells the test about every line written.
type lockedBuffer struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	lines chan string
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, l := range strings.Split(strings.TrimRight(string(p), "\n"), "\n") {
		select {
		case b.lines <- l:
		default:
		}
	}
	return b.buf.Write(p)
}

// TestHeartbeatOnARealGoBuild runs a real `go build -v` (a chain of 20
// small packages, empty build cache) as a step with a short heartbeat, as
// plain lines: the step waits, after the build, until a heartbeat has named
// a package Go compiled, so the test asserts no timing. go test -v shows the
// lines.
func TestHeartbeatOnARealGoBuild(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go build")
	}
	t.Parallel()
	mod := t.TempDir()
	files := map[string]string{"go.mod": "module hb\n\ngo 1.26\n", "p0/p.go": "package p0\n\nfunc F() int { return 0 }\n"}
	for i := 1; i < 20; i++ {
		files[fmt.Sprintf("p%d/p.go", i)] = fmt.Sprintf("package p%d\n\nimport \"hb/p%d\"\n\nfunc F() int { return p%d.F() + 1 }\n", i, i-1, i-1)
	}
	for name, c := range files {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(mod, name)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(mod, name), []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	out := &lockedBuffer{lines: make(chan string, 1024)}
	p := newProgress(Config{Progress: out, CacheDir: t.TempDir()}, time.Now())
	p.every = 100 * time.Millisecond
	r := runner{cfg: Config{Go: "go"}.withDefaults(), progress: p}
	const step = "go build hb"
	err := p.step(step, func() (bool, error) {
		if _, err := r.runGo(context.Background(), step, mod, []string{"GOCACHE=" + t.TempDir(), "GOFLAGS="}, "go", "build", "-v", "./p19"); err != nil {
			return false, err
		}
		for l := range out.lines {
			if strings.Contains(l, step+": running for") && strings.Contains(l, ", compiling hb/p") {
				return false, nil
			}
		}
		return false, errors.New("output closed")
	})
	if err != nil {
		t.Fatal(err)
	}
	out.mu.Lock()
	defer out.mu.Unlock()
	t.Logf("progress lines:\n%s", out.buf.String())
	if !strings.Contains(out.buf.String(), step+": done in") {
		t.Errorf("no end line in\n%s", out.buf.String())
	}
	// The next build of that step has an estimate.
	if _, n := p.estimate(step); n != 1 {
		t.Errorf("%d durations recorded, want 1", n)
	}
}

func TestHistoryKey(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"node image pvreboot/node:v1.37.2-461396c39de7eaab": "node image pvreboot/node:v1.37.2",
		"node image registry:5000/node:v1.37.2-abc":         "node image registry:5000/node:v1.37.2",
		"node image registry-a/node":                        "node image registry-a/node",
		"go build etcd-v3.7.0":                              "go build etcd-v3.7.0",
	} {
		if got := historyKey(in); got != want {
			t.Errorf("historyKey(%q) = %q, want %q", in, got, want)
		}
	}
}
