package app

import (
	"bytes"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pvreboot/pvreboot/cmd/internal/exitcode"
	"github.com/pvreboot/pvreboot/framework/nodeimage"
)

func TestUseBars(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	tests := []struct {
		mode    string
		want    bool
		wantErr bool
	}{
		{mode: "plain", want: false},
		{mode: "bar", want: true},
		{mode: "auto", want: false}, // not a terminal
		{mode: "fancy", wantErr: true},
	}
	for _, tt := range tests {
		got, err := useBars(tt.mode, map[string]string{}, &buf)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("useBars(%q) = %v, %v; want %v, error %v", tt.mode, got, err, tt.want, tt.wantErr)
		}
		if err != nil && exitcode.Of(err) != exitcode.Usage {
			t.Errorf("useBars(%q): exit %d, want %d", tt.mode, exitcode.Of(err), exitcode.Usage)
		}
	}
}

func TestImageBuildBadProgressExit2(t *testing.T) {
	t.Parallel()
	src, err := filepath.Abs("../../..")
	if err != nil {
		t.Fatal(err)
	}
	code, _, stderr := run(t, "image", "build", "--cache-dir", t.TempDir(), "--source-dir", src, "--progress", "fancy")
	if code != 2 || !strings.Contains(stderr, `--progress: unknown mode "fancy"`) {
		t.Errorf("exit %d, stderr %q; want 2 naming --progress", code, stderr)
	}
}

// TestStepBars drives the bars with a build's events: finished steps leave
// their line, and close returns with steps still running.
func TestStepBars(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	g := &globals{s: Streams{Out: &bytes.Buffer{}, Err: &out}, env: map[string]string{}}
	w, done, err := progressOutput(progressBar, g)
	if err != nil {
		t.Fatal(err)
	}
	sink, ok := w.(nodeimage.StepSink)
	if !ok {
		t.Fatalf("%T is not a nodeimage.StepSink", w)
	}
	sink.StepEvent(nodeimage.StepEvent{Step: "go build etcd-v3.7.0", Phase: nodeimage.StepStarted, Estimate: time.Minute, Samples: 1})
	sink.StepEvent(nodeimage.StepEvent{Step: "root filesystem", Phase: nodeimage.StepStarted})
	sink.StepEvent(nodeimage.StepEvent{Step: "go build etcd-v3.7.0", Phase: nodeimage.StepRunning, Elapsed: 10 * time.Second, Estimate: time.Minute, Detail: "compiling go.etcd.io/etcd/server/v3"})
	sink.StepEvent(nodeimage.StepEvent{Step: "go build etcd-v3.7.0", Phase: nodeimage.StepRunning, Elapsed: 70 * time.Second, Estimate: time.Minute})
	sink.StepEvent(nodeimage.StepEvent{Step: "go build etcd-v3.7.0", Phase: nodeimage.StepDone, Elapsed: 75 * time.Second})
	sink.StepEvent(nodeimage.StepEvent{Step: "base image", Phase: nodeimage.StepStarted})
	sink.StepEvent(nodeimage.StepEvent{Step: "base image", Phase: nodeimage.StepFailed, Elapsed: time.Second, Err: errors.New("boom")})
	if _, err := w.Write([]byte("node image pvreboot/node:v1.37.2: reused\n")); err != nil {
		t.Fatal(err)
	}
	done() // "root filesystem" still running: interrupted
	for _, want := range []string{"go build etcd-v3.7.0: done in 1m15s", "base image: FAILED after 1s: boom", "node image pvreboot/node:v1.37.2: reused"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("no %q in the output:\n%s", want, out.String())
		}
	}
}
