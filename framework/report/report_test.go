package report

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pvreboot/pvreboot/framework/budget"
	"github.com/pvreboot/pvreboot/framework/probe"
)

var update = flag.Bool("update", false, "rewrite golden files")

func env(majmin, fs, blkio string) probe.Env {
	e := probe.Env{
		KernelRelease: "6.18.0", BootID: "b00t", Hostname: "workload",
		Mount:      probe.Mount{MountID: 40, MajorMinor: majmin, Root: "/", MountPoint: "/data", MountOptions: "rw,noatime", FSType: fs, Source: "/dev/loop0", SuperOptions: "rw"},
		StatfsType: fs,
		Cgroup:     probe.Cgroup{Version: "v1", Paths: map[string]string{"blkio": "/kubepods/pod1"}, Limits: map[string]string{"memory.limit_in_bytes": "9223372036854771712"}},
		Sysctls:    map[string]string{"vm.dirty_ratio": "20"},
	}
	if blkio != "" {
		e.Cgroup.Limits["blkio.throttle.read_bps_device"] = blkio
	}
	return e
}

func phase(name string, callMs []float64, e probe.Env, uid string, restarts int32) PhaseResult {
	var calls []probe.Call
	var total int64
	for _, ms := range callMs {
		ns := int64(ms * 1e6)
		calls = append(calls, probe.Call{Bytes: 16 << 20, Ns: ns})
		total += ns
	}
	it := probe.Iteration{Calls: calls, Bytes: int64(len(calls)) * 16 << 20, Ns: total, BytesPerSecond: float64(int64(len(calls))*16<<20) / (float64(total) / 1e9)}
	rep := &probe.Report{Schema: probe.Schema, Method: probe.MethodSendfile, Cache: probe.CacheCold, ChunkBytes: 16 << 20,
		FileBytes: it.Bytes, Dir: "/data", Iterations: []probe.Iteration{it}, Env: e}
	rep.Summary = probe.Summarize(rep.Iterations)
	return PhaseResult{Name: name, Pod: PodFacts{Name: "pvreboot-workload", UID: uid, RestartCount: restarts}, Probe: rep,
		Data: &DataCheck{Path: "/data/pvreboot-canary", Want: "abc", Got: "abc", OK: true}}
}

func fixture(regressed bool) *Result {
	t0 := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	at := func(s float64) *time.Time { t := t0.Add(time.Duration(s * float64(time.Second))); return &t }
	base := []float64{12, 14, 15, 16, 13, 15, 14, 18, 15, 16, 14, 13, 15, 17, 16, 14, 15, 13, 16, 15}
	after := base
	afterEnv := env("7:0", "ext4", "")
	if regressed {
		after = []float64{700, 720, 760, 710, 740, 730, 705, 780, 715, 725, 735, 745, 700, 755, 765, 710, 720, 730, 740, 750}
		afterEnv = env("7:0", "ext4", "7:0 20971520")
	}
	r := &Result{
		Schema: Schema, Scenario: "sendfile-after-reboot", StartedAt: t0, FinishedAt: t0.Add(95 * time.Second),
		Cluster: ClusterFacts{Name: "pvreboot", Provider: "kind", KubernetesVersion: "v1.37.2"},
		Node:    NodeFacts{Name: "pvreboot-worker", InternalIP: "172.30.0.4"},
		Phases: []PhaseResult{
			phase("baseline", base, env("7:0", "ext4", ""), "11111111-aaaa", 0),
			phase("after-reboot", after, afterEnv, "11111111-aaaa", 1),
			phase("after-recreate", base, env("7:0", "ext4", ""), "22222222-bbbb", 0),
		},
		Reboots: []Reboot{{Method: "kind-restart", Node: "pvreboot-worker", Issued: t0.Add(30 * time.Second), Returned: *at(42.5),
			KubeletBack: at(45), NodeReady: at(46), PodReady: at(51), SamePod: true, RestartsBefore: 0, RestartsAfter: 1,
			BootIDBefore: "b00t", BootIDAfter: "b00t", Notes: []string{"node never turned NotReady (down less than the node monitor grace period)"}}},
	}
	budgets := []budget.Budget{
		{Kind: budget.Absolute, Phase: "after-reboot", Metric: "p99", MaxNs: 120e6},
		{Kind: budget.Relative, Phase: "after-reboot", Metric: "p50", RelativeTo: "baseline", MaxRatio: 2},
		{Kind: budget.Statistical, Phase: "after-reboot", RelativeTo: "baseline", MaxSlowdown: 1.5, Alpha: 0.01},
	}
	r.Verdict = budget.Evaluate(budgets, r.BudgetPhases())
	r.Diagnosis = DiagnoseResult(r)
	return r
}

