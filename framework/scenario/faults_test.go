package scenario

import (
	"strings"
	"testing"
)

// faultScenario is a valid scenario with the given volumes, workload and
// faults (YAML flow lists).
func faultScenario(volumes, workload, faults string) []byte {
	return []byte(`apiVersion: pvreboot.dev/v1alpha1
kind: Scenario
metadata: {name: faults}
spec:
  cluster:
    kind: {name: pvreboot}
    nodes: {names: [pvreboot-worker]}
  volumes: ` + volumes + `
  workload: ` + workload + `
  reboot: {method: kind-restart, timeout: 5m}
  faults: ` + faults + `
`)
}

const (
	fsVolume    = `[{name: data, backing: filesystem, fsType: ext4, size: 1Gi, mountOptions: [noatime]}]`
	xfsVolume   = `[{name: data, backing: filesystem, fsType: xfs, size: 1Gi}]`
	dirVolume   = `[{name: data, backing: directory, size: 1Gi}]`
	blockVolume = `[{name: data, backing: block, size: 1Gi}]`
	sendfile    = `{method: sendfile, fileSize: 64Mi, chunkSize: 16Mi}`
	readwrite   = `{method: readwrite, fileSize: 64Mi, chunkSize: 16Mi}`
)

func TestValidFaults(t *testing.T) {
	t.Parallel()
	cases := map[string]struct {
		volumes, workload, faults string
		check                     func(*testing.T, *Scenario)
	}{
		// Every fault but readahead, which late-mount would keep from
		// being applied (TestInvalidFaults).
		"every fault on a filesystem volume": {fsVolume, sendfile, `[{type: late-mount}, {type: io-throttle}, {type: mount-options}, {type: memory-squeeze}]`,
			func(t *testing.T, s *Scenario) {
				f := s.Spec.Faults
				if got := f[2].BootMountOptions(); len(got) != 1 || got[0] != "sync" {
					t.Errorf("mount-options default %q, want [sync]", got)
				}
				if n, err := f[3].MemoryLimitBytes(); err != nil || n != 12<<20 {
					t.Errorf("memory-squeeze default %d, %v; want 12Mi", n, err)
				}
				for _, x := range f {
					if x.Phase != PhaseAfterReboot {
						t.Errorf("%s: phase %q", x.Type, x.Phase)
					}
				}
			}},
		"every fault but late-mount on a filesystem volume": {fsVolume, sendfile, `[{type: io-throttle}, {type: mount-options}, {type: memory-squeeze}, {type: readahead}]`,
			func(t *testing.T, s *Scenario) {
				f := s.Spec.Faults
				if kb := f[3].ReadAheadKBOrDefault(); kb != 0 {
					t.Errorf("readahead default %d, want 0", kb)
				}
				for _, x := range f {
					if x.Phase != PhaseAfterReboot {
						t.Errorf("%s: phase %q", x.Type, x.Phase)
					}
				}
			}},
		"mount-options given":            {fsVolume, sendfile, `[{type: mount-options, mountOptions: [sync, dirsync, "commit=60"]}]`, nil},
		"xfs mount option":               {xfsVolume, sendfile, `[{type: mount-options, mountOptions: [wsync]}]`, nil},
		"memory-squeeze at its minimum":  {fsVolume, sendfile, `[{type: memory-squeeze, memoryLimit: 8Mi}]`, nil},
		"memory-squeeze readwrite":       {fsVolume, readwrite, `[{type: memory-squeeze, memoryLimit: 48Mi}]`, nil},
		"memory-squeeze on a directory":  {dirVolume, sendfile, `[{type: memory-squeeze}]`, nil},
		"readahead on a block volume":    {blockVolume, sendfile, `[{type: readahead, readAheadKB: 4}]`, nil},
		"readahead at the kernel floor":  {fsVolume, sendfile, `[{type: readahead, readAheadKB: 128}]`, nil},
		"io-throttle rate on its own":    {fsVolume, sendfile, `[{type: io-throttle, readBPS: 10MiB/s}]`, nil},
		"readahead and mount-options":    {fsVolume, sendfile, `[{type: readahead}, {type: mount-options}]`, nil},
		"memory-squeeze in Ti is parsed": {fsVolume, sendfile, `[{type: memory-squeeze, memoryLimit: 1Ti}]`, nil},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s, err := Parse(faultScenario(c.volumes, c.workload, c.faults))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if c.check != nil {
				c.check(t, s)
			}
		})
	}
}

