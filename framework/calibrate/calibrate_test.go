package calibrate

import (
	"bytes"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/pvreboot/pvreboot/framework/budget"
	"github.com/pvreboot/pvreboot/framework/scenario"
)

// repeat is one synthetic measurement: iters copies of calls calls, each
// copy with its own level (copy-to-copy noise) around median ns.
func repeat(r *rand.Rand, iters, calls int, median, copySigma, callSigma float64) budget.Phase {
	var p budget.Phase
	for range iters {
		level := median * math.Exp(copySigma*r.NormFloat64())
		var it []float64
		for range calls {
			it = append(it, level*math.Exp(callSigma*r.NormFloat64()))
		}
		p.Iterations = append(p.Iterations, it)
		p.CallNs = append(p.CallNs, it...)
	}
	// 16 MiB a call.
	var total float64
	for _, x := range p.CallNs {
		total += x
	}
	p.BytesPerSecond = float64(len(p.CallNs)) * (16 << 20) / (total / 1e9)
	return p
}

const scenarioYAML = `apiVersion: pvreboot.dev/v1alpha1
kind: Scenario
metadata: {name: cal}
spec:
  cluster:
    kind: {name: pvreboot}
    nodes: {names: [pvreboot-worker]}
  volumes:
  - {name: data, backing: filesystem, fsType: ext4, size: 2Gi}
  workload: {method: sendfile, fileSize: 256Mi, chunkSize: 16Mi, iterations: 5, cache: cold}
  reboot: {method: kind-restart, timeout: 5m}
  budgets:
  - {phase: after-reboot, metric: p99, max: 20ms}
  - {phase: after-reboot, metric: p50, relativeTo: baseline, maxRatio: 1.05}
  - {phase: after-reboot, statistical: {against: baseline, maxSlowdown: 2.0, alpha: 0.01}}
  - {phase: after-reboot, metric: throughput, min: 10MB/s}
`

func TestCompute(t *testing.T) {
	s, err := scenario.Parse([]byte(scenarioYAML))
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(7, 7))
	var reps []budget.Phase
	for range 6 {
		reps = append(reps, repeat(r, 5, 16, 15e6, 0.15, 0.05))
	}
	c, err := Compute("cal", "baseline", s.Spec.Budgets, reps)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := Text(&out, c); err != nil {
		t.Fatal(err)
	}
	t.Log("\n" + out.String())
	if len(c.Noise) != len(Metrics()) || len(c.Budgets) != 4 || len(c.Suggested) != 4 {
		t.Fatalf("noise %d, budgets %d, suggested %d", len(c.Noise), len(c.Budgets), len(c.Suggested))
	}
	for _, n := range c.Noise {
		if !(n.Min <= n.Mean && n.Mean <= n.Max) || !(n.MaxRatio >= 1) || !(n.CV > 0) {
			t.Errorf("%s: inconsistent noise %+v", n.Metric, n)
		}
	}
	p50 := c.Noise[0]
	if p50.Metric != "p50" || p50.CV < 0.03 || p50.CV > 0.3 {
		t.Errorf("p50 CV %.3f: the repeats were drawn with a copy-level sigma of 0.15", p50.CV)
	}
	// A 20 ms p99 limit over 15 ms calls with 15% copy noise: some repeats
	// cross it. A x1.05 relative budget on that noise alarms often; the
	// statistical one at x2 never does; 10 MB/s is far below ~1 GB/s.
	abs, rel, st, thr := c.Budgets[0], c.Budgets[1], c.Budgets[2], c.Budgets[3]
	if abs.Trials != 6 || rel.Trials != 30 || st.Trials != 30 {
		t.Errorf("trials %d/%d/%d, want 6 repeats and 30 ordered pairs", abs.Trials, rel.Trials, st.Trials)
	}
	if rel.Alarms == 0 {
		t.Errorf("a x1.05 p50 budget on 15%% copy noise never alarmed: %+v", rel)
	}
	if st.Alarms != 0 || thr.Alarms != 0 {
		t.Errorf("statistical x2 or the throughput floor alarmed on noise: %+v %+v", st, thr)
	}
	if !(rel.RateHi >= rel.Rate && rel.RateHi <= 1) || !(thr.RateHi > 0 && thr.RateHi < 0.5) {
		t.Errorf("bounds: %+v %+v", rel, thr)
	}
	// The suggestions, judged on the same noise, never alarm, and the YAML
	// pastes into a scenario that validates.
	sug := c.Suggested
	if sug[0].Max.Duration <= s.Spec.Budgets[0].Max.Duration/2 || sug[1].MaxRatio < 1.5 || sug[2].Statistical.MaxSlowdown < 1.2 || sug[3].Min.BytesPerSecond <= 0 {
		t.Errorf("suggested %+v", sug)
	}
	c2, err := Compute("cal", "baseline", sug, reps)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range c2.Budgets {
		if b.Alarms != 0 {
			t.Errorf("suggested budget %s alarms on the noise it was made from: %+v", b.Name, b)
		}
	}
	var y bytes.Buffer
	if err := YAML(&y, c); err != nil {
		t.Fatal(err)
	}
	head, _, _ := strings.Cut(scenarioYAML, "  budgets:\n")
	pasted := head + strings.Join(indent(strings.SplitN(y.String(), "\n", 2)[1]), "\n")
	if _, err := scenario.Parse([]byte(pasted)); err != nil {
		t.Errorf("the suggested budgets do not validate: %v\n%s", err, pasted)
	}
}

func indent(s string) []string {
	var out []string
	for _, l := range strings.Split(strings.TrimRight(s, "\n"), "\n") {
		out = append(out, "  "+l)
	}
	return out
}

func TestComputeRefuses(t *testing.T) {
	if _, err := Compute("x", "baseline", nil, []budget.Phase{{CallNs: []float64{1}}}); err == nil {
		t.Error("one repeat accepted")
	}
	empty := []budget.Phase{{}, {}}
	if _, err := Compute("x", "baseline", nil, empty); err == nil || !strings.Contains(err.Error(), "no calls") {
		t.Errorf("repeats without calls: %v", err)
	}
}

func TestUpperBound(t *testing.T) {
	// Rule of three: 0 of n at 95% is about 3/n.
	if got := UpperBound(0, 100, 0.95); math.Abs(got-0.0295) > 0.001 {
		t.Errorf("0/100: %.4f, want 0.0295", got)
	}
	if got := UpperBound(5, 5, 0.95); got != 1 {
		t.Errorf("5/5: %g", got)
	}
	if got := UpperBound(10, 100, 0.95); got < 0.15 || got > 0.17 {
		t.Errorf("10/100: %.4f, want ~0.159", got)
	}
}
