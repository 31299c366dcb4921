package fault

import (
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/pvreboot/pvreboot/framework/localpv"
	"github.com/pvreboot/pvreboot/framework/scenario"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/utils/ptr"
)

// recorder is a NodeRunner that records every command and answers the
// scripts' queries as a node would.
type recorder struct {
	mu   sync.Mutex
	cmds []recorded
}

type recorded struct {
	argv  []string
	stdin string
}

func (r *recorder) NodeExec(_ context.Context, _ string, stdin io.Reader, argv ...string) ([]byte, error) {
	var in []byte
	if stdin != nil {
		in, _ = io.ReadAll(stdin)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.cmds = append(r.cmds, recorded{argv: slices.Clone(argv), stdin: string(in)})
	switch {
	case len(argv) > 4 && argv[3] == scriptReadahead && argv[4] == "get":
		return []byte("7:3 2560\n"), nil
	case len(argv) > 3 && argv[3] == scriptMemorySqueeze:
		return []byte("/sys/fs/cgroup/memory/kubepods/pod1/abc/memory.limit_in_bytes 16777216\n"), nil
	case argv[0] == "findmnt":
		return []byte("7:3\n"), nil
	case len(argv) > 3 && argv[3] == scriptIOThrottle:
		return []byte("/sys/fs/cgroup/blkio/kubepods/pod1/abc/blkio.throttle.read_bps_device\n"), nil
	}
	return nil, nil
}

func (r *recorder) commands() []recorded {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.cmds)
}

const (
	hostile = "$(touch /tmp/pvreboot-pwned)"
	goodCID = "containerd://0123456789abcdef0123456789abcdef"
)

func volume(backing string) *localpv.Volume {
	return localpv.Planned(localpv.Spec{Run: "1a2b", Name: "data-" + backing, Node: "kind-worker", Backing: backing, FSType: "ext4",
		SizeBytes: 1 << 30, StorageClass: "pvreboot-local", Namespace: "pvreboot-1a2b", Root: localpv.Root, MountOptions: []string{"noatime"}})
}

// target is what the runner hands the hooks, with pvreboot's own node layer
// (its checks included) over the recorder.
func target(rec *recorder, vols ...*localpv.Volume) (Target, *[]Change) {
	prov := localpv.New(fake.NewClientset(), rec, nil)
	var changes []Change
	t := Target{Nodes: rec, Mounts: prov, Devices: prov, Node: "kind-worker", Volumes: vols, ContainerID: goodCID,
		Record: func(_ context.Context, c Change) error { changes = append(changes, c); return nil }}
	return t, &changes
}

func mustNew(t *testing.T, f scenario.Fault) Fault {
	t.Helper()
	ft, err := New(f)
	if err != nil {
		t.Fatalf("New(%+v): %v", f, err)
	}
	return ft
}

func allHooks(ctx context.Context, f Fault, t Target) error {
	return errors.Join(f.BeforeReboot(ctx, t), f.AfterPodBack(ctx, t), f.AfterPodGone(ctx, t))
}

// Every fault type a scenario may name has a fault, and the other way round.
func TestEveryScenarioFaultTypeHasAFault(t *testing.T) {
	t.Parallel()
	var kinds []string
	for _, k := range Kinds() {
		kinds = append(kinds, k.Type)
		if k.Mechanism == "" {
			t.Errorf("%s: no mechanism", k.Type)
		}
	}
	if !slices.Equal(kinds, scenario.FaultTypes()) {
		t.Errorf("fault kinds %q, scenario fault types %q", kinds, scenario.FaultTypes())
	}
	for _, typ := range scenario.FaultTypes() {
		f := scenario.Fault{Type: typ, Phase: scenario.PhaseAfterReboot, ReadBPS: &scenario.Throughput{BytesPerSecond: 20 << 20}}
		if typ != scenario.FaultIOThrottle {
			f.ReadBPS = nil
		}
		mustNew(t, f)
	}
	for typ, recovers := range map[string]bool{scenario.FaultLateMount: true, scenario.FaultIOThrottle: true, scenario.FaultMemorySqueeze: true,
		scenario.FaultMountOptions: false, scenario.FaultReadahead: false} {
		if k, ok := Describe(typ); !ok || k.Recovers != recovers {
			t.Errorf("Describe(%s) = %+v, %v; want Recovers %v", typ, k, ok, recovers)
		}
	}
}

