package scenario

import (
	"errors"
	"os"
	"slices"
	"strings"
	"testing"
)

const planHead = `apiVersion: pvreboot.dev/v1alpha1
kind: Qualification
metadata: {name: q}
spec:
  base: {file: base.yaml}
`

func readBase(name string) ([]byte, string, error) {
	if name != "base.yaml" {
		return nil, "", os.ErrNotExist
	}
	return []byte(`apiVersion: pvreboot.dev/v1alpha1
kind: Scenario
metadata: {name: base}
spec:
  volumes: [{name: data, backing: filesystem, fsType: ext4, size: 2Gi, mountOptions: [noatime]}]
  workload: {fileSize: 256Mi}
`), "base.yaml", nil
}

func TestQualificationExpands(t *testing.T) {
	t.Parallel()
	p, err := ParseQualification([]byte(planHead+`  matrix:
    backing: [filesystem, block]
    fsType: [ext4, xfs]
    method: [sendfile, copy_file_range]
    exclude: [{backing: block, method: copy_file_range}]
    include: [{backing: block, method: readwrite}, {fault: io-throttle}]
  cycles: 3
  trend: {maxTrendPerCycle: 0.1}
`), readBase)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, c := range p.Cases {
		names = append(names, c.ID+" | "+c.Name)
	}
	want := []string{
		"filesystem-ext4-sendfile | backing=filesystem fsType=ext4 method=sendfile",
		"filesystem-ext4-copy_file_range | backing=filesystem fsType=ext4 method=copy_file_range",
		"filesystem-xfs-sendfile | backing=filesystem fsType=xfs method=sendfile",
		"filesystem-xfs-copy_file_range | backing=filesystem fsType=xfs method=copy_file_range",
		"block-sendfile | backing=block fsType=n/a method=sendfile",
		"block-readwrite | backing=block method=readwrite",
		"io-throttle | fault=io-throttle",
	}
	if !slices.Equal(names, want) {
		t.Fatalf("cases:\n%s\nwant:\n%s", strings.Join(names, "\n"), strings.Join(want, "\n"))
	}
	if p.Collapsed != 1 {
		t.Errorf("collapsed %d, want 1 (block x xfs is block x ext4)", p.Collapsed)
	}
	blk := p.Cases[4].Scenario.Spec.Volumes[0]
	if blk.Backing != BackingBlock || blk.FSType != "" || blk.MountOptions != nil {
		t.Errorf("block case volume %+v: fsType and mount options must go", blk)
	}
	xfs := p.Cases[2].Scenario.Spec
	if xfs.Volumes[0].FSType != "xfs" || !slices.Equal(xfs.Volumes[0].MountOptions, []string{"noatime"}) || xfs.Workload.Method != "sendfile" {
		t.Errorf("xfs case: %+v %+v", xfs.Volumes[0], xfs.Workload)
	}
	if th := p.Cases[6].Scenario.Spec; len(th.Faults) != 1 || th.Faults[0].Type != FaultIOThrottle || th.Volumes[0].FSType != "ext4" {
		t.Errorf("include case: %+v", th)
	}
	// Cases do not share the base's slices.
	if p.Cases[0].Scenario.Spec.Volumes[0].FSType != "ext4" {
		t.Errorf("a later case changed an earlier one: %+v", p.Cases[0].Scenario.Spec.Volumes[0])
	}
	if p.Qualification.Spec.Trend.Metric != TrendP50 || *p.Qualification.Spec.Parallel != 1 {
		t.Errorf("defaults: %+v", p.Qualification.Spec)
	}
}

func TestQualificationInlineBase(t *testing.T) {
	t.Parallel()
	p, err := ParseQualification([]byte(`apiVersion: pvreboot.dev/v1alpha1
kind: Qualification
metadata: {name: q}
spec:
  base:
    scenario:
      apiVersion: pvreboot.dev/v1alpha1
      kind: Scenario
      metadata: {name: inline}
      spec: {workload: {fileSize: 64Mi}}
  matrix: {chunkSize: [64Ki, 16Mi]}
`), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Cases) != 2 || p.Cases[1].Scenario.Spec.Workload.ChunkSize != "16Mi" || p.Base.Metadata.Name != "inline" {
		t.Fatalf("%+v", p.Cases)
	}
}

