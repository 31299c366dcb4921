package localpv

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// loop-direct-io.sh refuses any value that is not a backing image pvreboot
// makes before it runs anything, and fails when losetup fails.
func TestLoopDirectIOScript(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	log := filepath.Join(dir, "calls.log")
	losetup := "#!/bin/sh\necho \"losetup $*\" >> " + log + "\ncase \"$*\" in -j*) [ -n \"$FAIL\" ] && exit 1; echo /dev/loop7 ;; esac\n"
	if err := os.WriteFile(filepath.Join(dir, "losetup"), []byte(losetup), 0o755); err != nil {
		t.Fatal(err)
	}
	run := func(env []string, args ...string) (string, int) {
		cmd := exec.Command("sh", append([]string{"-c", script(scriptLoopDirectIO), scriptLoopDirectIO}, args...)...)
		cmd.Env = append([]string{"PATH=" + dir + ":/usr/bin:/bin"}, env...)
		out, err := cmd.CombinedOutput()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return string(out), code
	}
	for _, bad := range [][]string{
		{}, {"a", "b"}, {"/etc/../mnt/pvreboot/pvreboot-1-d.img"}, {"/mnt/pvreboot/../pvreboot-1-d.img"},
		{"/mnt/pvreboot/pvreboot-a/b.img"}, {"/mnt/pvreboot/x.img"}, {"/mnt/pvreboot/pvreboot-.img"},
		{"/mnt/pvreboot/pvreboot-1-d.img; touch /tmp/x"}, {"/tmp/pvreboot-1-d.img"},
	} {
		if out, code := run(nil, bad...); code != 2 {
			t.Errorf("%q: exit %d (%s), want 2", bad, code, out)
		}
	}
	if b, _ := os.ReadFile(log); len(b) > 0 {
		t.Fatalf("losetup ran for a refused value: %s", b)
	}
	out, code := run(nil, "/mnt/pvreboot/pvreboot-1a2b-data.img")
	if code != 0 || !strings.Contains(out, "loop7 ") {
		t.Errorf("a backing image: exit %d, %q", code, out)
	}
	if b, _ := os.ReadFile(log); !strings.Contains(string(b), "losetup --direct-io=on /dev/loop7") {
		t.Errorf("losetup calls: %s", b)
	}
	if _, code := run([]string{"FAIL=1"}, "/mnt/pvreboot/pvreboot-1a2b-data.img"); code == 0 {
		t.Error("a failing losetup -j passed as no loop device")
	}
}
