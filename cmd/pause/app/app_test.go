package app

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// stepTimeout bounds each wait of these tests for Run (to start, to reap,
// to return).
const stepTimeout = 30 * time.Second

// TestRunReapsUntilItsContextEnds runs pause in this process: it reaps a
// child that exits, and returns 0 once its context ends. Not parallel: it
// reaps every child of the test process.
func TestRunReapsUntilItsContextEnds(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	returned := make(chan int, 1)
	go func() {
		returned <- Run(ctx, w)
		w.Close()
	}()
	// The warning comes once Run listens for SIGCHLD: the test process is
	// not PID 1.
	line := make(chan string, 1)
	go func() {
		b := make([]byte, 256)
		n, _ := r.Read(b)
		line <- string(b[:n])
		_, _ = io.Copy(io.Discard, r)
	}()
	select {
	case l := <-line:
		if !strings.Contains(l, "not PID 1") {
			t.Errorf("stderr %q, want a warning that pause is not PID 1", l)
		}
	case <-time.After(stepTimeout):
		t.Fatalf("pause did not start within %s", stepTimeout)
	}

	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	child, err := os.StartProcess(self, []string{self, "-test.run=^$"}, &os.ProcAttr{})
	if err != nil {
		t.Fatal(err)
	}
	// A reaped child leaves /proc; an exited one not yet reaped stays
	// there as a zombie. There is nothing to watch: poll, bounded.
	proc := "/proc/" + strconv.Itoa(child.Pid)
	deadline := time.After(stepTimeout)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		if _, err := os.Stat(proc); errors.Is(err, fs.ErrNotExist) {
			break
		}
		select {
		case <-deadline:
			t.Fatalf("child %d not reaped within %s", child.Pid, stepTimeout)
		case <-tick.C:
		}
	}

	cancel()
	select {
	case code := <-returned:
		if code != 0 {
			t.Errorf("Run returned %d after its context ended, want 0", code)
		}
	case <-time.After(stepTimeout):
		t.Fatalf("Run did not return within %s of its context ending", stepTimeout)
	}
}
