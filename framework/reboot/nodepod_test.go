package reboot

import (
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

type recordingRunner struct {
	node string
	argv []string
}

func (r *recordingRunner) NodeExec(_ context.Context, node string, _ io.Reader, argv ...string) ([]byte, error) {
	r.node, r.argv = node, argv
	return nil, nil
}

func TestNodePodCommand(t *testing.T) {
	t.Parallel()
	rr := &recordingRunner{}
	ev, err := NodePod{Exec: rr, Mode: "sysrq-b"}.Reboot(context.Background(), "vm-1")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"sh", "-c", NodeRebootScript(), "node-reboot", "1", "sysrq-b"}
	if rr.node != "vm-1" || !slices.Equal(rr.argv, want) {
		t.Errorf("ran %q on %q, want the embedded script with delay and mode as parameters", rr.argv, rr.node)
	}
	if !ev.Returned.After(ev.Issued) {
		t.Errorf("event %+v", ev)
	}
	if _, err := (NodePod{Exec: rr, Mode: "sysrq-c"}).Command(); err == nil {
		t.Error("unsupported mode accepted")
	}
}

// The real script, run by sh with stub systemctl and hostname: it refuses
// what is not a delay or a mode, and otherwise detaches the reboot.
func TestNodeRebootScript(t *testing.T) {
	t.Parallel()
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh:", err)
	}
	dir := t.TempDir()
	// The stub systemctl reports through a FIFO, which the test reads.
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skip("no FIFO:", err)
	}
	stubs := map[string]string{"systemctl": "#!/bin/sh\necho \"systemctl $*\" > " + fifo + "\n", "hostname": "#!/bin/sh\necho node\n"}
	for name, stub := range stubs {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(stub), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	got := make(chan string, 1)
	go func() {
		b, _ := os.ReadFile(fifo) // blocks until the stub writes
		got <- string(b)
	}()
	pwned := filepath.Join(dir, "pwned")
	for _, tc := range []struct {
		delay, mode string
		ok          bool
	}{
		{"0", "reboot", true},
		{"0", "$(touch " + pwned + ")", false},
		{"1;touch " + pwned, "reboot", false},
		{"", "reboot", false},
	} {
		cmd := exec.Command(sh, "-c", NodeRebootScript(), "node-reboot", tc.delay, tc.mode)
		cmd.Env = []string{"PATH=" + dir + ":/usr/bin:/bin"}
		out, err := cmd.CombinedOutput()
		if (err == nil) != tc.ok {
			t.Errorf("delay %q mode %q: err %v, want ok=%v: %s", tc.delay, tc.mode, err, tc.ok, out)
		}
	}
	// The detached reboot runs after its delay (0 here).
	select {
	case line := <-got:
		if strings.TrimSpace(line) != "systemctl reboot" {
			t.Errorf("the detached reboot ran %q", line)
		}
	case <-time.After(30 * time.Second):
		t.Error("the detached reboot never ran systemctl reboot")
	}
	if _, err := os.Stat(pwned); err == nil {
		t.Fatal("a value was executed as shell text")
	}
}
