package localpv

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

	"k8s.io/client-go/kubernetes/fake"
)

// recorder is a NodeRunner that records every command and runs nothing.
type recorder struct {
	mu   sync.Mutex
	cmds []recorded
}

type recorded struct {
	node  string
	argv  []string
	stdin string
}

func (r *recorder) NodeExec(_ context.Context, node string, stdin io.Reader, argv ...string) ([]byte, error) {
	var in []byte
	if stdin != nil {
		in, _ = io.ReadAll(stdin)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.cmds = append(r.cmds, recorded{node: node, argv: slices.Clone(argv), stdin: string(in)})
	return nil, nil
}

const hostile = "$(touch /tmp/pvreboot-pwned)"

// The node layer refuses hostile names and paths itself, before any command
// runs, even when nothing validated them before.
func TestNodeLayerRefusesHostileValues(t *testing.T) {
	t.Parallel()
	good := Spec{Run: "1a2b", Name: "data", Node: "kind-worker", Backing: Filesystem, FSType: "ext4", SizeBytes: 1 << 30,
		StorageClass: "pvreboot-local", Namespace: "pvreboot-1a2b", Root: "/mnt/pvreboot"}
	specs := map[string]func(*Spec){
		"name with command substitution": func(s *Spec) { s.Name = "v" + hostile },
		"name with traversal":            func(s *Spec) { s.Name = "a/../../../../etc" },
		"name with backticks":            func(s *Spec) { s.Name = "v`id`" },
		"run that is not hex":            func(s *Spec) { s.Run = "1;reboot" },
		"node with blanks":               func(s *Spec) { s.Node = "kind worker" },
		"mount option with a comma":      func(s *Spec) { s.MountOptions = []string{"noatime,sync"} },
		"mount option with a newline":    func(s *Spec) { s.MountOptions = []string{"noatime\n[Service]\nExecStartPre=/bin/touch /tmp/x"} },
		"fsType that is a command":       func(s *Spec) { s.FSType = "ext4 " + hostile },
		"root that is relative":          func(s *Spec) { s.Root = "mnt/pvreboot" },
		"root with traversal":            func(s *Spec) { s.Root = "/mnt/../etc" },
		"storage class with a quote":     func(s *Spec) { s.StorageClass = "x'y" },
		"size that overflows":            func(s *Spec) { s.SizeBytes = 1 << 62 },
	}
	for name, mutate := range specs {
		t.Run("create/"+name, func(t *testing.T) {
			t.Parallel()
			rec := &recorder{}
			s := good
			mutate(&s)
			_, err := New(fake.NewClientset(), rec, nil).Create(context.Background(), s)
			if !errors.Is(err, ErrUnsafe) {
				t.Fatalf("Create: %v, want ErrUnsafe", err)
			}
			if len(rec.cmds) > 0 {
				t.Fatalf("ran %d node commands before refusing: %q", len(rec.cmds), rec.cmds[0].argv)
			}
		})
	}
	vols := map[string]*Volume{
		"path outside the root":       {Spec: Spec{Root: "/mnt/pvreboot", Node: "n"}, Path: "/etc", PVName: "x"},
		"path through ..":             {Spec: Spec{Root: "/mnt/pvreboot", Node: "n"}, Path: "/mnt/pvreboot/pvreboot-1-a/../../../etc", PVName: "x"},
		"path with a substitution":    {Spec: Spec{Root: "/mnt/pvreboot", Node: "n"}, Path: "/mnt/pvreboot/pvreboot-1-" + hostile, PVName: "x"},
		"the root itself":             {Spec: Spec{Root: "/mnt/pvreboot", Node: "n"}, Path: "/mnt/pvreboot", PVName: "x"},
		"unit not the path's":         {Spec: Spec{Root: "/mnt/pvreboot", Node: "n", Backing: Filesystem}, Path: "/mnt/pvreboot/pvreboot-1-a", Image: "/mnt/pvreboot/pvreboot-1-a.img", Unit: "ssh.service", PVName: "x"},
		"image not the path's":        {Spec: Spec{Root: "/mnt/pvreboot", Node: "n", Backing: Filesystem}, Path: "/mnt/pvreboot/pvreboot-1-a", Image: "/etc/shadow", Unit: MountUnitName("/mnt/pvreboot/pvreboot-1-a"), PVName: "x"},
		"kubelet loop that is a file": {Spec: Spec{Root: "/mnt/pvreboot", Node: "n", Backing: Block}, Path: "/mnt/pvreboot/pvreboot-1-a", Image: "/mnt/pvreboot/pvreboot-1-a.img", Unit: LoopUnitName("pvreboot-1-a"), PVName: "pvreboot-1-a", KubeletLoops: []LoopID{{Name: "/etc/passwd", BackMajMin: "0:1", BackInode: "2"}}},
	}
	for name, v := range vols {
		t.Run("teardown/"+name, func(t *testing.T) {
			t.Parallel()
			rec := &recorder{}
			p := New(fake.NewClientset(), rec, nil)
			if err := p.TeardownNode(context.Background(), v); !errors.Is(err, ErrUnsafe) {
				t.Fatalf("TeardownNode: %v, want ErrUnsafe", err)
			}
			if err := p.DisableMount(context.Background(), v); v.Unit != "" && !errors.Is(err, ErrUnsafe) {
				t.Fatalf("DisableMount: %v, want ErrUnsafe", err)
			}
			if _, err := p.Device(context.Background(), v); !errors.Is(err, ErrUnsafe) {
				t.Fatalf("Device: %v, want ErrUnsafe", err)
			}
			if _, err := p.DirectIO(context.Background(), v); !errors.Is(err, ErrUnsafe) {
				t.Fatalf("DirectIO: %v, want ErrUnsafe", err)
			}
			if len(rec.cmds) > 0 {
				t.Fatalf("ran node commands: %q", rec.cmds[0].argv)
			}
		})
	}
}

// Every node command the node layer builds is an argv: a shell only ever
// runs one of the embedded scripts, the values follow it as positional
// parameters, and files (units) go in through stdin.
func TestNodeCommandsAreArgv(t *testing.T) {
	t.Parallel()
	rec := &recorder{}
	p := New(fake.NewClientset(), rec, nil)
	ctx := context.Background()
	scripts := Scripts()
	for _, backing := range []string{Directory, Filesystem, Block} {
		s := Spec{Run: "1a2b", Name: "data-" + backing, Node: "kind-worker", Backing: backing, SizeBytes: 1 << 30,
			StorageClass: "pvreboot-local", Namespace: "pvreboot-1a2b", Root: "/mnt/pvreboot", MountOptions: nil}
		if backing == Filesystem {
			s.FSType, s.MountOptions = "xfs", []string{"noatime", "logbsize=256k"}
		}
		v, err := p.Create(ctx, s)
		if err != nil {
			t.Fatalf("Create %s: %v", backing, err)
		}
		v.KubeletLoops = []LoopID{{Name: "/dev/loop7", BackMajMin: "0:64", BackInode: "18"}}
		if err := p.Teardown(ctx, v); err != nil {
			t.Fatalf("Teardown %s: %v", backing, err)
		}
	}
	if _, err := p.ListBackings(ctx, "kind-worker", "/mnt/pvreboot"); err != nil {
		t.Fatal(err)
	}
	if len(rec.cmds) < 10 {
		t.Fatalf("only %d commands recorded", len(rec.cmds))
	}
	units := 0
	for _, c := range rec.cmds {
		for i, a := range c.argv {
			if a == "-c" || a == "-ec" {
				if i != 1 || c.argv[0] != "sh" {
					t.Errorf("%q: a shell flag outside `sh -c SCRIPT`", c.argv)
					continue
				}
				name := c.argv[3]
				if scripts[name] == "" || c.argv[2] != scripts[name] {
					t.Errorf("%q: sh runs text that is not the embedded script %q", c.argv[:4], name)
				}
			}
		}
		if c.stdin != "" {
			units++
			if !slices.Equal(c.argv[:2], []string{"cp", "/dev/stdin"}) || !strings.HasPrefix(c.argv[2], "/etc/systemd/system/") {
				t.Errorf("stdin given to %q", c.argv)
			}
		}
		if slices.Contains(c.argv, "sh") && c.argv[0] != "sh" {
			t.Errorf("%q: a shell inside an argv", c.argv)
		}
	}
	if units != 2 {
		t.Errorf("%d unit files written through stdin, want 2 (mount unit, loop service)", units)
	}
}

// The embedded scripts, run by sh with hostile values against a temporary
// root and stub systemctl/losetup/mountpoint/umount: nothing a value says is
// executed, and nothing outside the root is touched.
func TestScriptsUnderSh(t *testing.T) {
	t.Parallel()
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh:", err)
	}
	dir := t.TempDir()
	bin, root, outside := filepath.Join(dir, "bin"), filepath.Join(dir, "root"), filepath.Join(dir, "outside")
	log := filepath.Join(dir, "calls.log")
	pwned := filepath.Join(dir, "pwned")
	for _, d := range []string{bin, root, outside} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	stub := "#!/bin/sh\nprintf '%s' \"$(basename \"$0\")\" >> " + log + "\nfor a in \"$@\"; do printf ' [%s]' \"$a\" >> " + log + "; done\necho >> " + log + "\n"
	for _, name := range []string{"systemctl", "losetup", "mountpoint", "umount", "ln"} {
		if err := os.WriteFile(filepath.Join(bin, name), []byte(stub), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// mountpoint: "not a mount point" (exit 1), so directories are removed.
	if err := os.WriteFile(filepath.Join(bin, "mountpoint"), []byte(stub+"exit 1\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	// losetup --list --raw pads BACK-MAJ:MIN with escaped blanks, as the real one does.
	losetup := stub + "case \"$*\" in *--list*) printf '%s\\n' '\\x20\\x20\\x20\\x200:64\\x20 18' ;; esac\n"
	if err := os.WriteFile(filepath.Join(bin, "losetup"), []byte(losetup), 0o755); err != nil {
		t.Fatal(err)
	}
	sentinel := filepath.Join(outside, "keep")
	if err := os.WriteFile(sentinel, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	var lastOut string
	run := func(name string, args ...string) error {
		cmd := exec.Command(sh, append([]string{"-c", script(name), name}, args...)...)
		cmd.Env = []string{"PATH=" + bin + ":/usr/bin:/bin"}
		cmd.Dir = dir // a hostile "touch pwned" would create dir/pwned
		out, err := cmd.CombinedOutput()
		lastOut = string(out)
		if err != nil {
			t.Logf("%s %q: %v: %s", name, args, err, out)
		}
		return err
	}
	legit := filepath.Join(root, "pvreboot-1a2b-data")
	if err := os.MkdirAll(filepath.Join(legit, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := run(scriptTeardown, root, Directory, legit, ""); err != nil {
		t.Fatalf("teardown of a directory backing: %v", err)
	}
	if _, err := os.Stat(legit); !os.IsNotExist(err) {
		t.Errorf("%s still there: %v", legit, err)
	}
	// The kubelet's loop is detached when it is still over the same file
	// (device and inode), and left when the number now serves another.
	if err := run(scriptTeardown, root, Block, root+"/pvreboot-1a2b-raw", "pvreboot-1a2b-raw-loop.service", "/dev/loop7", "0:64", "18", "/dev/loop8", "0:64", "99"); err != nil {
		t.Fatalf("teardown of a block backing: %v", err)
	}
	calls, _ := os.ReadFile(log)
	if !strings.Contains(string(calls), "losetup [-d] [/dev/loop7]") || strings.Contains(string(calls), "losetup [-d] [/dev/loop8]") {
		t.Errorf("kubelet loops: want /dev/loop7 detached and /dev/loop8 left; calls:\n%s", calls)
	}
	refused := [][]string{
		{root, Directory, outside, ""},
		{root, Directory, root + "/pvreboot-1-a/../../outside", ""},
		{root, Directory, root + "/../outside", ""},
		{root, Directory, root, ""},
		{root, Filesystem, root + "/pvreboot-1-a", ""},
		{root, Block, root + "/pvreboot-1-a", "x/../../etc/passwd"},
		{"relative", Directory, "relative/pvreboot-1-a", ""},
		{root, "rm -rf /", root + "/pvreboot-1-a", "u"},
		{root, Block, root + "/pvreboot-1-a", "pvreboot-1-a-loop.service", "/etc/passwd", "0:1", "2"},
	}
	for _, args := range refused {
		err := run(scriptTeardown, args...)
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 2 || !strings.HasPrefix(lastOut, "teardown: ") {
			t.Errorf("teardown %q was not refused with its own message (exit 2): %v: %s", args, err, lastOut)
		}
	}
	// Hostile values within the root (no "/"): taken as names, never run.
	for _, args := range [][]string{
		{root, Filesystem, root + "/pvreboot-1-$(touch pwned)", "mnt-x$(touch pwned).mount"},
		{root, Block, root + "/pvreboot-1-`touch pwned`", "pvreboot-1-x;touch pwned-loop.service", "/dev/loop1", "0:1", "2"},
	} {
		_ = run(scriptTeardown, args...)
	}
	_ = run(scriptLoopAttach, "$(touch pwned)", root+"/x;touch pwned")
	_ = run(scriptLoopDetach, "`touch pwned`", root+"/x")
	_ = run(scriptListBackings, "$(touch pwned)")
	if _, err := os.Stat(pwned); err == nil {
		t.Fatal("a value was executed as shell text")
	}
	if _, err := os.Stat(sentinel); err != nil {
		t.Fatalf("a file outside the root was touched: %v", err)
	}
	calls, _ = os.ReadFile(log)
	if !strings.Contains(string(calls), "systemctl [disable] [--now] [mnt-x$(touch pwned).mount]") ||
		!strings.Contains(string(calls), "systemctl [disable] [--now] [pvreboot-1-x;touch pwned-loop.service]") {
		t.Errorf("the hostile unit did not reach systemctl as one literal argument; calls:\n%s", calls)
	}
}

// missingTool is a NodeRunner on whose nodes the program tool is not.
type missingTool struct {
	recorder
	tool, answer string
}

func (m *missingTool) NodeExec(ctx context.Context, node string, stdin io.Reader, argv ...string) ([]byte, error) {
	if _, err := m.recorder.NodeExec(ctx, node, stdin, argv...); err != nil {
		return nil, err
	}
	if len(argv) > 0 && argv[0] == m.tool {
		return []byte(m.answer), errors.New(m.answer)
	}
	return nil, nil
}

// A filesystem whose mkfs the node lacks (xfs on kind's standard image) is
// an error that names the node, the program and the way out.
func TestMissingMkfsSaysWhy(t *testing.T) {
	t.Parallel()
	for name, answer := range map[string]string{
		"helper pod":  "on node kind-worker: command terminated with exit code 127: /usr/bin/env: 'mkfs.xfs': No such file or directory",
		"docker exec": `OCI runtime exec failed: exec failed: unable to start container process: exec: "mkfs.xfs": executable file not found in $PATH`,
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			m := &missingTool{tool: "mkfs.xfs", answer: answer}
			s := Spec{Run: "1a2b", Name: "data", Node: "kind-worker", Backing: Filesystem, FSType: "xfs", SizeBytes: 1 << 30,
				StorageClass: "pvreboot-local", Namespace: "pvreboot-1a2b", Root: "/mnt/pvreboot"}
			_, err := New(fake.NewClientset(), m, nil).Create(context.Background(), s)
			if err == nil || !strings.Contains(err.Error(), "node kind-worker has no mkfs.xfs") || !strings.Contains(err.Error(), "use fsType ext4 there") {
				t.Fatalf("Create: %v, want the node, the program and the way out", err)
			}
		})
	}
}