func TestGolden(t *testing.T) {
	t.Parallel()
	for _, regressed := range []bool{false, true} {
		name := "healthy"
		if regressed {
			name = "regressed"
		}
		r := fixture(regressed)
		if r.Verdict.Pass == regressed {
			t.Fatalf("%s fixture verdict pass=%v", name, r.Verdict.Pass)
		}
		for _, f := range Formats {
			t.Run(name+"/"+f, func(t *testing.T) {
				var buf bytes.Buffer
				if err := Render(&buf, r, f); err != nil {
					t.Fatal(err)
				}
				golden := filepath.Join("testdata", name+"."+map[string]string{"text": "txt", "markdown": "md", "junit": "xml", "json": "json"}[f])
				if *update {
					if err := os.WriteFile(golden, buf.Bytes(), 0o644); err != nil {
						t.Fatal(err)
					}
				}
				want, err := os.ReadFile(golden)
				if err != nil {
					t.Fatalf("%v (run go test -update)", err)
				}
				if !bytes.Equal(buf.Bytes(), want) {
					t.Errorf("%s differs from golden %s (run go test ./framework/report -update if intended):\n%s", f, golden, buf.String())
				}
			})
		}
	}
}

func TestDiagnoseOrdersExplanationsFirst(t *testing.T) {
	t.Parallel()
	a := env("7:0", "ext4", "")
	b := env("0:45", "overlay", "7:0 20971520")
	b.BootID = "other"
	b.Sysctls["vm.dirty_ratio"] = "40"
	cs := Diagnose("baseline", "after-reboot", a, b)
	if len(cs) < 5 {
		t.Fatalf("changes = %v", cs)
	}
	if cs[0].Field != "mount.majorMinor" || !strings.Contains(cs[0].Meaning, "different device") {
		t.Errorf("first change = %+v", cs[0])
	}
	if cs[len(cs)-1].Field != "bootID" {
		t.Errorf("bootID is not last: %+v", cs)
	}
	var fields []string
	for _, c := range cs {
		fields = append(fields, c.Field)
	}
	for _, want := range []string{"cgroup.limits.blkio.throttle.read_bps_device", "sysctl.vm.dirty_ratio", "statfsType"} {
		if !strings.Contains(strings.Join(fields, " "), want) {
			t.Errorf("no %s change in %v", want, fields)
		}
	}
	if got := Diagnose("a", "b", a, a); len(got) != 0 {
		t.Errorf("same env gives changes: %v", got)
	}
}

func TestReadFileAcceptsProbeAndResult(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	r := fixture(true)
	b, _ := json.Marshal(r)
	rp := filepath.Join(dir, "result.json")
	os.WriteFile(rp, b, 0o644)
	pb, _ := json.Marshal(r.Phases[0].Probe)
	pp := filepath.Join(dir, "probe.json")
	os.WriteFile(pp, pb, 0o644)
	bad := filepath.Join(dir, "bad.json")
	os.WriteFile(bad, []byte(`{"schema":"other/v9"}`), 0o644)
	got, err := ReadFile(rp)
	if err != nil || len(got.Phases) != 3 {
		t.Fatalf("result: %v %v", got, err)
	}
	got, err = ReadFile(pp)
	if err != nil || len(got.Phases) != 1 || got.Phases[0].Name != "probe" {
		t.Fatalf("probe: %+v %v", got, err)
	}
	if _, err := ReadFile(bad); err == nil || !strings.Contains(err.Error(), "other/v9") {
		t.Errorf("bad schema: %v", err)
	}
}

// A raw block volume has no mount: its device number and loop backing file
// are what tell whether the pod still sees the disk written before.
func TestDiagnoseRawBlockVolume(t *testing.T) {
	t.Parallel()
	dev := func(majmin, name, backing string) probe.Env {
		return probe.Env{Device: &probe.BlockDevice{Name: name, MajorMinor: majmin, BackingFile: backing}}
	}
	a := dev("7:1", "loop1", "/mnt/pvreboot/pvreboot-1-data.img")
	if got := Diagnose("baseline", "after-reboot", a, dev("7:1", "loop1", "/mnt/pvreboot/pvreboot-1-data.img")); len(got) != 0 {
		t.Errorf("same device gives changes: %v", got)
	}
	cs := Diagnose("baseline", "after-reboot", a, dev("7:4", "loop4", "/var/lib/other.img"))
	var fields []string
	for _, c := range cs {
		fields = append(fields, c.Field)
	}
	if got := strings.Join(fields, " "); got != "device.majorMinor device.backingFile device.name" {
		t.Errorf("fields = %q", got)
	}
}