// Hostile or out-of-bounds values are refused before any command runs, by
// New and by each hook, whatever validated the scenario before.
func TestFaultsRefuseHostileValues(t *testing.T) {
	t.Parallel()
	news := map[string]scenario.Fault{
		"unknown type":                 {Type: "rm-rf"},
		"mount option with a newline":  {Type: scenario.FaultMountOptions, MountOptions: []string{"sync\n[Service]\nExecStartPre=/bin/touch /tmp/x"}},
		"mount option with a comma":    {Type: scenario.FaultMountOptions, MountOptions: []string{"sync,loop"}},
		"mount option substitution":    {Type: scenario.FaultMountOptions, MountOptions: []string{"sync" + hostile}},
		"too many mount options":       {Type: scenario.FaultMountOptions, MountOptions: slices.Repeat([]string{"sync"}, MaxMountOptions+1)},
		"memory limit that is a shell": {Type: scenario.FaultMemorySqueeze, MemoryLimit: "16Mi; reboot"},
		"memory limit too small":       {Type: scenario.FaultMemorySqueeze, MemoryLimit: "1Mi"},
		"memory limit too large":       {Type: scenario.FaultMemorySqueeze, MemoryLimit: "2Ti"},
		"readahead below zero":         {Type: scenario.FaultReadahead, ReadAheadKB: ptr.To(-1)},
		"readahead above the floor":    {Type: scenario.FaultReadahead, ReadAheadKB: ptr.To(4096)},
		"io throttle without a rate":   {Type: scenario.FaultIOThrottle},
	}
	for name, f := range news {
		t.Run("new/"+name, func(t *testing.T) {
			t.Parallel()
			if _, err := New(f); !errors.Is(err, ErrInvalid) {
				t.Fatalf("New: %v, want ErrInvalid", err)
			}
		})
	}
	fs := volume(localpv.Filesystem)
	bad := func(mutate func(v *localpv.Volume)) *localpv.Volume {
		v := *volume(localpv.Filesystem)
		mutate(&v)
		return &v
	}
	hooks := map[string]struct {
		fault  scenario.Fault
		mutate func(*Target)
	}{
		"io-throttle container ID substitution": {scenario.Fault{Type: scenario.FaultIOThrottle, ReadBPS: &scenario.Throughput{BytesPerSecond: 1 << 20}},
			func(t *Target) { t.ContainerID = "containerd://" + hostile }},
		"memory-squeeze container ID substitution": {scenario.Fault{Type: scenario.FaultMemorySqueeze},
			func(t *Target) { t.ContainerID = "abc;reboot" }},
		"memory-squeeze empty container ID": {scenario.Fault{Type: scenario.FaultMemorySqueeze},
			func(t *Target) { t.ContainerID = "" }},
		"readahead path outside the root": {scenario.Fault{Type: scenario.FaultReadahead},
			func(t *Target) { t.Volumes = []*localpv.Volume{bad(func(v *localpv.Volume) { v.Path = "/etc" })} }},
		"readahead path with a substitution": {scenario.Fault{Type: scenario.FaultReadahead},
			func(t *Target) {
				t.Volumes = []*localpv.Volume{bad(func(v *localpv.Volume) { v.Path = localpv.Root + "/pvreboot-1a2b-" + hostile })}
			}},
		"readahead unit not the path's": {scenario.Fault{Type: scenario.FaultReadahead},
			func(t *Target) {
				t.Volumes = []*localpv.Volume{bad(func(v *localpv.Volume) { v.Unit = "ssh.service" })}
			}},
		"readahead on a directory only": {scenario.Fault{Type: scenario.FaultReadahead},
			func(t *Target) { t.Volumes = []*localpv.Volume{volume(localpv.Directory)} }},
		"mount-options not on the ext4 allow-list": {scenario.Fault{Type: scenario.FaultMountOptions, MountOptions: []string{"loop"}},
			func(t *Target) { t.Volumes = []*localpv.Volume{fs} }},
		"mount-options helper": {scenario.Fault{Type: scenario.FaultMountOptions, MountOptions: []string{"helper=/tmp/x"}},
			func(t *Target) { t.Volumes = []*localpv.Volume{fs} }},
		"mount-options path outside the root": {scenario.Fault{Type: scenario.FaultMountOptions},
			func(t *Target) {
				t.Volumes = []*localpv.Volume{bad(func(v *localpv.Volume) { v.Path = "/var/lib/kubelet" })}
			}},
		"late-mount unit not the path's": {scenario.Fault{Type: scenario.FaultLateMount},
			func(t *Target) {
				t.Volumes = []*localpv.Volume{bad(func(v *localpv.Volume) { v.Unit = "kubelet.service" })}
			}},
	}
	for name, h := range hooks {
		t.Run("hook/"+name, func(t *testing.T) {
			t.Parallel()
			rec := &recorder{}
			tg, changes := target(rec, fs)
			h.mutate(&tg)
			err := allHooks(context.Background(), mustNew(t, h.fault), tg)
			if !errors.Is(err, ErrInvalid) && !errors.Is(err, localpv.ErrUnsafe) {
				t.Fatalf("hooks: %v, want ErrInvalid or localpv.ErrUnsafe", err)
			}
			if cmds := rec.commands(); len(cmds) > 0 {
				t.Fatalf("ran %d node commands before refusing: %q", len(cmds), cmds[0].argv)
			}
			if len(*changes) > 0 {
				t.Fatalf("recorded a change before refusing: %+v", *changes)
			}
		})
	}
	good := Change{Fault: scenario.FaultReadahead, Node: "kind-worker", Name: "pvreboot-1a2b-data-readahead", Detail: map[string]string{
		DetailUnit: "pvreboot-1a2b-data-readahead.service", DetailPath: localpv.Root + "/pvreboot-1a2b-data", DetailRoot: localpv.Root,
		DetailBacking: localpv.Filesystem, DetailReadAheadKB: "2560"}}
	undos := map[string]func(*Change){
		"unknown fault":             func(c *Change) { c.Fault = "late-mount" },
		"unit with traversal":       func(c *Change) { c.Detail[DetailUnit] = "../../etc/passwd" },
		"unit of another service":   func(c *Change) { c.Detail[DetailUnit] = "kubelet.service" },
		"unit not the change's":     func(c *Change) { c.Name = "pvreboot-1a2b-other-readahead" },
		"path outside the root":     func(c *Change) { c.Detail[DetailPath] = "/etc" },
		"path of another volume":    func(c *Change) { c.Detail[DetailPath] = localpv.Root + "/pvreboot-1a2b-other" },
		"root elsewhere":            func(c *Change) { c.Detail[DetailRoot] = "/" },
		"readahead with a command":  func(c *Change) { c.Detail[DetailReadAheadKB] = "128;reboot" },
		"readahead empty":           func(c *Change) { c.Detail[DetailReadAheadKB] = "" },
		"backing directory":         func(c *Change) { c.Detail[DetailBacking] = localpv.Directory },
		"node with a substitution":  func(c *Change) { c.Node = "kind" + hostile },
		"unit with a substitution":  func(c *Change) { c.Detail[DetailUnit] = "pvreboot-1a2b-" + hostile + "-readahead.service" },
		"backing that is a command": func(c *Change) { c.Detail[DetailBacking] = "filesystem; reboot" },
	}
	for name, mutate := range undos {
		t.Run("undo/"+name, func(t *testing.T) {
			t.Parallel()
			rec := &recorder{}
			c := good.clone()
			mutate(&c)
			err := Undo(context.Background(), rec, c)
			if !errors.Is(err, ErrInvalid) && !errors.Is(err, localpv.ErrUnsafe) {
				t.Fatalf("Undo: %v, want ErrInvalid or localpv.ErrUnsafe", err)
			}
			if cmds := rec.commands(); len(cmds) > 0 {
				t.Fatalf("ran node commands: %q", cmds[0].argv)
			}
		})
	}
	t.Run("undo/good", func(t *testing.T) {
		t.Parallel()
		rec := &recorder{}
		if err := Undo(context.Background(), rec, good.clone()); err != nil {
			t.Fatal(err)
		}
		if cmds := rec.commands(); len(cmds) != 1 || !slices.Equal(cmds[0].argv[3:], []string{scriptReadahead, "undo", good.Detail[DetailPath], localpv.Filesystem, "2560"}) {
			t.Fatalf("commands %q", cmds)
		}
	})
}

