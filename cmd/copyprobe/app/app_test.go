package app

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/pvreboot/pvreboot/framework/probe"
)

func TestCopyprobe(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	tests := []struct {
		name     string
		args     []string
		code     int
		stderr   string
		jsonInto any
	}{
		{name: "run", args: []string{"run", "--dir", dir, "--file-size", "2Mi", "--chunk-size", "1Mi", "--iterations", "1"}, jsonInto: &probe.Report{}},
		{name: "env", args: []string{"env", "--dir", dir}, jsonInto: &probe.Env{}},
		{name: "bad chunk", args: []string{"run", "--dir", dir, "--chunk-size", "0"}, code: 2, stderr: "--chunk-size: 0 is not a positive size"},
		{name: "env without dir", args: []string{"env"}, code: 2, stderr: "--dir: required"},
		{name: "env missing dir", args: []string{"env", "--dir", "/nonexistent/x"}, code: 2, stderr: "/nonexistent/x"},
		{name: "unwritable run dir", args: []string{"run", "--dir", "/proc"}, code: 3, stderr: "/proc"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var out, errb bytes.Buffer
			code := Run(context.Background(), tt.args, Streams{Out: &out, Err: &errb})
			if code != tt.code {
				t.Fatalf("exit %d, want %d; stderr %q", code, tt.code, errb.String())
			}
			if !strings.Contains(errb.String(), tt.stderr) {
				t.Errorf("stderr %q lacks %q", errb.String(), tt.stderr)
			}
			if tt.jsonInto != nil {
				dec := json.NewDecoder(&out)
				dec.DisallowUnknownFields()
				if err := dec.Decode(tt.jsonInto); err != nil {
					t.Errorf("output is not the expected JSON: %v", err)
				}
			}
		})
	}
}

func TestServeExitsOnCancel(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int)
	go func() { done <- Run(ctx, []string{"serve"}, Streams{Out: &bytes.Buffer{}, Err: &bytes.Buffer{}}) }()
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("serve exited %d", code)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("serve did not exit after its context was cancelled")
	}
}
