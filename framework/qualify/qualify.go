package qualify

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"k8s.io/client-go/kubernetes"

	"github.com/pvreboot/pvreboot/framework/report"
	"github.com/pvreboot/pvreboot/framework/scenario"
)

// Gate admits a reboot of a node; release ends it. *Nodes is one.
type Gate interface {
	Acquire(ctx context.Context, node string) (release func(), err error)
}

// CaseRun is one case to run on one node.
type CaseRun struct {
	Case   scenario.Case
	Node   string
	Cycles int
	Gate   Gate
	// MeasureGate, when set, admits one case's measurement at a time
	// (spec.measureOneAtATime).
	MeasureGate Gate
	// Dir is where the case's own outputs go (result.json, report.html...).
	Dir string
	// Started records the run's ID as soon as it is known: a qualification
	// killed meanwhile sweeps what that run left when it is run again.
	Started func(runID string)
}

// CaseRunner runs cases; runner.CaseRunner is one.
type CaseRunner interface {
	// RunCase runs the case end to end, cleans up and writes its outputs
	// into cr.Dir. The result is nil only when the run could not start.
	RunCase(ctx context.Context, cr CaseRun) (*report.Result, error)
	// Sweep removes what a dead run of an earlier invocation left.
	Sweep(ctx context.Context, runID string) error
}

// Options of a qualification.
type Options struct {
	Plan *scenario.Plan
	// Nodes is the pool, resolved (ResolveNodes).
	Nodes  []string
	Client kubernetes.Interface
	Runner CaseRunner
	// OutputDir holds qualification.json, the summaries and cases/<id>/.
	// Running the same plan into it again resumes: finished cases are read
	// back, not run.
	OutputDir string
	// Parallel overrides the plan's parallel when > 0 (1 runs the cases one
	// after another).
	Parallel   int
	Provenance *report.Provenance
	Progress   io.Writer
}

// Files of a qualification's output directory.
const (
	ResultFile = "qualification.json"
	caseFile   = "case.json"
	casesDir   = "cases"
)

// caseState is what case.json keeps of a case between invocations.
type caseState struct {
	Digest string            `json:"digest"`
	RunID  string            `json:"runID,omitempty"`
	Result report.CaseResult `json:"result"`
}

// Digest identifies what a case runs: its scenario after defaults, its
// cycles and the trend it is judged by. A resumed case must match it.
func Digest(c scenario.Case, cycles int, trend *scenario.Trend) string {
	b, _ := json.Marshal(struct {
		S      *scenario.Scenario
		Cycles int
		Trend  *scenario.Trend
	}{c.Scenario, cycles, trend})
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:12])
}