// Every invalid or hostile fault value is refused with its field path.
func TestInvalidFaults(t *testing.T) {
	t.Parallel()
	cases := map[string]struct {
		volumes, workload, faults string
		want                      []string
	}{
		"unknown type": {fsVolume, sendfile, `[{type: disk-full}]`,
			[]string{`spec.faults[0].type: Unsupported value: "disk-full"`}},
		"twice the same fault": {fsVolume, sendfile, `[{type: readahead}, {type: readahead, readAheadKB: 4}]`,
			[]string{`spec.faults[1].type: Duplicate value: "readahead"`}},
		"mount-options on a directory": {dirVolume, sendfile, `[{type: mount-options}]`,
			[]string{`spec.faults[0].type: Invalid value: "mount-options": mount-options needs a volume with backing filesystem`}},
		"readahead on a directory": {dirVolume, sendfile, `[{type: readahead}]`,
			[]string{`spec.faults[0].type: Invalid value: "readahead": readahead needs a volume with backing filesystem or block`}},
		"mount option not on the allow-list": {fsVolume, sendfile, `[{type: mount-options, mountOptions: [sync, loop]}]`,
			[]string{`spec.faults[0].mountOptions[1]: Invalid value: "loop": volume "data": "loop" is not a ext4 mount option pvreboot allows`}},
		"mount option of another filesystem": {xfsVolume, sendfile, `[{type: mount-options, mountOptions: ["data=journal"]}]`,
			[]string{`spec.faults[0].mountOptions[0]: Invalid value: "data=journal": volume "data": "data=journal" is not a xfs mount option`}},
		"mount option with a comma": {fsVolume, sendfile, `[{type: mount-options, mountOptions: ["sync,dev"]}]`,
			[]string{`spec.faults[0].mountOptions[0]: Invalid value: "sync,dev": one option per list item`}},
		"mount option with a newline": {fsVolume, sendfile, `[{type: mount-options, mountOptions: ["sync\n[Service]\nExecStartPre=/bin/touch /tmp/x"]}]`,
			[]string{`spec.faults[0].mountOptions[0]: Invalid value:`, `must be one mount option of letters, digits`}},
		"mount option with a substitution": {fsVolume, sendfile, `[{type: mount-options, mountOptions: ["sync$(reboot)"]}]`,
			[]string{`spec.faults[0].mountOptions[0]: Invalid value: "sync$(reboot)": must be one mount option`}},
		"mount option the volume has": {fsVolume, sendfile, `[{type: mount-options, mountOptions: [noatime]}]`,
			[]string{`spec.faults[0].mountOptions[0]: Invalid value: "noatime": spec.volumes[0].mountOptions has it already`}},
		"mount option twice": {fsVolume, sendfile, `[{type: mount-options, mountOptions: [sync, sync]}]`,
			[]string{`spec.faults[0].mountOptions[1]: Duplicate value: "sync"`}},
		"mount options empty": {fsVolume, sendfile, `[{type: mount-options, mountOptions: []}]`,
			[]string{`spec.faults[0].mountOptions: Required value`}},
		"too many mount options": {fsVolume, sendfile, `[{type: mount-options, mountOptions: [sync, dirsync, nodiratime, lazytime, iversion, nodelalloc, discard, nobarrier, nombcache]}]`,
			[]string{`spec.faults[0].mountOptions: Too many: 9: must have at most 8 items`}},
		"memory limit below the probe's": {fsVolume, sendfile, `[{type: memory-squeeze, memoryLimit: 4Mi}]`,
			[]string{`spec.faults[0].memoryLimit: Invalid value: "4Mi": must be 8Mi to 1Ti`}},
		"memory limit above 1Ti": {fsVolume, sendfile, `[{type: memory-squeeze, memoryLimit: 2Ti}]`,
			[]string{`spec.faults[0].memoryLimit: Invalid value: "2Ti": must be 8Mi to 1Ti`}},
		"memory limit that is not a quantity": {fsVolume, sendfile, `[{type: memory-squeeze, memoryLimit: "12Mi; reboot"}]`,
			[]string{`spec.faults[0].memoryLimit: Invalid value: "12Mi; reboot": "12Mi; reboot" is not a quantity`}},
		"memory limit as a fraction": {fsVolume, sendfile, `[{type: memory-squeeze, memoryLimit: 12.5Mi}]`,
			[]string{`spec.faults[0].memoryLimit: Invalid value: "12.5Mi"`}},
		"memory limit below a readwrite buffer": {fsVolume, readwrite, `[{type: memory-squeeze, memoryLimit: 32Mi}]`,
			[]string{`spec.faults[0].memoryLimit: Invalid value: "32Mi": a readwrite copy holds buffers of chunkSize 16Mi in the same cgroup: must be at least 2 x chunkSize + 16Mi (48Mi)`}},
		"memory limit as a number": {fsVolume, sendfile, `[{type: memory-squeeze, memoryLimit: 12582912}]`,
			[]string{`spec.faults[0].memoryLimit`}},
		"readahead with late-mount": {fsVolume, sendfile, `[{type: late-mount}, {type: readahead}]`,
			[]string{`spec.faults[1].type: Invalid value: "readahead": readahead cannot be combined with late-mount`}},
		"readahead on a block volume with late-mount": {`[{name: data, backing: filesystem, fsType: ext4, size: 1Gi}, {name: raw, backing: block, size: 1Gi}]`, sendfile, `[{type: readahead}, {type: late-mount}]`,
			[]string{`spec.faults[0].type: Invalid value: "readahead": readahead cannot be combined with late-mount`}},
		"readahead below zero": {fsVolume, sendfile, `[{type: readahead, readAheadKB: -1}]`,
			[]string{`spec.faults[0].readAheadKB: Invalid value: -1: must be 0 to 128`}},
		"readahead above the kernel floor": {fsVolume, sendfile, `[{type: readahead, readAheadKB: 4096}]`,
			[]string{`spec.faults[0].readAheadKB: Invalid value: 4096: must be 0 to 128`}},
		"readahead as text": {fsVolume, sendfile, `[{type: readahead, readAheadKB: "0; reboot"}]`,
			[]string{`spec.faults[0].readAheadKB`}},
		"readahead as a fraction": {fsVolume, sendfile, `[{type: readahead, readAheadKB: 0.5}]`,
			[]string{`spec.faults[0].readAheadKB`}},
		"fields of another fault": {fsVolume, sendfile, `[{type: io-throttle, mountOptions: [sync], memoryLimit: 12Mi, readAheadKB: 0}, {type: readahead, readBPS: 1MiB/s}]`,
			[]string{`spec.faults[0].mountOptions: Forbidden: only applies to mount-options`, `spec.faults[0].memoryLimit: Forbidden: only applies to memory-squeeze`,
				`spec.faults[0].readAheadKB: Forbidden: only applies to readahead`, `spec.faults[1].readBPS: Forbidden: only applies to io-throttle`}},
		"fault before the reboot": {fsVolume, sendfile, `[{type: readahead, phase: baseline}]`,
			[]string{`spec.faults[0].phase: Invalid value: "baseline": faults are injected after the reboot`}},
		"case-folded field": {fsVolume, sendfile, `[{type: readahead, readaheadKB: 0}]`,
			[]string{`readaheadKB`}},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			_, err := Parse(faultScenario(c.volumes, c.workload, c.faults))
			if err == nil {
				t.Fatal("Parse succeeded")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not contain %q:\n%v", w, err)
				}
			}
		})
	}
}
