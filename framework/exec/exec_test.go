package exec

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
)

func TestRun(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		argv    []string
		wantOut string
		wantErr bool
	}{
		{name: "ok", argv: []string{"sh", "-c", "echo hello"}, wantOut: "hello\n"},
		{name: "stderr kept", argv: []string{"sh", "-c", "echo oops >&2; exit 3"}, wantOut: "oops\n", wantErr: true},
		{name: "missing binary", argv: []string{"/nonexistent/bin"}, wantErr: true},
		{name: "empty argv", argv: nil, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			out, err := Run(context.Background(), Cmd{Argv: tt.argv})
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if string(out) != tt.wantOut {
				t.Errorf("out = %q, want %q", out, tt.wantOut)
			}
			var re *RunError
			if err != nil && tt.argv != nil {
				if !errors.As(err, &re) {
					t.Fatalf("error %T is not a *RunError", err)
				}
				if !strings.Contains(err.Error(), tt.argv[0]) {
					t.Errorf("error %q does not name the command", err)
				}
			}
		})
	}
}

func TestOutputSeparatesStderr(t *testing.T) {
	t.Parallel()
	out, err := Output(context.Background(), Cmd{Argv: []string{"sh", "-c", "echo out; echo err >&2"}})
	if err != nil {
		t.Fatal(err)
	}
	if string(out) != "out\n" {
		t.Errorf("stdout = %q", out)
	}
}

func TestShortArgv(t *testing.T) {
	t.Parallel()
	script := "#!/bin/sh\n# Removes the node side of one pvreboot Local PV. Run as\nset -eu\n" + strings.Repeat("echo x\n", 50)
	got := ShortArgv([]string{"sh", "-c", script, "teardown", "/mnt/pvreboot"})
	want := []string{"sh", "-c", fmt.Sprintf("<script of %d bytes: Removes the node side of one pvreboot Local PV. Run as>", len(script)), "teardown", "/mnt/pvreboot"}
	if !slices.Equal(got, want) {
		t.Errorf("ShortArgv = %q, want %q", got, want)
	}
}
