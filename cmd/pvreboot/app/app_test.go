package app

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/pvreboot/pvreboot/framework/probe"
	"github.com/spf13/cobra"
)

func run(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := Run(context.Background(), args, Streams{In: strings.NewReader(""), Out: &out, Err: &errb}, nil)
	return code, out.String(), errb.String()
}

func TestBadFlagsExit2NamingTheFlag(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	tests := []struct {
		name string
		args []string
		want string
	}{
		{name: "zero chunk", args: []string{"probe", "--dir", dir, "--chunk-size", "0"}, want: "--chunk-size: 0 is not a positive size"},
		{name: "bad file size", args: []string{"probe", "--dir", dir, "--file-size", "lots"}, want: "--file-size:"},
		{name: "unknown method", args: []string{"probe", "--dir", dir, "--method", "splice"}, want: `--method: unknown method "splice"`},
		{name: "unknown cache", args: []string{"probe", "--dir", dir, "--cache", "tepid"}, want: "--cache:"},
		{name: "zero iterations", args: []string{"probe", "--dir", dir, "--iterations", "0"}, want: "--iterations: 0"},
		{name: "missing dir", args: []string{"probe"}, want: "--dir: required"},
		{name: "unknown flag", args: []string{"probe", "--dri", dir}, want: "unknown flag: --dri"},
		{name: "non-integer iterations", args: []string{"probe", "--dir", dir, "--iterations", "x"}, want: "--iterations"},
		{name: "bad output", args: []string{"probe", "--dir", dir, "-o", "yaml"}, want: "--output"},
		{name: "exec without command", args: []string{"probe", "--dir", dir, "--method", "exec"}, want: "--exec-cmd: must be set"},
		{name: "stray argument", args: []string{"probe", "--dir", dir, "extra"}, want: `unexpected argument "extra"`},
		{name: "unknown command", args: []string{"frobnicate"}, want: "unknown command"},
		{name: "negative cleanup age", args: []string{"cleanup", "--older-than", "-1m"}, want: "--older-than: -1m0s is negative"},
		{name: "cleanup node without image", args: []string{"cleanup", "--kubeconfig", dir + "/none", "--node", "n1"}, want: "kubeconfig"},
		{name: "device and dir", args: []string{"probe", "--dir", dir, "--device", "/dev/null"}, want: `--device: "/dev/null" and dir`},
		{name: "device copy_file_range", args: []string{"probe", "--device", "/dev/null", "--method", "copy_file_range"}, want: "--method: copy_file_range copies only between regular files"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			code, _, stderr := run(t, tt.args...)
			if code != 2 && !(tt.name == "unknown command" && code != 0) {
				t.Errorf("exit code = %d, want 2 (stderr %q)", code, stderr)
			}
			if !strings.Contains(stderr, tt.want) {
				t.Errorf("stderr %q does not contain %q", stderr, tt.want)
			}
		})
	}
}

func TestProbeMissingDirIsInfraFailure(t *testing.T) {
	t.Parallel()
	code, _, stderr := run(t, "probe", "--dir", "/nonexistent/pvreboot", "--file-size", "1Mi")
	if code != 3 || !strings.Contains(stderr, "/nonexistent/pvreboot") {
		t.Errorf("code %d stderr %q", code, stderr)
	}
}

func TestProbeTextAndJSON(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	code, out, stderr := run(t, "probe", "--dir", dir, "--file-size", "4Mi", "--chunk-size", "1Mi", "--iterations", "2")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, want := range []string{"sendfile of 4Mi in 1Mi chunks", "p50", "p99", "MB/s", "all", "checksums: 2 copies match"} {
		if !strings.Contains(out, want) {
			t.Errorf("summary lacks %q:\n%s", want, out)
		}
	}
	code, out, stderr = run(t, "probe", "--dir", dir, "--file-size", "4Mi", "--chunk-size", "1Mi", "--iterations", "2", "-o", "json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var rep probe.Report
	dec := json.NewDecoder(strings.NewReader(out))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&rep); err != nil {
		t.Fatalf("JSON output does not decode as a probe report: %v", err)
	}
	if rep.Schema != probe.Schema || rep.Summary.Calls != 8 || rep.Env.Mount.MountPoint == "" {
		t.Errorf("report = %s calls %d mount %q", rep.Schema, rep.Summary.Calls, rep.Env.Mount.MountPoint)
	}
}

func TestVersion(t *testing.T) {
	t.Parallel()
	code, out, _ := run(t, "version")
	if code != 0 || !strings.HasPrefix(out, "pvreboot ") {
		t.Errorf("version: %d %q", code, out)
	}
	code, out, _ = run(t, "version", "-o", "json")
	var v Version
	if code != 0 || json.Unmarshal([]byte(out), &v) != nil || v.GoVersion == "" {
		t.Errorf("version json: %d %q", code, out)
	}
}

func TestEveryCommandHasAnExample(t *testing.T) {
	t.Parallel()
	root := newRoot(Streams{}, nil)
	var check func(path string, cmds []*cobra.Command)
	check = func(path string, cmds []*cobra.Command) {
		for _, c := range cmds {
			if c.Hidden || c.Name() == "help" || c.Name() == "completion" {
				continue
			}
			if strings.TrimSpace(c.Example) == "" {
				t.Errorf("%s %s has no example", path, c.Name())
			}
			check(path+" "+c.Name(), c.Commands())
		}
	}
	if root.Example == "" {
		t.Error("root has no example")
	}
	check("pvreboot", root.Commands())
}