// Every node command a fault runs is an argv: a shell only ever runs one of
// the embedded scripts with the values after it as positional parameters,
// files go in through stdin, and what outlives the pod is recorded before it
// is made.
func TestFaultCommandsAreArgv(t *testing.T) {
	t.Parallel()
	scripts := map[string]bool{}
	for _, s := range Scripts() {
		if strings.Contains(s, "missing embedded script") {
			t.Fatalf("a script is not embedded: %s", s)
		}
		scripts[s] = true
	}
	ctx := context.Background()
	for _, typ := range scenario.FaultTypes() {
		t.Run(typ, func(t *testing.T) {
			t.Parallel()
			rec := &recorder{}
			fs, blk := volume(localpv.Filesystem), volume(localpv.Block)
			tg, changes := target(rec, fs, blk)
			var order []string
			tg.Record = func(_ context.Context, c Change) error {
				order = append(order, "record "+c.Name)
				*changes = append(*changes, c)
				return nil
			}
			f := scenario.Fault{Type: typ}
			if typ == scenario.FaultIOThrottle {
				f.ReadBPS = &scenario.Throughput{BytesPerSecond: 20 << 20}
			}
			if err := allHooks(ctx, mustNew(t, f), tg); err != nil {
				t.Fatal(err)
			}
			cmds := rec.commands()
			if len(cmds) == 0 {
				t.Fatal("no node command")
			}
			for _, c := range cmds {
				order = append(order, strings.Join(c.argv, " "))
				if (c.argv[0] == "sh" || c.argv[0] == "/bin/sh") && !scripts[c.argv[2]] {
					t.Errorf("sh runs text that is not an embedded script: %q", c.argv[:3])
				}
				if slices.Contains(c.argv[1:], "sh") {
					t.Errorf("a shell in the middle of %q", c.argv)
				}
				for _, a := range c.argv {
					if strings.Contains(a, "\n") && !scripts[a] {
						t.Errorf("a value with a line break in %q", c.argv)
					}
				}
			}
			switch typ {
			case scenario.FaultReadahead:
				if len(*changes) != 2 {
					t.Fatalf("changes %+v, want one per volume with a device", *changes)
				}
				for _, c := range *changes {
					if c.Detail[DetailReadAheadKB] != "2560" || !strings.HasSuffix(c.Detail[DetailUnit], "-readahead.service") {
						t.Errorf("change %+v", c)
					}
					i := slices.Index(order, "record "+c.Name)
					j := slices.IndexFunc(order, func(s string) bool { return strings.HasSuffix(s, "/etc/systemd/system/"+c.Detail[DetailUnit]) })
					if i < 0 || j < 0 || i > j {
						t.Errorf("%s: the unit is written before the change is recorded: %q", c.Name, order)
					}
				}
				unit := cmds[1]
				if !strings.Contains(unit.stdin, "After="+fs.Unit+" ") || !strings.Contains(unit.stdin, `"readahead" "set" "`+fs.Path+`" "filesystem" "0"`) {
					t.Errorf("boot unit of %s:\n%s", fs.Path, unit.stdin)
				}
			case scenario.FaultMountOptions:
				var unit string
				for _, c := range cmds {
					if slices.Contains(c.argv, "/etc/systemd/system/"+fs.Unit) {
						unit = c.stdin
					}
				}
				if !strings.Contains(unit, "Options=loop,noatime,sync\n") {
					t.Errorf("mount unit of %s:\n%s", fs.Path, unit)
				}
				for _, c := range cmds {
					if slices.Contains(c.argv, "/etc/systemd/system/"+blk.Unit) {
						t.Errorf("the block volume's unit was rewritten: %q", c.argv)
					}
				}
			default:
				if len(*changes) > 0 {
					t.Errorf("%s recorded node changes %+v: the pod or the volume's teardown undoes it", typ, *changes)
				}
			}
		})
	}
}

