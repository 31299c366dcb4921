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
		stdout   []string
		jsonInto any
	}{
		{name: "run", args: []string{"run", "--dir", dir, "--file-size", "2Mi", "--chunk-size", "1Mi", "--iterations", "1"}, jsonInto: &probe.Report{}},
		{name: "env", args: []string{"env", "--dir", dir}, jsonInto: &probe.Env{}},
		{name: "run text", args: []string{"run", "--dir", dir, "--file-size", "2Mi", "--chunk-size", "1Mi", "--iterations", "2", "-o", "text"},
			stdout: []string{"sendfile of 2Mi in 1Mi chunks, 2 iterations, cold cache", "cached", "data path: copied (checked by ", "checksums: 2 copies match"}},
		{name: "run bad output", args: []string{"run", "--dir", dir, "-o", "yaml"}, code: 2, stderr: `--output: unknown format "yaml"`},
		{name: "bad chunk", args: []string{"run", "--dir", dir, "--chunk-size", "0"}, code: 2, stderr: "--chunk-size: 0 is not a positive size"},
		{name: "env without dir", args: []string{"env"}, code: 2, stderr: "--dir: required"},
		{name: "env missing dir", args: []string{"env", "--dir", "/nonexistent/x"}, code: 2, stderr: "/nonexistent/x"},
		{name: "unwritable run dir", args: []string{"run", "--dir", "/proc"}, code: 3, stderr: "/proc"},
		// Usage mistakes: exit 2 naming the command, for every command.
		{name: "no command", args: nil, code: 2, stderr: "copyprobe: want a command (completion, env, run, serve, trace-agent)"},
		{name: "unknown command", args: []string{"bogus"}, code: 2, stderr: `copyprobe: unknown command "bogus"`},
		{name: "misspelt command", args: []string{"ru"}, code: 2, stderr: "did you mean run?"},
		{name: "run stray argument", args: []string{"run", "--dir", dir, "extra"}, code: 2, stderr: `copyprobe run: unexpected argument "extra"`},
		{name: "env stray argument", args: []string{"env", "--dir", dir, "extra"}, code: 2, stderr: `copyprobe env: unexpected argument "extra"`},
		{name: "serve stray argument", args: []string{"serve", "extra"}, code: 2, stderr: `copyprobe serve: unexpected argument "extra"`},
		{name: "unknown root flag", args: []string{"--bogus"}, code: 2, stderr: "copyprobe: unknown flag: --bogus"},
		{name: "unknown run flag", args: []string{"run", "--dri", dir}, code: 2, stderr: "copyprobe run: unknown flag: --dri"},
		{name: "unknown serve flag", args: []string{"serve", "--dir", dir}, code: 2, stderr: "copyprobe serve: unknown flag: --dir"},
		{name: "non-integer iterations", args: []string{"run", "--dir", dir, "--iterations", "x"}, code: 2, stderr: `invalid argument "x" for "--iterations"`},
		{name: "bad verbose", args: []string{"run", "--dir", dir, "--verbose=maybe"}, code: 2, stderr: "--verbose"},
		{name: "env dir and device", args: []string{"env", "--dir", dir, "--device", "/dev/null"}, code: 2, stderr: "--device: exclusive with --dir"},
		{name: "run unknown method", args: []string{"run", "--dir", dir, "--method", "splice"}, code: 2, stderr: `--method: unknown method "splice"`},
		{name: "help", args: []string{"help", "run"}, code: 0},
		{name: "help unknown command", args: []string{"help", "bogus"}, code: 2, stderr: `copyprobe: unknown command "bogus"`},
		{name: "completion stray argument", args: []string{"completion", "bash", "extra"}, code: 2, stderr: "copyprobe completion bash:"},
		{name: "completion unknown shell", args: []string{"completion", "tcsh"}, code: 2, stderr: `copyprobe completion: unknown command "tcsh"`},
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
			for _, want := range tt.stdout {
				if !strings.Contains(out.String(), want) {
					t.Errorf("stdout lacks %q:\n%s", want, out.String())
				}
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