func TestQualificationInvalid(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, plan string
		want       []string
	}{
		{"unknown axis", planHead + "  matrix: {fsTyp: [ext4]}\n", []string{"spec.matrix.fsTyp: Forbidden: line 6: unknown field"}},
		{"bad values", planHead + "  matrix: {fault: [bogus], mountOptions: ['a b'], node: [Bad_Node], fsType: [ext4, ext4]}\n",
			[]string{`spec.matrix.fault[0]: Unsupported value: "bogus"`, `spec.matrix.mountOptions[0]`, `spec.matrix.node[0]`, `spec.matrix.fsType[1]: Duplicate value: "ext4"`}},
		{"bounds", planHead + "  cycles: 0\n  parallel: 100\n", []string{"spec.cycles: Invalid value: 0", "spec.parallel: Invalid value: 100"}},
		{"kind reboots one at a time", planHead + "  maxUnavailable: 2\n", []string{"spec.maxUnavailable: Invalid value: 2: must be 1 with kind-restart or kind-kill"}},
		{"trend needs cycles", planHead + "  cycles: 2\n  trend: {maxTrendPerCycle: 0.1}\n", []string{"spec.trend: Invalid value: \"\": a trend needs at least 3 cycles"}},
		{"trend limit", planHead + "  cycles: 3\n  trend: {metric: p99, maxTrendPerCycle: -1}\n", []string{"spec.trend.metric: Unsupported value: \"p99\"", "spec.trend.maxTrendPerCycle: Invalid value: -1"}},
		{"case invalid", planHead + "  matrix: {backing: [block], method: [copy_file_range]}\n",
			[]string{"case backing=block method=copy_file_range: spec.workload.method: Invalid value: \"copy_file_range\""}},
		{"base missing", strings.Replace(planHead, "base.yaml", "nope.yaml", 1), []string{"spec.base.file: Invalid value: \"nope.yaml\""}},
		{"base and inline", planHead[:strings.Index(planHead, "  base")] + "  base: {file: base.yaml, scenario: {kind: Scenario}}\n", []string{"spec.base: Forbidden: set either file or scenario"}},
		{"exclude names a value not in the matrix", planHead + "  matrix: {method: [sendfile]}\n  matrix2: 1\n", []string{"spec.matrix2: Forbidden"}},
		{"exclude unknown value", planHead + "  matrix: {method: [sendfile], exclude: [{method: readwrite}]}\n", []string{`spec.matrix.exclude[0].method: Not found: "readwrite"`}},
		{"empty entry", planHead + "  matrix: {method: [sendfile], include: [{}]}\n", []string{"spec.matrix.include[0]: Required value: name at least one axis"}},
		{"everything excluded", planHead + "  matrix: {method: [sendfile], exclude: [{method: sendfile}]}\n", []string{"spec.matrix: Required value: every combination is excluded"}},
		{"pinned node outside the pool", planHead + "  nodes: {names: [w1]}\n  matrix: {node: [w2]}\n", []string{`spec.matrix.node[0]: Invalid value: "w2": not a node of spec.nodes.names`}},
		{"a scenario is not a plan", strings.Replace(planHead, "kind: Qualification", "kind: Scenario", 1), []string{"kind: Invalid value: \"Scenario\": must be Qualification"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := ParseQualification([]byte(tc.plan), readBase)
			if err == nil {
				t.Fatal("accepted")
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("not ErrInvalid: %v", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
		})
	}
}

func TestKindOf(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{"kind: Scenario\n": Kind, "kind: Qualification": KindQualification, "{{": "", "a: 1": ""} {
		if got := KindOf([]byte(in)); got != want {
			t.Errorf("KindOf(%q) = %q, want %q", in, got, want)
		}
	}
}
