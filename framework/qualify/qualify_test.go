package qualify

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/pvreboot/pvreboot/framework/budget"
	"github.com/pvreboot/pvreboot/framework/probe"
	"github.com/pvreboot/pvreboot/framework/report"
	"github.com/pvreboot/pvreboot/framework/scenario"
)

// plan makes a plan of n cases (the method axis over n chunk sizes) on the
// given nodes.
func plan(t *testing.T, n int, nodes []string, extra string) *scenario.Plan {
	t.Helper()
	var sizes []string
	for i := range n {
		sizes = append(sizes, fmt.Sprintf("%dKi", 64*(i+1)))
	}
	yaml := fmt.Sprintf(`apiVersion: pvreboot.dev/v1alpha1
kind: Qualification
metadata: {name: t}
spec:
  base:
    scenario:
      apiVersion: pvreboot.dev/v1alpha1
      kind: Scenario
      metadata: {name: t}
      spec:
        workload: {fileSize: 64Mi}
        budgets: [{phase: after-reboot, metric: p50, relativeTo: baseline, maxRatio: 3}]
  matrix: {chunkSize: [%s]}
  nodes: {names: [%s]}
%s`, strings.Join(sizes, ", "), strings.Join(nodes, ", "), extra)
	p, err := scenario.ParseQualification([]byte(yaml), nil)
	if err != nil {
		t.Fatalf("plan: %v\n%s", err, yaml)
	}
	return p
}

func node(name string, ready bool) *corev1.Node {
	st := corev1.ConditionTrue
	if !ready {
		st = corev1.ConditionFalse
	}
	return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name},
		Status: corev1.NodeStatus{Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: st}}}}
}

// fakeRunner plays each case: per cycle it asks the gate, takes its node
// NotReady and Ready again through the API (as a reboot would), and
// returns a result whose after-reboot p50 is slow for the cases in slow.
type fakeRunner struct {
	client *fake.Clientset
	slow   map[string]bool
	fail   map[string]error
	// cancel, when set, is called when the named case starts.
	cancelOn string
	cancel   context.CancelFunc

	mu                      sync.Mutex
	ran                     []string
	down                    int // nodes down now (by this runner)
	maxDown                 int
	atOnce                  int
	maxOnce                 int
	updates                 int // the runner's own API calls, not the orchestrator's
	swept                   []string
	sameNode                bool // two cases on one node at once
	measuring, maxMeasuring int
	onNode                  map[string]bool
}

func (f *fakeRunner) setReady(ctx context.Context, name string, ready bool) {
	f.mu.Lock()
	f.updates++
	f.mu.Unlock()
	_, _ = f.client.CoreV1().Nodes().UpdateStatus(ctx, node(name, ready), metav1.UpdateOptions{})
}

func phase(name string, p50 int64) report.PhaseResult {
	calls := make([]probe.Call, 4)
	var its []probe.Iteration
	for i := range 5 {
		for j := range calls {
			calls[j] = probe.Call{Ns: p50 + int64(i+j)}
		}
		its = append(its, probe.Iteration{Calls: append([]probe.Call(nil), calls...)})
	}
	return report.PhaseResult{Name: name, Probe: &probe.Report{Iterations: its, Summary: probe.Summary{P50Ns: p50, P99Ns: p50 + 10, BytesPerSecond: 1e9 / float64(p50)}}}
}