// Run runs the plan's cases that have not finished yet and returns the
// qualification's result, also written to OutputDir with its JUnit,
// Markdown and HTML. The error is for a qualification that could not run
// (no nodes, no output directory); failed and errored cases are in the
// result.
func Run(ctx context.Context, o Options) (*report.Qualification, error) {
	if o.Plan == nil || o.Runner == nil || o.Client == nil || len(o.Nodes) == 0 || o.OutputDir == "" {
		return nil, errors.New("qualify: plan, runner, client, nodes and output directory must be set")
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
	spec := o.Plan.Qualification.Spec
	q := &report.Qualification{Schema: report.QualificationSchema, Name: o.Plan.Qualification.Metadata.Name, StartedAt: time.Now(),
		Nodes: slices.Clone(o.Nodes), Cycles: spec.CyclesOrDefault(), Parallel: spec.ParallelOrDefault(),
		MaxUnavailable: spec.MaxUnavailableOrDefault(), FailFast: spec.FailFast, Plan: o.Plan.Qualification, Provenance: o.Provenance}
	if o.Parallel > 0 {
		q.Parallel = o.Parallel
	}
	q.Parallel = min(q.Parallel, len(o.Nodes))
	seenAxis := map[string]bool{}
	for _, c := range o.Plan.Cases {
		for _, p := range c.Params {
			seenAxis[p.Axis] = true
		}
	}
	for _, a := range scenario.AxisNames() {
		if seenAxis[a] {
			q.Axes = append(q.Axes, a)
		}
	}
	if err := os.MkdirAll(filepath.Join(o.OutputDir, casesDir), 0o755); err != nil {
		return nil, fmt.Errorf("qualify: %w", err)
	}
	if o.Plan.Collapsed > 0 {
		q.Notes = append(q.Notes, fmt.Sprintf("%d combination(s) of the matrix were the same case once the axes that do not apply were dropped (fsType and mountOptions of a block or directory volume)", o.Plan.Collapsed))
	}
	s := &state{o: o, q: q, digests: map[string]string{}}
	q.Cases = make([]report.CaseResult, len(o.Plan.Cases))
	var pending []int
	var dead []string
	for i, c := range o.Plan.Cases {
		d := Digest(c, q.Cycles, spec.Trend)
		s.digests[c.ID] = d
		q.Cases[i] = report.CaseResult{ID: c.ID, Name: c.Name, Params: c.Params, Node: c.Node, Outcome: report.OutcomeSkipped,
			Dir: filepath.ToSlash(filepath.Join(casesDir, c.ID))}
		st, err := readState(filepath.Join(o.OutputDir, casesDir, c.ID, caseFile))
		switch {
		case err == nil && st.Digest == d && (st.Result.Outcome == report.OutcomePassed || st.Result.Outcome == report.OutcomeFailed):
			st.Result.Resumed = true
			q.Cases[i] = st.Result
			fmt.Fprintf(o.Progress, "case %s: %s in an earlier run, kept\n", c.Name, st.Result.Outcome)
			continue
		case err == nil && st.RunID != "" && st.Result.Outcome == "":
			// Started and never finished: the process was killed.
			dead = append(dead, st.RunID)
		}
		pending = append(pending, i)
	}
	for _, id := range dead {
		fmt.Fprintf(o.Progress, "an earlier invocation left run %s unfinished: removing what it left\n", id)
		if err := o.Runner.Sweep(ctx, id); err != nil {
			return nil, fmt.Errorf("qualify: remove what run %s left: %w", id, err)
		}
		q.Notes = append(q.Notes, fmt.Sprintf("run %s of an earlier, interrupted invocation was swept before its case ran again", id))
	}
	nodes, err := WatchNodes(ctx, o.Client, o.Nodes, q.MaxUnavailable)
	if err != nil {
		return nil, fmt.Errorf("qualify: %w", err)
	}
	defer nodes.Stop()
	s.nodes = nodes
	s.busy = map[string]bool{}
	if spec.MeasuresOneAtATime(o.Plan.Base) && q.Parallel > 1 {
		s.measure = oneAtATime{ch: make(chan struct{}, 1)}
		q.Notes = append(q.Notes, "cases ran at once but measured one at a time (measureOneAtATime): the nodes share a disk")
	}
	s.schedule(ctx, pending)
	q.FinishedAt = time.Now()
	q.Tally()
	if err := s.write(); err != nil {
		return q, err
	}
	return q, nil
}

// state is a qualification under way.
type state struct {
	o       Options
	q       *report.Qualification
	nodes   *Nodes
	digests map[string]string

	measure Gate // nil: cases measure whenever they are ready

	mu      sync.Mutex // guards q.Cases, busy, stopped and the files
	busy    map[string]bool
	stopped string // why no further case starts (failFast), or ""
}

func readState(path string) (*caseState, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var st caseState
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, err
	}
	return &st, nil
}

func (s *state) saveCase(i int, runID string) error {
	c := s.q.Cases[i]
	b, err := json.MarshalIndent(caseState{Digest: s.digests[c.ID], RunID: runID, Result: c}, "", "  ")
	if err != nil {
		return err
	}
	dir := filepath.Join(s.o.OutputDir, casesDir, c.ID)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	return writeAtomic(filepath.Join(dir, caseFile), append(b, '\n'))
}

