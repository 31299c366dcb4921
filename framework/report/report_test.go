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

// copiesPerPhase is how many copies (probe iterations) a fixture phase
// splits its calls into.
const copiesPerPhase = 5

// phase is a measured phase whose calls are split evenly into copies, each
// of which moved its data (checked by FIEMAP) from a cold source.
func phase(name string, callMs []float64, e probe.Env, uid string, restarts int32) PhaseResult {
	per := len(callMs) / copiesPerPhase
	var its []probe.Iteration
	for i := 0; i < copiesPerPhase; i++ {
		var calls []probe.Call
		var total int64
		for _, ms := range callMs[i*per : (i+1)*per] {
			ns := int64(ms * 1e6)
			calls = append(calls, probe.Call{Bytes: 16 << 20, Ns: ns})
			total += ns
		}
		n := int64(len(calls)) * 16 << 20
		resident := int64(0)
		its = append(its, probe.Iteration{Index: i, Calls: calls, Bytes: n, Ns: total, BytesPerSecond: float64(n) / (float64(total) / 1e9),
			SourceResidentBytes: &resident, DataPath: probe.DataPathCopied, DataPathCheck: probe.DataCheckFiemap, AllocatedBytes: n})
	}
	rep := &probe.Report{Schema: probe.Schema, Method: probe.MethodSendfile, Cache: probe.CacheCold, ChunkBytes: 16 << 20,
		FileBytes: its[0].Bytes, Dir: "/data", Iterations: its, Env: e}
	rep.Summary = probe.Summarize(rep.Iterations)
	return PhaseResult{Name: name, Pod: PodFacts{Name: "pvreboot-workload", UID: uid, RestartCount: restarts}, Probe: rep,
		Data: &DataCheck{Path: "/data/pvreboot-canary", Want: "abc", Got: "abc", OK: true}}
}

// reflinked turns a phase into copy_file_range on xfs that shared every
// extent with the source, its source resident as given before each copy.
func reflinked(p PhaseResult, resident float64) PhaseResult {
	rep := p.Probe
	rep.Method = probe.MethodCopyFileRange
	for i := range rep.Iterations {
		it := &rep.Iterations[i]
		res := int64(resident * float64(it.Bytes))
		it.SourceResidentBytes = &res
		it.DataPath, it.SharedBytes, it.SourceSharedBytes = probe.DataPathSharedExtents, it.Bytes, it.Bytes
	}
	rep.Summary = probe.Summarize(rep.Iterations)
	return p
}

// Fixtures of the golden files.
const (
	fixtureHealthy   = "healthy"
	fixtureRegressed = "regressed"
	// fixtureReflink: copy_file_range on xfs shares extents in every phase,
	// so a 20 MB/s read throttle and a memory limit after the reboot do not
	// slow it, and the budgets pass blind.
	fixtureReflink = "reflink"
)