func (f *fakeRunner) RunCase(ctx context.Context, cr CaseRun) (*report.Result, error) {
	f.mu.Lock()
	f.ran = append(f.ran, cr.Case.ID)
	f.atOnce++
	f.maxOnce = max(f.maxOnce, f.atOnce)
	if f.onNode == nil {
		f.onNode = map[string]bool{}
	}
	if f.onNode[cr.Node] {
		f.sameNode = true
	}
	f.onNode[cr.Node] = true
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		f.atOnce--
		delete(f.onNode, cr.Node)
		f.mu.Unlock()
	}()
	cr.Started("run-" + cr.Case.ID)
	if cr.Case.ID == f.cancelOn && f.cancel != nil {
		f.cancel()
		<-ctx.Done()
		return nil, ctx.Err()
	}
	if err := f.fail[cr.Case.ID]; err != nil {
		return nil, err
	}
	if cr.MeasureGate != nil {
		release, err := cr.MeasureGate.Acquire(ctx, cr.Node)
		if err != nil {
			return nil, err
		}
		f.mu.Lock()
		f.measuring++
		f.maxMeasuring = max(f.maxMeasuring, f.measuring)
		f.mu.Unlock()
		time.Sleep(time.Millisecond)
		f.mu.Lock()
		f.measuring--
		f.mu.Unlock()
		release()
	}
	res := &report.Result{Schema: report.Schema, Phases: []report.PhaseResult{phase(scenario.PhaseBaseline, 1000)}}
	for c := 1; c <= cr.Cycles; c++ {
		release, err := cr.Gate.Acquire(ctx, cr.Node)
		if err != nil {
			return res, err
		}
		f.mu.Lock()
		f.down++
		f.maxDown = max(f.maxDown, f.down)
		f.mu.Unlock()
		f.setReady(ctx, cr.Node, false)
		time.Sleep(time.Millisecond)
		f.setReady(ctx, cr.Node, true)
		f.mu.Lock()
		f.down--
		f.mu.Unlock()
		release()
		p50 := int64(1000)
		if f.slow[cr.Case.ID] {
			p50 = 9000
		}
		ph := phase(scenario.PhaseAfterReboot, p50)
		ph.Cycle = c
		res.Phases = append(res.Phases, ph)
	}
	res.Phases = append(res.Phases, phase(scenario.PhaseAfterRecreate, 1000))
	rules := scenario.Rules(cr.Case.Scenario.Spec.Budgets)
	res.Verdict = budget.Evaluate(rules, res.BudgetPhases())
	for _, cy := range res.CyclePhases() {
		in := res.BudgetPhases()
		in[scenario.PhaseAfterReboot] = report.PhaseFromProbe(cy.Probe)
		v := budget.Evaluate(rules, in)
		res.Cycles = append(res.Cycles, report.CycleResult{Cycle: cy.Cycle, Pass: v.Pass, P50Ns: cy.Probe.Summary.P50Ns})
		res.Verdict.Pass = res.Verdict.Pass && v.Pass
	}
	return res, nil
}

func (f *fakeRunner) Sweep(_ context.Context, runID string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.swept = append(f.swept, runID)
	return nil
}

func cluster(names ...string) *fake.Clientset {
	c := fake.NewClientset()
	for _, n := range names {
		_, _ = c.CoreV1().Nodes().Create(context.Background(), node(n, true), metav1.CreateOptions{})
	}
	c.ClearActions()
	return c
}

var workers = []string{"w1", "w2", "w3"}

// The orchestrator's own API calls do not grow with the cases it runs: one
// list and one watch of the nodes, shared by every case and reboot.
func TestAPICallsDoNotGrowWithCases(t *testing.T) {
	t.Parallel()
	calls := map[int]int{}
	for _, n := range []int{1, 4, 12} {
		c := cluster(workers...)
		fr := &fakeRunner{client: c}
		p := plan(t, n, workers, "  parallel: 3\n  cycles: 2")
		q, err := Run(context.Background(), Options{Plan: p, Nodes: workers, Client: c, Runner: fr, OutputDir: t.TempDir()})
		if err != nil {
			t.Fatal(err)
		}
		if q.Counts.Passed != n {
			t.Fatalf("%d cases: %+v", n, q.Counts)
		}
		own := 0
		for _, a := range c.Actions() {
			if a.GetVerb() != "update" {
				own++
			}
		}
		calls[n] = own
		t.Logf("%2d cases x 2 cycles (%d reboots): %d API calls by the orchestrator (%d by the cases' reboots)", n, 2*n, own, fr.updates)
	}
	if calls[1] != calls[4] || calls[4] != calls[12] || calls[1] > 2 {
		t.Fatalf("orchestrator API calls by number of cases: %v; want the same small number (a list and a watch)", calls)
	}
}