// The scripts check their parameters themselves: a value that is not what a
// fault passes stops them before they touch anything (exit 2).
func TestScriptsRefuseBadParameters(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("sh"); err != nil {
		t.Skip("needs sh")
	}
	cases := map[string][]string{
		"memory-squeeze container substitution":  {scriptMemorySqueeze, hostile, "16777216"},
		"memory-squeeze bytes not a number":      {scriptMemorySqueeze, "0123456789ab", "16M;reboot"},
		"memory-squeeze missing bytes":           {scriptMemorySqueeze, "0123456789ab"},
		"readahead path outside the root":        {scriptReadahead, "get", "/etc", "filesystem"},
		"readahead path with traversal":          {scriptReadahead, "get", "/mnt/pvreboot/pvreboot-1-a/../../../etc", "filesystem"},
		"readahead path below a backing":         {scriptReadahead, "get", "/mnt/pvreboot/pvreboot-1-a/x", "filesystem"},
		"readahead kb not a number":              {scriptReadahead, "set", "/mnt/pvreboot/pvreboot-1-a", "filesystem", "0;reboot"},
		"readahead unknown operation":            {scriptReadahead, "rm", "/mnt/pvreboot/pvreboot-1-a", "filesystem"},
		"readahead remove-unit with a backing":   {scriptReadahead, "remove-unit", "/mnt/pvreboot/pvreboot-1-a", "filesystem"},
		"readahead remove-unit outside the root": {scriptReadahead, "remove-unit", "/etc/systemd/system/kubelet"},
		"readahead get without a backing":        {scriptReadahead, "get", "/mnt/pvreboot/pvreboot-1-a"},
		"readahead undo naming a unit":           {scriptReadahead, "undo", "/mnt/pvreboot/pvreboot-1-a", "filesystem", "128", "kubelet.service"},
		"readahead undo without kb":              {scriptReadahead, "undo", "/mnt/pvreboot/pvreboot-1-a", "filesystem"},
		"readahead set with extra values":        {scriptReadahead, "set", "/mnt/pvreboot/pvreboot-1-a", "filesystem", "128", "x"},
	}
	for name, args := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			argv := scriptArgv(args[0], args[1:]...)
			cmd := exec.Command(argv[0], argv[1:]...)
			cmd.Env = []string{"PATH=/nonexistent"} // nothing but the shell's builtins could run
			out, err := cmd.CombinedOutput()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != 2 {
				t.Fatalf("exit %v, want 2: %s", err, out)
			}
		})
	}
}