func fixture(kind string) *Result {
	t0 := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	at := func(s float64) *time.Time { t := t0.Add(time.Duration(s * float64(time.Second))); return &t }
	base := []float64{12, 14, 15, 16, 13, 15, 14, 18, 15, 16, 14, 13, 15, 17, 16, 14, 15, 13, 16, 15}
	after := base
	afterEnv := env("7:0", "ext4", "")
	if kind == fixtureRegressed {
		after = []float64{700, 720, 760, 710, 740, 730, 705, 780, 715, 725, 735, 745, 700, 755, 765, 710, 720, 730, 740, 750}
		afterEnv = env("7:0", "ext4", "7:0 20971520")
	}
	phases := []PhaseResult{
		phase("baseline", base, env("7:0", "ext4", ""), "11111111-aaaa", 0),
		phase("after-reboot", after, afterEnv, "11111111-aaaa", 1),
		phase("after-recreate", base, env("7:0", "ext4", ""), "22222222-bbbb", 0),
	}
	scenario := "sendfile-after-reboot"
	if kind == fixtureReflink {
		scenario = "copy-file-range-after-reboot"
		clone := make([]float64, len(base))
		for i, ms := range base {
			clone[i] = ms / 1000 // 12-18 µs per 16 MiB call
		}
		xfs := func(blkio string) probe.Env {
			e := env("7:0", "xfs", blkio)
			e.Cgroup.Memory = map[string]string{"usage_in_bytes": "41943040", "failcnt": "0", "stat.total_cache": "33554432"}
			return e
		}
		throttled := xfs("7:0 20971520")
		throttled.Cgroup.Limits["memory.limit_in_bytes"] = "268435456"
		throttled.Cgroup.Memory = map[string]string{"usage_in_bytes": "268369920", "failcnt": "31", "stat.total_cache": "260046848"}
		phases = []PhaseResult{
			reflinked(phase("baseline", clone, xfs(""), "11111111-aaaa", 0), 0),
			reflinked(phase("after-reboot", clone, throttled, "11111111-aaaa", 1), 1),
			reflinked(phase("after-recreate", clone, xfs(""), "22222222-bbbb", 0), 0),
		}
	}
	r := &Result{
		Schema: Schema, Scenario: scenario, StartedAt: t0, FinishedAt: t0.Add(95 * time.Second),
		Cluster: ClusterFacts{Name: "pvreboot", Provider: "kind", KubernetesVersion: "v1.37.2"},
		Node:    NodeFacts{Name: "pvreboot-worker", InternalIP: "172.30.0.4"},
		Phases:  phases,
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

// goldenExt is the golden file extension of each format.
func goldenExt(format string) string {
	return map[string]string{"text": "txt", "markdown": "md", "junit": "xml", "json": "json", "html": "html", "openmetrics": "prom"}[format]
}

func TestGolden(t *testing.T) {
	t.Parallel()
	for _, fx := range []struct {
		name     string
		wantPass bool
	}{{fixtureHealthy, true}, {fixtureRegressed, false}, {fixtureReflink, true}} {
		name := fx.name
		r := fixture(name)
		if r.Verdict.Pass != fx.wantPass {
			t.Fatalf("%s fixture verdict pass=%v", name, r.Verdict.Pass)
		}
		for _, f := range Formats {
			t.Run(name+"/"+f, func(t *testing.T) {
				var buf bytes.Buffer
				if err := Render(&buf, r, f); err != nil {
					t.Fatal(err)
				}
				golden := filepath.Join("testdata", name+"."+goldenExt(f))
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
	r := fixture(fixtureRegressed)
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

func fieldsOf(cs []Change) string {
	var fields []string
	for _, c := range cs {
		fields = append(fields, c.Field)
	}
	return strings.Join(fields, " ")
}

// Memory cgroup limits are causes and say so; usage and pressure are
// symptoms, named only when they grow markedly, and ranked after causes.
func TestDiagnoseMemoryCgroup(t *testing.T) {
	t.Parallel()
	v2 := func(limits, memory map[string]string) probe.Env {
		e := env("7:0", "ext4", "")
		e.Cgroup = probe.Cgroup{Version: "v2", Paths: map[string]string{"": "/kubepods/pod1"}, Limits: limits, Memory: memory}
		return e
	}
	v1 := func(limit string, memory map[string]string) probe.Env {
		e := env("7:0", "ext4", "")
		e.Cgroup.Limits["memory.limit_in_bytes"] = limit
		e.Cgroup.Memory = memory
		return e
	}
	unlimited := "9223372036854771712"
	for _, tt := range []struct {
		name   string
		a, b   probe.Env
		fields string // the fields Diagnose lists, in order
		mean   string // the first change's meaning contains it
	}{
		{name: "v1 limit", a: v1(unlimited, nil), b: v1("268435456", nil),
			fields: "cgroup.limits.memory.limit_in_bytes", mean: "memory cgroup limit memory.limit_in_bytes changed"},
		{name: "v2 max and high", a: v2(map[string]string{"memory.max": "max", "memory.high": "max"}, nil),
			b:      v2(map[string]string{"memory.max": "268435456", "memory.high": "201326592"}, nil),
			fields: "cgroup.limits.memory.high cgroup.limits.memory.max", mean: "memory cgroup limit memory.high changed"},
		{name: "v1 failcnt from 0 after the limit", a: v1(unlimited, map[string]string{"failcnt": "0", "usage_in_bytes": "1000"}),
			b:      v1("268435456", map[string]string{"failcnt": "31", "usage_in_bytes": "268000000"}),
			fields: "cgroup.limits.memory.limit_in_bytes cgroup.memory.failcnt", mean: "memory cgroup limit"},
		{name: "usage alone is no symptom", a: v1(unlimited, map[string]string{"failcnt": "4", "usage_in_bytes": "1000", "stat.total_dirty": "0"}),
			b: v1(unlimited, map[string]string{"failcnt": "5", "usage_in_bytes": "268000000", "stat.total_dirty": "9000000"})},
		{name: "v2 events and pressure", a: v2(nil, map[string]string{"events.max": "0", "events.oom": "0", "pressure.some.avg10": "0.40", "pressure.full.avg10": "3.00"}),
			b:      v2(nil, map[string]string{"events.max": "12", "events.oom": "1", "pressure.some.avg10": "23.50", "pressure.full.avg10": "4.90"}),
			fields: "cgroup.memory.events.max cgroup.memory.events.oom cgroup.memory.pressure.some.avg10", mean: "hit memory.max"},
		{name: "pressure that was already there", a: v2(nil, map[string]string{"pressure.some.avg10": "20.00"}),
			b: v2(nil, map[string]string{"pressure.some.avg10": "30.00"})},
		// An older baseline without memory data, or a value that is not a
		// count, is no baseline of zero: nothing is compared.
		{name: "baseline without memory data", a: v2(nil, nil),
			b: v2(nil, map[string]string{"events.max": "12", "events.high": "3"})},
		{name: "baseline counter that does not parse", a: v1(unlimited, map[string]string{"failcnt": "n/a"}),
			b: v1(unlimited, map[string]string{"failcnt": "31"})},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cs := Diagnose("baseline", "after-reboot", tt.a, tt.b)
			if got := fieldsOf(cs); got != tt.fields {
				t.Fatalf("fields = %q, want %q\n%v", got, tt.fields, cs)
			}
			if len(cs) > 0 && !strings.Contains(cs[0].Meaning, tt.mean) {
				t.Errorf("meaning %q lacks %q", cs[0].Meaning, tt.mean)
			}
		})
	}
}

// A change of data path comes first: a phase whose copies shared extents
// has no latency to compare. What else the copies showed (cached source,
// memory pressure) comes after every cause, readahead included, and before
// the boot.
func TestDiagnoseProbesRanksSymptomsAfterCauses(t *testing.T) {
	t.Parallel()
	a := fixture(fixtureHealthy).Phases[0].Probe
	b := reflinked(fixture(fixtureHealthy).Phases[1], 1).Probe
	b.Env = env("7:0", "ext4", "7:0 20971520")
	b.Env.Device = &probe.BlockDevice{Name: "loop0", MajorMinor: "7:0", ReadAheadKB: 4}
	a.Env.Device = &probe.BlockDevice{Name: "loop0", MajorMinor: "7:0", ReadAheadKB: 128}
	a.Env.Cgroup.Memory = map[string]string{"failcnt": "0"}
	b.Env.Cgroup.Memory = map[string]string{"failcnt": "3"}
	b.Env.BootID = "other"
	cs := DiagnoseProbes("baseline", "after-reboot", a, b)
	want := "copy.dataPath cgroup.limits.blkio.throttle.read_bps_device device.readAheadKB cache.sourceResident cgroup.memory.failcnt bootID"
	if got := fieldsOf(cs); got != want {
		t.Fatalf("fields = %q\nwant     %q", got, want)
	}
	for _, c := range cs {
		switch c.Field {
		case "copy.dataPath":
			if c.Before != "copied" || c.After != "shared-extents" || !strings.Contains(c.Meaning, "copy_file_range shared extents (reflink) in after-reboot: no data was read or written") {
				t.Errorf("data path change = %+v", c)
			}
		case "cache.sourceResident":
			if c.Before != "0%" || c.After != "100%" || !strings.Contains(c.Meaning, "the eviction did not work") {
				t.Errorf("residency change = %+v", c)
			}
		}
	}
	if got := DiagnoseProbes("a", "b", a, a); len(got) != 0 {
		t.Errorf("same report gives changes: %v", got)
	}
}

func TestRenderWarnsOfSharedExtentsAndWarmColdCache(t *testing.T) {
	t.Parallel()
	r := fixture(fixtureReflink)
	var text, md bytes.Buffer
	must := func(err error) {
		if err != nil {
			t.Fatal(err)
		}
	}
	must(Text(&text, r))
	must(Markdown(&md, r))
	for _, want := range []string{
		"WARNING: baseline: copy_file_range shared extents (reflink): no data was read or written; latency budgets on this phase cannot see the data path",
		"WARNING: after-reboot: cache cold, yet 100% of the source was in page cache before the first call",
		"shared-extents  100%",
	} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("text lacks %q:\n%s", want, text.String())
		}
	}
	if !strings.Contains(md.String(), "> ⚠️ **warning:** after-recreate: copy_file_range shared extents (reflink)") {
		t.Errorf("markdown lacks the warning:\n%s", md.String())
	}
	text.Reset()
	must(Text(&text, fixture(fixtureHealthy)))
	if strings.Contains(text.String(), "WARNING") {
		t.Errorf("healthy report warns:\n%s", text.String())
	}
}