// writeAtomic replaces a file whole: a kill mid-write leaves the old one.
func writeAtomic(path string, b []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// nodeReadyTimeout bounds the wait, with nothing running, for a node of the
// pool to be Ready (a cluster just made: its workers join after its control
// plane is Ready).
const nodeReadyTimeout = 5 * time.Minute

// schedule runs the pending cases, at most Parallel at once, each on a free
// Ready node of the pool (its own when the case is pinned).
func (s *state) schedule(ctx context.Context, pending []int) {
	var wg sync.WaitGroup
	next := make(chan struct{}, 1)
	wake := func() {
		select {
		case next <- struct{}{}:
		default:
		}
	}
	running := 0
	var noneSince time.Time // since when no pool node has been Ready while idle
	for len(pending) > 0 {
		s.mu.Lock()
		stopped := s.stopped
		s.mu.Unlock()
		if ctx.Err() != nil || stopped != "" {
			why := stopped
			if why == "" {
				why = "the qualification was interrupted"
			}
			s.mu.Lock()
			for _, i := range pending {
				s.q.Cases[i].Error = why
			}
			s.mu.Unlock()
			break
		}
		pick, node := -1, ""
		s.mu.Lock()
		if running < s.q.Parallel {
			for k, i := range pending {
				if n := s.freeNode(s.o.Plan.Cases[i].Node); n != "" {
					pick, node = k, n
					break
				}
			}
		}
		if pick >= 0 {
			s.busy[node] = true
			running++
		}
		idle := running == 0
		s.mu.Unlock()
		if pick < 0 {
			var waitReady *time.Timer
			if idle && s.noNodeEver(pending) {
				// A cluster just made has its control plane Ready before its
				// workers: wait for one, bounded.
				if noneSince.IsZero() {
					noneSince = time.Now()
					fmt.Fprintf(s.o.Progress, "waiting up to %s for a Ready node of the pool (%s)\n", nodeReadyTimeout, strings.Join(s.o.Nodes, ", "))
				}
				left := nodeReadyTimeout - time.Since(noneSince)
				if left <= 0 {
					s.mu.Lock()
					for _, i := range pending {
						s.q.Cases[i].Outcome, s.q.Cases[i].Error = report.OutcomeError,
							fmt.Sprintf("no Ready node of the pool can take it (waited %s): %s", nodeReadyTimeout, strings.Join(s.o.Nodes, ", "))
					}
					s.mu.Unlock()
					break
				}
				waitReady = time.NewTimer(left)
			} else {
				noneSince = time.Time{}
				waitReady = time.NewTimer(time.Hour) // woken by next or a node change
			}
			select {
			case <-next:
			case <-s.nodes.Changed():
			case <-waitReady.C:
			case <-ctx.Done():
			}
			waitReady.Stop()
			continue
		}
		i := pending[pick]
		pending = slices.Delete(pending, pick, pick+1)
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.runCase(ctx, i, node)
			s.mu.Lock()
			delete(s.busy, node)
			running--
			s.mu.Unlock()
			wake()
		}()
	}
	wg.Wait()
}

// freeNode is a Ready node no case runs on: want itself, or any. Called
// with mu held.
func (s *state) freeNode(want string) string {
	for _, n := range s.o.Nodes {
		if (want == "" || n == want) && !s.busy[n] && s.nodes.Ready(n) {
			return n
		}
	}
	return ""
}

// noNodeEver reports whether no pending case has a Ready node to wait for.
func (s *state) noNodeEver(pending []int) bool {
	for _, i := range pending {
		want := s.o.Plan.Cases[i].Node
		for _, n := range s.o.Nodes {
			if (want == "" || n == want) && s.nodes.Ready(n) {
				return false
			}
		}
	}
	return true
}