// The readahead undo of a backing that is gone has nothing to restore and
// says so; it removes the unit and both links `systemctl enable` made, by
// name, and runs nothing that could fail silently.
func TestReadaheadUndoOfAGoneBacking(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("sh"); err != nil {
		t.Skip("needs sh")
	}
	path := localpv.Root + "/pvreboot-ffffffff-never-made"
	if _, err := os.Lstat(path); err == nil {
		t.Skipf("%s exists on this machine", path)
	}
	if _, err := os.Lstat(path + ".img"); err == nil {
		t.Skipf("%s.img exists on this machine", path)
	}
	bin := t.TempDir()
	log := filepath.Join(bin, "log")
	// Stand-ins that record what they were asked; mountpoint: nothing is mounted.
	for name, body := range map[string]string{
		"rm":         `echo "rm $*" >>"$STUB_LOG"`,
		"systemctl":  `echo "systemctl $*" >>"$STUB_LOG"`,
		"blockdev":   `echo "blockdev $*" >>"$STUB_LOG"`,
		"mountpoint": `exit 1`,
	} {
		if err := os.WriteFile(filepath.Join(bin, name), []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	argv := scriptArgv(scriptReadahead, "undo", path, localpv.Filesystem, "128")
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = []string{"PATH=" + bin, "STUB_LOG=" + log}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("undo of a gone backing: %v: %s", err, out)
	}
	if !strings.Contains(string(out), "nothing to restore") {
		t.Errorf("undo of a gone backing does not say there was nothing to restore: %q", out)
	}
	b, err := os.ReadFile(log)
	if err != nil {
		t.Fatal(err)
	}
	unit := "pvreboot-ffffffff-never-made-readahead.service"
	for _, want := range []string{"/etc/systemd/system/multi-user.target.wants/" + unit, "/etc/systemd/system/kubelet.service.wants/" + unit,
		"/etc/systemd/system/" + unit, "systemctl daemon-reload"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("undo did not remove %s:\n%s", want, b)
		}
	}
	if strings.Contains(string(b), "blockdev") || strings.Contains(string(b), "disable") {
		t.Errorf("undo of a gone backing ran:\n%s", b)
	}
}