func TestParallelAndMaxUnavailable(t *testing.T) {
	t.Parallel()
	c := cluster(workers...)
	fr := &fakeRunner{client: c}
	p := plan(t, 9, workers, "  parallel: 3\n  cycles: 3")
	q, err := Run(context.Background(), Options{Plan: p, Nodes: workers, Client: c, Runner: fr, OutputDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if q.Counts.Passed != 9 || len(fr.ran) != 9 {
		t.Fatalf("counts %+v, ran %v", q.Counts, fr.ran)
	}
	if fr.maxDown != 1 {
		t.Errorf("at most %d nodes were down at once; want 1 (maxUnavailable)", fr.maxDown)
	}
	if fr.sameNode {
		t.Error("two cases ran on one node at once")
	}
	if fr.maxOnce < 2 || fr.maxOnce > 3 {
		t.Errorf("%d cases at once; want 2 to 3 (parallel 3)", fr.maxOnce)
	}
	if fr.maxMeasuring != 1 {
		t.Errorf("%d cases measured at once on kind; want 1 (measureOneAtATime)", fr.maxMeasuring)
	}
	for _, cr := range q.Cases {
		if len(cr.Cycles) != 3 || cr.FlakeRate != 0 || cr.Trend == nil {
			t.Errorf("case %s: cycles %v flake %v trend %v", cr.ID, cr.Cycles, cr.FlakeRate, cr.Trend)
		}
	}
}

// A node NotReady for another reason counts against maxUnavailable: no
// reboot is admitted until it is back.
func TestGateCountsNodesAlreadyDown(t *testing.T) {
	t.Parallel()
	c := cluster(workers...)
	ctx := context.Background()
	n, err := WatchNodes(ctx, c, workers, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer n.Stop()
	changed := n.Changed()
	_, _ = c.CoreV1().Nodes().UpdateStatus(ctx, node("w2", false), metav1.UpdateOptions{})
	<-changed
	short, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	if _, err := n.Acquire(short, "w1"); err == nil || !strings.Contains(err.Error(), "down: w2") {
		t.Fatalf("acquire with w2 down: %v; want a refusal naming w2", err)
	}
	// w2 itself may be rebooted: it is down already.
	release, err := n.Acquire(ctx, "w2")
	if err != nil {
		t.Fatalf("acquire w2: %v", err)
	}
	release()
	got := make(chan error, 1)
	go func() {
		r, err := n.Acquire(ctx, "w1")
		if err == nil {
			r()
		}
		got <- err
	}()
	_, _ = c.CoreV1().Nodes().UpdateStatus(ctx, node("w2", true), metav1.UpdateOptions{})
	select {
	case err := <-got:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("acquire did not go on once w2 was Ready")
	}
}

func TestFailFastAndResume(t *testing.T) {
	t.Parallel()
	c := cluster(workers...)
	dir := t.TempDir()
	p := plan(t, 5, workers, "  failFast: true\n  cycles: 2")
	ids := []string{p.Cases[0].ID, p.Cases[1].ID}
	fr := &fakeRunner{client: c, slow: map[string]bool{ids[1]: true}}
	q, err := Run(context.Background(), Options{Plan: p, Nodes: workers, Client: c, Runner: fr, OutputDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if q.Counts.Passed != 1 || q.Counts.Failed != 1 || q.Counts.Skipped != 3 || len(fr.ran) != 2 {
		t.Fatalf("failFast: counts %+v, ran %v", q.Counts, fr.ran)
	}
	if got := q.Cases[1]; got.Outcome != report.OutcomeFailed || got.FlakeRate != 1 || got.Ratio < 8 {
		t.Fatalf("slow case: %+v", got)
	}
	if !strings.Contains(q.Cases[2].Error, "failFast") {
		t.Errorf("skipped case says %q", q.Cases[2].Error)
	}
	// Again, without failFast: the two finished cases are kept, the others run.
	p2 := plan(t, 5, workers, "  cycles: 2")
	fr2 := &fakeRunner{client: c, slow: map[string]bool{ids[1]: true}}
	q2, err := Run(context.Background(), Options{Plan: p2, Nodes: workers, Client: c, Runner: fr2, OutputDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if q2.Counts.Resumed != 2 || len(fr2.ran) != 3 || q2.Counts.Passed != 4 || q2.Counts.Failed != 1 {
		t.Fatalf("resume: counts %+v, ran %v", q2.Counts, fr2.ran)
	}
	for _, f := range []string{ResultFile, "junit.xml", "summary.md", "report.html", filepath.Join(casesDir, ids[0], caseFile)} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Error(err)
		}
	}
	back, err := report.ReadQualification(filepath.Join(dir, ResultFile))
	if err != nil || len(back.Cases) != 5 {
		t.Fatalf("read back: %v %+v", err, back)
	}
}

// A qualification stopped in the middle of a case leaves its run ID; the
// next one sweeps that run before running the case again.
func TestInterruptedCaseIsSweptOnResume(t *testing.T) {
	t.Parallel()
	c := cluster(workers...)
	dir := t.TempDir()
	p := plan(t, 3, workers, "")
	ctx, cancel := context.WithCancel(context.Background())
	fr := &fakeRunner{client: c, cancelOn: p.Cases[1].ID, cancel: cancel}
	q, err := Run(ctx, Options{Plan: p, Nodes: workers, Client: c, Runner: fr, OutputDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if q.Counts.Passed != 1 || q.Counts.Errored != 1 || q.Counts.Skipped != 1 {
		t.Fatalf("interrupted: %+v", q.Counts)
	}
	// As a SIGKILL would leave it: started, never finished.
	st := caseState{Digest: Digest(p.Cases[1], 1, nil), RunID: "run-killed"}
	writeState(t, filepath.Join(dir, casesDir, p.Cases[1].ID, caseFile), st)
	fr2 := &fakeRunner{client: c}
	q2, err := Run(context.Background(), Options{Plan: p, Nodes: workers, Client: c, Runner: fr2, OutputDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if q2.Counts.Passed != 3 || q2.Counts.Resumed != 1 || len(fr2.swept) != 1 || fr2.swept[0] != "run-killed" {
		t.Fatalf("resume after kill: counts %+v swept %v ran %v", q2.Counts, fr2.swept, fr2.ran)
	}
}

func writeState(t *testing.T, path string, st caseState) {
	t.Helper()
	b := fmt.Sprintf(`{"digest": %q, "runID": %q, "result": {"id": "x", "name": "x", "params": [], "outcome": "", "flakeRate": 0, "dir": ""}}`, st.Digest, st.RunID)
	if err := os.WriteFile(path, []byte(b), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestCaseErrorIsErrored(t *testing.T) {
	t.Parallel()
	c := cluster(workers...)
	p := plan(t, 2, workers, "")
	fr := &fakeRunner{client: c, fail: map[string]error{p.Cases[0].ID: errors.New("prepare: boom")}}
	q, err := Run(context.Background(), Options{Plan: p, Nodes: workers, Client: c, Runner: fr, OutputDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if q.Cases[0].Outcome != report.OutcomeError || !strings.Contains(q.Cases[0].Error, "boom") || q.Cases[1].Outcome != report.OutcomePassed || q.Pass {
		t.Fatalf("cases %+v", q.Cases)
	}
}

// A cluster just made has its control plane Ready before its workers: the
// cases wait for a pool node to be Ready instead of erroring at once.
func TestWaitsForAPoolNodeToBeReady(t *testing.T) {
	t.Parallel()
	c := fake.NewClientset()
	for _, n := range workers {
		if _, err := c.CoreV1().Nodes().Create(context.Background(), node(n, false), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	fr := &fakeRunner{client: c}
	go func() {
		time.Sleep(300 * time.Millisecond)
		for _, n := range workers {
			fr.setReady(context.Background(), n, true)
		}
	}()
	p := plan(t, 2, workers, "")
	var progress bytes.Buffer
	q, err := Run(context.Background(), Options{Plan: p, Nodes: workers, Client: c, Runner: fr, OutputDir: t.TempDir(), Progress: &progress})
	if err != nil {
		t.Fatal(err)
	}
	if q.Counts.Passed != 2 {
		t.Fatalf("counts %+v, cases %+v", q.Counts, q.Cases)
	}
	if !strings.Contains(progress.String(), "waiting up to 5m0s for a Ready node of the pool (w1, w2, w3)") {
		t.Errorf("progress does not say what it waits for:\n%s", progress.String())
	}
}