func (s *state) runCase(ctx context.Context, i int, node string) {
	c := s.o.Plan.Cases[i]
	dir := filepath.Join(s.o.OutputDir, casesDir, c.ID)
	_ = os.RemoveAll(dir) // an errored or changed case starts afresh
	s.mu.Lock()
	cr := &s.q.Cases[i]
	cr.Node, cr.StartedAt, cr.Outcome, cr.Error = node, time.Now(), "", ""
	s.mu.Unlock()
	fmt.Fprintf(s.o.Progress, "case %s: starting on %s\n", c.Name, node)
	res, err := s.o.Runner.RunCase(ctx, CaseRun{Case: c, Node: node, Cycles: s.q.Cycles, Gate: s.nodes, MeasureGate: s.measure, Dir: dir,
		Started: func(runID string) {
			s.mu.Lock()
			defer s.mu.Unlock()
			s.q.Cases[i].RunID = runID
			if err := s.saveCase(i, runID); err != nil {
				fmt.Fprintf(s.o.Progress, "case %s: warning: %v (an interrupted run of it would not be swept)\n", c.Name, err)
			}
		}})
	s.mu.Lock()
	defer s.mu.Unlock()
	cr = &s.q.Cases[i]
	cr.FinishedAt = time.Now()
	cr.Elapsed = cr.FinishedAt.Sub(cr.StartedAt)
	if res != nil {
		report.SummarizeCase(cr, res, s.o.Plan.Qualification.Spec.Trend)
	}
	if err != nil {
		cr.Outcome = report.OutcomeError
		cr.Error = err.Error()
	}
	if cr.Outcome == "" {
		cr.Outcome = report.OutcomeError
	}
	if ctx.Err() != nil && cr.Outcome == report.OutcomeError {
		cr.Error = "interrupted: " + cr.Error
	}
	fmt.Fprintf(s.o.Progress, "case %s: %s on %s in %s%s\n", c.Name, strings.ToUpper(cr.Outcome), node, cr.Elapsed.Round(time.Second), caseWhy(*cr))
	if err := s.saveCase(i, cr.RunID); err != nil {
		fmt.Fprintf(s.o.Progress, "case %s: warning: %v (a re-run would run it again)\n", c.Name, err)
	}
	if s.o.Plan.Qualification.Spec.FailFast && cr.Outcome != report.OutcomePassed && s.stopped == "" {
		s.stopped = fmt.Sprintf("not run: failFast, case %s %s", c.Name, cr.Outcome)
	}
	if err := s.writeLocked(); err != nil {
		fmt.Fprintf(s.o.Progress, "warning: %v\n", err)
	}
}

func caseWhy(c report.CaseResult) string {
	switch {
	case c.Error != "":
		return ": " + c.Error
	case len(c.Failed) > 0:
		return ": " + strings.Join(c.Failed, "; ")
	}
	return ""
}

func (s *state) write() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.writeLocked()
}

// writeLocked writes the qualification's files as they stand: after each
// case, so that a qualification killed midway leaves its progress.
func (s *state) writeLocked() error {
	q := *s.q
	if q.FinishedAt.IsZero() {
		q.FinishedAt = time.Now()
	}
	q.Tally()
	var errs []error
	b, err := json.MarshalIndent(&q, "", "  ")
	if err == nil {
		err = writeAtomic(filepath.Join(s.o.OutputDir, ResultFile), append(b, '\n'))
	}
	errs = append(errs, err)
	for name, render := range map[string]func(io.Writer, *report.Qualification) error{
		"junit.xml": report.QualificationJUnit, "summary.md": report.QualificationMarkdown, "report.html": report.QualificationHTML} {
		var buf bytes.Buffer
		if err := render(&buf, &q); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", name, err))
			continue
		}
		errs = append(errs, writeAtomic(filepath.Join(s.o.OutputDir, name), buf.Bytes()))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("write qualification outputs: %w", err)
	}
	return nil
}

// oneAtATime is a Gate of one holder, whatever the node.
type oneAtATime struct{ ch chan struct{} }

func (g oneAtATime) Acquire(ctx context.Context, _ string) (func(), error) {
	select {
	case g.ch <- struct{}{}:
		var once sync.Once
		return func() { once.Do(func() { <-g.ch }) }, nil
	case <-ctx.Done():
		return nil, context.Cause(ctx)
	}
}
