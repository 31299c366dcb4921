package nodeimage

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"
)

// HeartbeatInterval is how often a running step reports itself: the build
// never stays silent longer than this.
const HeartbeatInterval = 10 * time.Second

// historyFile, under the cache directory, keeps the durations of earlier
// steps on this machine for the estimates; historyKeep is how many per step.
const (
	historyFile = "step-durations.json"
	historyKeep = 5
)

// StepPhase is where a step is.
type StepPhase string

const (
	StepStarted StepPhase = "started"
	StepRunning StepPhase = "running" // a heartbeat
	StepDone    StepPhase = "done"
	StepReused  StepPhase = "reused"
	StepFailed  StepPhase = "failed"
)

// StepEvent is one moment of a build step: its start, a heartbeat at least
// every HeartbeatInterval while it runs, its end.
type StepEvent struct {
	Step    string
	Phase   StepPhase
	Elapsed time.Duration
	// Estimate is the median duration of this step in earlier builds on
	// this machine (recorded under the cache directory), from Samples of
	// them; 0 when there are none.
	Estimate time.Duration
	Samples  int
	// Detail is what the step's command last said it was doing: the package
	// Go compiles (go build -v) or the module it downloads.
	Detail string
	Err    error
}

// StepSink receives a build's step events. When Config.Progress implements
// it (a terminal progress bar), it gets the events instead of step lines;
// other lines (what was reused, image names) are still written to it.
type StepSink interface {
	StepEvent(StepEvent)
}

// progress reports steps as events to a sink, or as lines to w; safe for
// concurrent steps. The zero value with w and start set works: no
// estimates, heartbeats every HeartbeatInterval.
type progress struct {
	mu    sync.Mutex
	w     io.Writer
	start time.Time

	sink    StepSink
	history string // the durations file; "" keeps none
	every   time.Duration
	now     func() time.Time
	// ticker returns the heartbeat ticks and a stop function.
	ticker  func(time.Duration) (<-chan time.Time, func())
	details map[string]string // step -> its last detail
}

// newProgress reports the steps of a build with cfg to cfg.Progress, with
// estimates from earlier builds in cfg.CacheDir.
func newProgress(cfg Config, start time.Time) *progress {
	p := &progress{w: cfg.Progress, start: start}
	if s, ok := cfg.Progress.(StepSink); ok {
		p.sink = s
	}
	if cfg.CacheDir != "" {
		p.history = filepath.Join(cfg.CacheDir, historyFile)
	}
	return p
}

func (p *progress) clock() time.Time {
	if p.now != nil {
		return p.now()
	}
	return time.Now()
}

func (p *progress) printf(format string, a ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.printfLocked(format, a...)
}

func (p *progress) printfLocked(format string, a ...any) {
	fmt.Fprintf(p.w, "[%6.1fs] %s\n", p.clock().Sub(p.start).Seconds(), fmt.Sprintf(format, a...))
}

// historyKey is the name a step's durations are recorded under: the step's
// name without the content key of the image it makes ("node image
// pvreboot/node:v1.37.2-<key>" is "node image pvreboot/node:v1.37.2"), so
// that the next build, of another key, finds them.
func historyKey(step string) string {
	if rest, ok := strings.CutPrefix(step, "node image "); ok {
		if i := strings.LastIndex(rest, "-"); i > strings.LastIndex(rest, ":") && strings.LastIndex(rest, ":") >= 0 {
			return "node image " + rest[:i]
		}
	}
	return step
}

// step runs f, reporting its start, a heartbeat while it runs and its end
// (done, reused or failed); a step that ran is recorded for later estimates.
func (p *progress) step(name string, f func() (reused bool, err error)) error {
	t0 := p.clock()
	est, n := p.estimate(historyKey(name))
	p.emit(StepEvent{Step: name, Phase: StepStarted, Estimate: est, Samples: n})
	stop := p.heartbeat(name, t0, est, n)
	reused, err := f()
	stop()
	ev := StepEvent{Step: name, Elapsed: p.clock().Sub(t0), Estimate: est, Samples: n, Err: err}
	switch {
	case err != nil:
		ev.Phase = StepFailed
	case reused:
		ev.Phase = StepReused
	default:
		ev.Phase = StepDone
		if rerr := p.record(historyKey(name), ev.Elapsed); rerr != nil {
			p.printf("%s: not recorded for estimates: %v", name, rerr)
		}
	}
	p.emit(ev)
	p.mu.Lock()
	delete(p.details, name)
	p.mu.Unlock()
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}