// RemoveReadaheadUnit runs only for a pvreboot volume's name, with the path
// as a value.
func TestRemoveReadaheadUnit(t *testing.T) {
	t.Parallel()
	for _, bad := range []string{"kubelet", "pvreboot-1a2b-" + hostile, "pvreboot-1a2b-../../etc", "", "pvreboot-1a2b-data/x"} {
		rec := &recorder{}
		if err := RemoveReadaheadUnit(context.Background(), rec, "n1", bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("RemoveReadaheadUnit(%q): %v, want ErrInvalid", bad, err)
		}
		if cmds := rec.commands(); len(cmds) > 0 {
			t.Errorf("RemoveReadaheadUnit(%q) ran %q", bad, cmds[0].argv)
		}
	}
	rec := &recorder{}
	if err := RemoveReadaheadUnit(context.Background(), rec, "n1", "pvreboot-1a2b-data"); err != nil {
		t.Fatal(err)
	}
	if cmds := rec.commands(); len(cmds) != 1 || !slices.Equal(cmds[0].argv[3:], []string{scriptReadahead, "remove-unit", localpv.Root + "/pvreboot-1a2b-data"}) {
		t.Errorf("commands %q", cmds)
	}
}

// Hooks run in Kinds' order whatever the scenario's: late-mount first.
func TestOrdered(t *testing.T) {
	t.Parallel()
	in := []scenario.Fault{{Type: scenario.FaultReadahead}, {Type: scenario.FaultIOThrottle}, {Type: "unknown"}, {Type: scenario.FaultLateMount}}
	var got []string
	for _, f := range Ordered(in) {
		got = append(got, f.Type)
	}
	if want := []string{scenario.FaultLateMount, scenario.FaultIOThrottle, scenario.FaultReadahead, "unknown"}; !slices.Equal(got, want) {
		t.Errorf("Ordered = %q, want %q", got, want)
	}
	if in[0].Type != scenario.FaultReadahead {
		t.Error("Ordered changed its argument")
	}
}
