package app

import (
	"io"
	"os"
	"sync"
	"time"

	"github.com/pvreboot/pvreboot/cmd/internal/exitcode"
	"github.com/pvreboot/pvreboot/framework/nodeimage"
	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"
	"golang.org/x/term"
)

// Values of --progress.
const (
	progressAuto  = "auto"  // bars on a terminal, plain lines in CI or in a file
	progressPlain = "plain" // one line per step start and end, a heartbeat line every 10 s
	progressBar   = "bar"   // bars even when the output is not a terminal
)

// useBars decides --progress: bars only on a terminal that is not a CI log
// (CI set) nor dumb (TERM=dumb).
func useBars(mode string, env map[string]string, w io.Writer) (bool, error) {
	switch mode {
	case progressPlain:
		return false, nil
	case progressBar:
		return true, nil
	case progressAuto:
		f, ok := w.(*os.File)
		return ok && term.IsTerminal(int(f.Fd())) && env["CI"] == "" && env["TERM"] != "dumb", nil
	}
	return false, exitcode.Usagef("--progress: unknown mode %q (want auto, plain or bar)", mode)
}

// progressOutput returns where a node image build reports its steps, and a
// function to call when the build is over.
func progressOutput(mode string, g *globals) (io.Writer, func(), error) {
	bars, err := useBars(mode, g.env, g.s.Err)
	if err != nil || !bars {
		return g.s.Err, func() {}, err
	}
	b := &stepBars{p: mpb.New(mpb.WithOutput(g.s.Err), mpb.WithWidth(32), mpb.WithRefreshRate(250*time.Millisecond),
		mpb.ContainerOptional(mpb.WithAutoRefresh(), mode == progressBar)), bars: map[string]*stepBar{}}
	return b, b.close, nil
}

// stepBars draws one bar per running step of a build (mpb: several steps run
// at once), sized by the step's estimate, a spinner when there is none; the
// lines of finished steps and other output scroll above them.
type stepBars struct {
	p    *mpb.Progress
	mu   sync.Mutex
	bars map[string]*stepBar
}

type stepBar struct {
	bar    *mpb.Bar
	total  int64 // tenths of a second; 0 for a spinner
	mu     sync.Mutex
	detail string
}

// Write prints b above the bars.
func (s *stepBars) Write(b []byte) (int, error) { return s.p.Write(b) }

// StepEvent implements nodeimage.StepSink.
func (s *stepBars) StepEvent(ev nodeimage.StepEvent) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sb := s.bars[ev.Step]
	switch ev.Phase {
	case nodeimage.StepStarted:
		sb = &stepBar{total: int64(ev.Estimate / (100 * time.Millisecond))}
		detail := decor.Any(func(decor.Statistics) string {
			sb.mu.Lock()
			defer sb.mu.Unlock()
			return sb.detail
		})
		opts := []mpb.BarOption{
			mpb.BarRemoveOnComplete(),
			mpb.PrependDecorators(decor.Name(ev.Step, decor.WCSyncSpaceR), decor.Elapsed(decor.ET_STYLE_GO, decor.WCSyncSpace)),
			mpb.AppendDecorators(detail),
		}
		if sb.total > 0 {
			sb.bar = s.p.New(sb.total, mpb.BarStyle(), append(opts, mpb.PrependDecorators(decor.Percentage(decor.WCSyncSpace)))...)
		} else {
			sb.bar = s.p.New(0, mpb.SpinnerStyle(), opts...)
		}
		s.bars[ev.Step] = sb
		_, _ = s.p.Write([]byte(nodeimage.StepLine(ev) + "\n"))
	case nodeimage.StepRunning:
		if sb == nil {
			return
		}
		sb.mu.Lock()
		sb.detail = ev.Detail
		sb.mu.Unlock()
		if sb.total > 0 {
			cur := int64(ev.Elapsed / (100 * time.Millisecond))
			if cur >= sb.total { // longer than before: keep the bar short of full
				sb.total = cur + cur/10 + 1
				sb.bar.SetTotal(sb.total, false)
			}
			sb.bar.SetCurrent(cur)
		}
	default:
		if sb != nil {
			if ev.Phase == nodeimage.StepFailed {
				sb.bar.Abort(true)
			} else {
				sb.bar.SetTotal(-1, true)
			}
			delete(s.bars, ev.Step)
		}
		_, _ = s.p.Write([]byte(nodeimage.StepLine(ev) + "\n"))
	}
}

// close removes bars left running (an interrupted build) and waits for the
// last lines to be drawn.
func (s *stepBars) close() {
	s.mu.Lock()
	for name, sb := range s.bars {
		sb.bar.Abort(true)
		delete(s.bars, name)
	}
	s.mu.Unlock()
	s.p.Wait()
}