// heartbeat reports the step every interval until stop returns; stop waits
// for the last report, so none comes after the step's end.
func (p *progress) heartbeat(name string, t0 time.Time, est time.Duration, n int) (stop func()) {
	every := p.every
	if every <= 0 {
		every = HeartbeatInterval
	}
	tick := p.ticker
	if tick == nil {
		tick = func(d time.Duration) (<-chan time.Time, func()) {
			t := time.NewTicker(d)
			return t.C, t.Stop
		}
	}
	c, stopTicker := tick(every)
	done, finished := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(finished)
		for {
			select {
			case <-done:
				return
			case <-c:
				p.mu.Lock()
				detail := p.details[name]
				p.mu.Unlock()
				p.emit(StepEvent{Step: name, Phase: StepRunning, Elapsed: p.clock().Sub(t0), Estimate: est, Samples: n, Detail: detail})
			}
		}
	}()
	return func() {
		stopTicker()
		close(done)
		<-finished
	}
}

// note records what a running step is doing now; nil-safe.
func (p *progress) note(name, detail string) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.details == nil {
		p.details = map[string]string{}
	}
	p.details[name] = detail
}

// emit hands ev to the sink, or writes it as a line.
func (p *progress) emit(ev StepEvent) {
	if p.sink != nil {
		p.sink.StepEvent(ev)
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.printfLocked("%s", StepLine(ev))
}

// StepLine renders ev as one plain line (CI logs, --progress=plain).
func StepLine(ev StepEvent) string {
	switch ev.Phase {
	case StepStarted:
		return ev.Step + ": started (" + estimateText(ev) + ")"
	case StepRunning:
		s := fmt.Sprintf("%s: running for %s", ev.Step, ev.Elapsed.Round(time.Second))
		if ev.Estimate > 0 {
			s += fmt.Sprintf(" of ~%s", ev.Estimate.Round(time.Second))
			if ev.Elapsed > ev.Estimate {
				s += " (longer than before)"
			}
		} else {
			s += " (no estimate yet)"
		}
		if ev.Detail != "" {
			s += ", " + ev.Detail
		}
		return s
	case StepReused:
		return fmt.Sprintf("%s: reused (%s)", ev.Step, ev.Elapsed.Round(100*time.Millisecond))
	case StepFailed:
		return fmt.Sprintf("%s: FAILED after %s: %v", ev.Step, ev.Elapsed.Round(time.Second), ev.Err)
	default:
		return fmt.Sprintf("%s: done in %s", ev.Step, ev.Elapsed.Round(time.Second))
	}
}

func estimateText(ev StepEvent) string {
	if ev.Samples == 0 {
		return "no estimate yet: no earlier run of this step recorded on this machine"
	}
	runs := "build"
	if ev.Samples > 1 {
		runs = "builds"
	}
	return fmt.Sprintf("estimate ~%s from %d earlier %s on this machine", ev.Estimate.Round(time.Second), ev.Samples, runs)
}

// durations are the recorded seconds of each step, oldest first.
type durations map[string][]float64

func (p *progress) load() (durations, error) {
	d := durations{}
	if p.history == "" {
		return d, nil
	}
	b, err := os.ReadFile(p.history)
	if errors.Is(err, fs.ErrNotExist) {
		return d, nil
	}
	if err != nil {
		return d, err
	}
	if err := json.Unmarshal(b, &d); err != nil {
		return durations{}, fmt.Errorf("%s: %w", p.history, err)
	}
	return d, nil
}

// estimate returns the median recorded duration of step and how many
// durations it rests on. An unreadable history gives no estimate.
func (p *progress) estimate(step string) (time.Duration, int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	d, err := p.load()
	if err != nil || len(d[step]) == 0 {
		return 0, 0
	}
	s := slices.Clone(d[step])
	slices.Sort(s)
	m := s[len(s)/2]
	if len(s)%2 == 0 {
		m = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return time.Duration(m * float64(time.Second)), len(s)
}

// record adds a finished step's duration to the history (the last
// historyKeep per step), replacing the file atomically.
func (p *progress) record(step string, took time.Duration) error {
	if p.history == "" {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	d, err := p.load()
	if err != nil {
		d = durations{} // a damaged history is replaced
	}
	d[step] = append(d[step], took.Round(time.Millisecond).Seconds())
	if len(d[step]) > historyKeep {
		d[step] = d[step][len(d[step])-historyKeep:]
	}
	b, err := json.MarshalIndent(d, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(p.history), historyFile+".*")
	if err != nil {
		return err
	}
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return err
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	return os.Rename(tmp.Name(), p.history)
}

// lineWriter calls f with each complete line written to it.
type lineWriter struct {
	mu  sync.Mutex
	buf []byte
	f   func(string)
}

func (w *lineWriter) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, b...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			break
		}
		if l := strings.TrimSpace(string(w.buf[:i])); l != "" {
			w.f(l)
		}
		w.buf = w.buf[i+1:]
	}
	return len(b), nil
}

// goActivity turns a line of go build -v or go get output into a detail:
// "compiling PKG" for a package path, "downloading MOD" for a download;
// "" for anything else.
func goActivity(line string) string {
	if m, ok := strings.CutPrefix(line, "go: downloading "); ok {
		return "downloading " + m
	}
	if !strings.ContainsAny(line, " \t:") {
		return "compiling " + line
	}
	return ""
}
