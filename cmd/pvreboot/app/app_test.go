package app

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pvreboot/pvreboot/cmd/internal/exitcode"
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
	src, err := filepath.Abs("../../..") // the pvreboot source tree
	if err != nil {
		t.Fatal(err)
	}
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
		{name: "unknown flag", args: []string{"probe", "--dri", dir}, want: "pvreboot probe: unknown flag: --dri"},
		{name: "non-integer iterations", args: []string{"probe", "--dir", dir, "--iterations", "x"}, want: `invalid argument "x" for "--iterations"`},
		{name: "bad output", args: []string{"probe", "--dir", dir, "-o", "yaml"}, want: "--output"},
		{name: "exec without command", args: []string{"probe", "--dir", dir, "--method", "exec"}, want: "--exec-cmd: must be set"},
		{name: "device and dir", args: []string{"probe", "--dir", dir, "--device", "/dev/null"}, want: `--device: "/dev/null" and dir`},
		{name: "device copy_file_range", args: []string{"probe", "--device", "/dev/null", "--method", "copy_file_range"}, want: "--method: copy_file_range copies only between regular files"},
		{name: "unknown root flag", args: []string{"--bogus"}, want: "pvreboot: unknown flag: --bogus"},
		{name: "bad verbose", args: []string{"--verbose=x", "version"}, want: "--verbose"},
		{name: "run unknown flag", args: []string{"run", "--bogus", "s.yaml"}, want: "pvreboot run: unknown flag: --bogus"},
		{name: "run bad bool", args: []string{"run", "--keep=maybe", "s.yaml"}, want: `invalid argument "maybe" for "--keep"`},
		{name: "report unknown format", args: []string{"report", "--format", "pdf", "r.json"}, want: `--format: unknown format "pdf"`},
		{name: "compare small slowdown", args: []string{"compare", "--max-slowdown", "0.5", "a.json", "b.json"}, want: "--max-slowdown: must be >= 1"},
		{name: "compare bad alpha", args: []string{"compare", "--alpha", "x", "a.json", "b.json"}, want: `invalid argument "x" for "--alpha"`},
		{name: "version output", args: []string{"version", "-o", "yaml"}, want: `--output: unknown format "yaml"`},
		{name: "cluster create negative wait", args: []string{"cluster", "create", "--wait", "-1s"}, want: "--wait: -1s is negative"},
		{name: "cluster create bad wait", args: []string{"cluster", "create", "--wait", "soon"}, want: `invalid argument "soon" for "--wait"`},
		{name: "cluster create bad name", args: []string{"cluster", "create", "--name", "Lab_1"}, want: `--name: "Lab_1" is not a kind cluster name`},
		{name: "cluster create empty name", args: []string{"cluster", "create", "--name", ""}, want: `--name: "" is not a kind cluster name`},
		{name: "cluster create missing config", args: []string{"cluster", "create", "--config", dir + "/none.yaml"}, want: "--config:"},
		{name: "cluster create kubeconfig dir", args: []string{"cluster", "create", "--config", "", "--kubeconfig", dir + "/no/such/kubeconfig"}, want: "--kubeconfig: " + dir + "/no/such: no such directory"},
		{name: "cluster create empty kubeconfig", args: []string{"cluster", "create", "--config", "", "--kubeconfig", ""}, want: "--kubeconfig: empty"},
		{name: "cluster create bad bool", args: []string{"cluster", "create", "--reuse=perhaps"}, want: `invalid argument "perhaps" for "--reuse"`},
		{name: "cluster create empty image", args: []string{"cluster", "create", "--image", ""}, want: "--image: empty"},
		{name: "cluster create bad pull image", args: []string{"cluster", "create", "--pull-image", "Not A Ref"}, want: `--pull-image: "Not A Ref" is not an image reference`},
		{name: "cluster create image and build", args: []string{"cluster", "create", "--image", "pvreboot/node:v1.37.2", "--build-node-image"}, want: "--image names the node image"},
		{name: "run image and pull image", args: []string{"run", "sendfile-after-reboot", "--image", "pvreboot/node:v1.37.2", "--pull-image", "kindest/node:v1.37.2"}, want: "--image names the node image"},
		{name: "run option as pull image", args: []string{"run", "sendfile-after-reboot", "--pull-image=--help"}, want: `--pull-image: "--help" is not an image reference`},
		{name: "cluster delete empty name", args: []string{"cluster", "delete", "--name", ""}, want: "--name:"},
		{name: "cluster list output", args: []string{"cluster", "list", "-o", "yaml"}, want: `--output: unknown format "yaml"`},
		{name: "cleanup negative age", args: []string{"cleanup", "--older-than", "-1m"}, want: "--older-than: -1m0s is negative"},
		{name: "cleanup bad age", args: []string{"cleanup", "--older-than", "soon"}, want: `invalid argument "soon" for "--older-than"`},
		{name: "cleanup node without image", args: []string{"cleanup", "--kubeconfig", dir + "/none", "--node", "n1"}, want: "kubeconfig"},
		{name: "cleanup empty node", args: []string{"cleanup", "--kubeconfig", dir + "/none", "--node", ""}, want: "--node: empty node name"},
		{name: "cleanup empty kubeconfig", args: []string{"cleanup", "--kubeconfig", ""}, want: "--kubeconfig: empty"},
		{name: "cleanup empty context", args: []string{"cleanup", "--context", ""}, want: "--context: empty"},
		{name: "cleanup bad name", args: []string{"cleanup", "--name", ""}, want: `--name: "" is not a kind cluster name`},
		{name: "cleanup run uppercase", args: []string{"cleanup", "--run", "ABC"}, want: `--run: "ABC" is not a run ID`},
		{name: "cleanup run too long", args: []string{"cleanup", "--run", "123456789"}, want: `--run: "123456789" is not a run ID`},
		{name: "cleanup run not hex", args: []string{"cleanup", "--run", "xyz"}, want: `--run: "xyz" is not a run ID`},
		{name: "cleanup run empty", args: []string{"cleanup", "--run", ""}, want: `--run: "" is not a run ID`},
		{name: "cleanup run and age", args: []string{"cleanup", "--run", "1a2b", "--older-than", "1h"}, want: "--older-than: not with --run"},
		{name: "cleanup bad bool", args: []string{"cleanup", "--dry-run=perhaps"}, want: `invalid argument "perhaps" for "--dry-run"`},
		{name: "image build empty cache", args: []string{"image", "build", "--cache-dir", ""}, want: "--cache-dir: empty"},
		{name: "image build empty version", args: []string{"image", "build", "--kubernetes-version", ""}, want: "--kubernetes-version: empty"},
		{name: "image build bad version", args: []string{"image", "build", "--cache-dir", dir, "--source-dir", src, "--etcd-version", "3.5"}, want: `--etcd-version: "3.5" is not a version`},
		{name: "image build bad mirror", args: []string{"image", "build", "--mirror", "deb.debian.org"}, want: `--mirror: "deb.debian.org" is not a Debian mirror URL`},
		{name: "image build not source", args: []string{"image", "build", "--cache-dir", dir, "--source-dir", dir}, want: "--source-dir: " + dir + " is not the pvreboot source tree"},
		{name: "image probe empty busybox", args: []string{"image", "probe", "--busybox", ""}, want: "--busybox: empty"},
		{name: "image probe not source", args: []string{"image", "probe", "--source-dir", dir}, want: "--source-dir: " + dir + " is not the pvreboot source tree"},
		{name: "image probe missing busybox", args: []string{"image", "probe", "--source-dir", src, "--busybox", dir + "/busybox"}, want: "--busybox:"},
		{name: "image list output", args: []string{"image", "list", "-o", "yaml"}, want: `--output: unknown format "yaml"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			code, _, stderr := run(t, tt.args...)
			if code != 2 {
				t.Errorf("exit code = %d, want 2 (stderr %q)", code, stderr)
			}
			if !strings.Contains(stderr, tt.want) {
				t.Errorf("stderr %q does not contain %q", stderr, tt.want)
			}
		})
	}
}

// TestUsageMistakesExit2 covers every command: a wrong argument count, an
// unknown command, a missing one.
func TestUsageMistakesExit2(t *testing.T) {
	t.Parallel()
	tests := []struct {
		args []string
		want string
	}{
		{args: nil, want: "pvreboot: want a command (calibrate, cleanup, cluster, compare, completion, doctor, image, probe, qualify, report, run, scenario, trace, validate, version)"},
		{args: []string{"bogus"}, want: `pvreboot: unknown command "bogus" (commands: calibrate, cleanup, `},
		{args: []string{"rn"}, want: "did you mean run?"},
		{args: []string{"bogus", "--bogus"}, want: "pvreboot: unknown flag: --bogus"},
		{args: []string{"run"}, want: "pvreboot run: want 1 argument (SCENARIO.yaml), got 0"},
		{args: []string{"run", "s.yaml", "extra"}, want: "pvreboot run: want 1 argument (SCENARIO.yaml), got 2"},
		{args: []string{"probe", "--dir", ".", "extra"}, want: `pvreboot probe: unexpected argument "extra"`},
		// Loose until verdict.go uses exactArgs and minimumArgs.
		{args: []string{"validate"}, want: "pvreboot validate: "},
		{args: []string{"report"}, want: "pvreboot report: "},
		{args: []string{"report", "a.json", "b.json"}, want: "pvreboot report: "},
		{args: []string{"compare", "a.json"}, want: "pvreboot compare: "},
		{args: []string{"compare", "a.json", "b.json", "c.json"}, want: "pvreboot compare: "},
		{args: []string{"cluster"}, want: "pvreboot cluster: want a command (create, delete, kubeconfig, list); see pvreboot cluster --help"},
		{args: []string{"cluster", "bogus"}, want: `pvreboot cluster: unknown command "bogus" (commands: create, delete, kubeconfig, list)`},
		{args: []string{"cluster", "bogus", "-v"}, want: `pvreboot cluster: unknown command "bogus"`},
		{args: []string{"cluster", "create", "extra"}, want: `pvreboot cluster create: unexpected argument "extra"`},
		{args: []string{"cluster", "delete", "extra"}, want: `pvreboot cluster delete: unexpected argument "extra"`},
		{args: []string{"cluster", "list", "extra"}, want: `pvreboot cluster list: unexpected argument "extra"`},
		{args: []string{"cleanup", "extra"}, want: `pvreboot cleanup: unexpected argument "extra"`},
		{args: []string{"image"}, want: "pvreboot image: want a command (build, list, node, probe)"},
		{args: []string{"image", "bogus"}, want: `pvreboot image: unknown command "bogus"`},
		{args: []string{"image", "build", "extra"}, want: `pvreboot image build: unexpected argument "extra"`},
		{args: []string{"image", "probe", "extra"}, want: `pvreboot image probe: unexpected argument "extra"`},
		{args: []string{"image", "list", "extra"}, want: `pvreboot image list: unexpected argument "extra"`},
		{args: []string{"version", "extra"}, want: `pvreboot version: unexpected argument "extra"`},
		{args: []string{"help", "bogus"}, want: `pvreboot: unknown command "bogus"`},
		{args: []string{"help", "cluster", "bogus"}, want: `pvreboot cluster: unknown command "bogus"`},
		{args: []string{"help", "--bogus"}, want: "pvreboot help: unknown flag: --bogus"},
		{args: []string{"completion", "tcsh"}, want: `pvreboot completion: unknown command "tcsh"`},
		{args: []string{"completion", "bash", "extra"}, want: "pvreboot completion bash: "},
	}
	for _, tt := range tests {
		t.Run(strings.Join(append([]string{"pvreboot"}, tt.args...), " "), func(t *testing.T) {
			t.Parallel()
			code, _, stderr := run(t, tt.args...)
			if code != 2 {
				t.Errorf("exit code = %d, want 2 (stderr %q)", code, stderr)
			}
			if !strings.Contains(stderr, tt.want) {
				t.Errorf("stderr %q does not contain %q", stderr, tt.want)
			}
			if strings.HasPrefix(stderr, "pvreboot: pvreboot") {
				t.Errorf("stderr %q names the program twice", stderr)
			}
		})
	}
}

func TestHelpExits0(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"--help"}, {"help"}, {"help", "cluster", "create"}, {"cluster", "--help"}, {"image", "build", "-h"}, {"completion", "bash"}} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			t.Parallel()
			code, out, stderr := run(t, args...)
			if code != 0 || out == "" {
				t.Errorf("exit %d, stdout %d bytes, stderr %q", code, len(out), stderr)
			}
		})
	}
}

func TestGroupUsageShowsOnlyTheCommandLine(t *testing.T) {
	t.Parallel()
	_, out, _ := run(t, "cluster", "--help")
	if !strings.Contains(out, "pvreboot cluster [command]") || strings.Contains(out, "pvreboot cluster [flags]") {
		t.Errorf("cluster usage:\n%s", out)
	}
	_, out, _ = run(t, "cluster", "create", "--help")
	if !strings.Contains(out, "pvreboot cluster create [flags]") {
		t.Errorf("cluster create usage:\n%s", out)
	}
}

func TestArgumentCountMessages(t *testing.T) {
	t.Parallel()
	root := &cobra.Command{Use: "pvreboot"}
	cmd := &cobra.Command{Use: "cmd"}
	root.AddCommand(cmd)
	tests := []struct {
		validate cobra.PositionalArgs
		args     []string
		want     string
	}{
		{validate: exactArgs(1, "SCENARIO.yaml"), args: nil, want: "pvreboot cmd: want 1 argument (SCENARIO.yaml), got 0"},
		{validate: exactArgs(1, "SCENARIO.yaml"), args: []string{"a", "b"}, want: "pvreboot cmd: want 1 argument (SCENARIO.yaml), got 2"},
		{validate: exactArgs(2, "BASE.json", "NEW.json"), args: []string{"a"}, want: "pvreboot cmd: want 2 arguments (BASE.json NEW.json), got 1"},
		{validate: minimumArgs(1, "FILE..."), args: nil, want: "pvreboot cmd: want at least 1 argument (FILE...), got 0"},
		{validate: noArgs, args: []string{"a"}, want: `pvreboot cmd: unexpected argument "a"`},
	}
	for _, tt := range tests {
		err := tt.validate(cmd, tt.args)
		if err == nil || err.Error() != tt.want || exitcode.Of(err) != exitcode.Usage {
			t.Errorf("%v: got %v (exit %d), want %q (exit 2)", tt.args, err, exitcode.Of(err), tt.want)
		}
	}
	if err := exactArgs(2)(cmd, []string{"a", "b"}); err != nil {
		t.Errorf("exactArgs(2) rejected 2 arguments: %v", err)
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
	root := newRoot(Streams{}, nil, &liveRun{})
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
