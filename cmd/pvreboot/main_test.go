package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pvreboot/pvreboot/cmd/pvreboot/app"
	"github.com/pvreboot/pvreboot/framework/probeimage"
)

// binaryTimeout bounds TestStaticBinaryServesAsPauseAndNoderoutes: a cold
// build compiles client-go and kind; each run of the binary takes seconds.
const binaryTimeout = 5 * time.Minute

// TestCarried runs, in this process, what each argv[0] selects.
func TestCarried(t *testing.T) {
	t.Parallel()
	done, cancel := context.WithCancel(context.Background())
	cancel()
	noEnv := func(string) string { return "" }
	for _, tt := range []struct {
		name string
		args []string
		want int
		out  string // in stdout and stderr
	}{
		{name: "copyprobe", args: []string{"--help"}, want: 0, out: "Measure file copies per syscall"},
		{name: "pause", want: 0, out: "pause: warning: not PID 1"},
		{name: "noderoutes", want: 1, out: "noderoutes: NODE_NAME is not set"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var out bytes.Buffer
			run := carried(tt.name, noEnv, app.Streams{In: strings.NewReader(""), Out: &out, Err: &out})
			if run == nil {
				t.Fatalf("carried(%q) = nil, want the %s command", tt.name, tt.name)
			}
			if code := run(done, tt.args); code != tt.want || !strings.Contains(out.String(), tt.out) {
				t.Errorf("%s %q: exit %d, output %q; want exit %d saying %q", tt.name, tt.args, code, out.String(), tt.want, tt.out)
			}
		})
	}
	for _, name := range []string{"pvreboot", "main.test", "pause.sh", ""} {
		if carried(name, noEnv, app.Streams{}) != nil {
			t.Errorf("carried(%q) is a carried command, want pvreboot itself", name)
		}
	}
}

// TestStaticBinaryServesAsPauseAndNoderoutes builds pvreboot as users are
// told to (CGO_ENABLED=0), checks that it is static, so that a node image
// can take it, and runs it as the node's /pause and /noderoutes and, from a
// folder that is no source tree, as `pvreboot image build`.
func TestStaticBinaryServesAsPauseAndNoderoutes(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("-short: links a static pvreboot (CGO_ENABLED=0)")
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("needs the go command to link a static pvreboot: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), binaryTimeout)
	defer cancel()
	bin := filepath.Join(t.TempDir(), "pvreboot")
	// -s -w: no symbol table or DWARF, a quicker link; static all the same.
	build := exec.CommandContext(ctx, goBin, "build", "-ldflags=-s -w", "-o", bin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("CGO_ENABLED=0 go build: %v\n%s", err, out)
	}
	if err := probeimage.CheckStatic(bin, probeimage.HostPlatform()); err != nil {
		t.Fatalf("CGO_ENABLED=0 build: %v", err)
	}
	// As the node's containers run them: named /pause and /noderoutes,
	// with no environment but env (none of this process's).
	as := func(argv0 string, env []string, args ...string) *exec.Cmd {
		cmd := exec.CommandContext(ctx, bin, args...)
		cmd.Args[0], cmd.Env, cmd.Dir = argv0, append([]string{}, env...), t.TempDir()
		return cmd
	}

	t.Run("pause exits 0 on SIGTERM", func(t *testing.T) {
		cmd := as("/pause", nil)
		stderr, err := cmd.StderrPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// pause warns, not being PID 1, once it handles SIGTERM.
		s := bufio.NewScanner(stderr)
		if !s.Scan() || !strings.Contains(s.Text(), "not PID 1") {
			t.Fatalf("pause's first line %q (%v), want its warning that it is not PID 1", s.Text(), s.Err())
		}
		if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		for s.Scan() {
		}
		if err := cmd.Wait(); err != nil {
			t.Errorf("pause after SIGTERM: %v, want exit 0", err)
		}
	})

	t.Run("noderoutes without NODE_NAME", func(t *testing.T) {
		out, err := as("/noderoutes", nil).CombinedOutput()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 1 || !strings.Contains(string(out), "noderoutes: NODE_NAME is not set") {
			t.Errorf("noderoutes: %v, output %q; want exit 1 saying NODE_NAME is not set", err, out)
		}
	})

	t.Run("image build outside a source tree", func(t *testing.T) {
		// --progress fancy: a usage error found after the configuration,
		// so nothing is built.
		cmd := as(bin, []string{"HOME=" + t.TempDir()}, "image", "build", "--cache-dir", t.TempDir(), "--progress", "fancy")
		out, err := cmd.CombinedOutput()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 2 || !strings.Contains(string(out), "pause, noderoutes: this executable (static), "+bin) {
			t.Errorf("image build: %v, output %q; want exit 2 (--progress) after saying it uses this executable", err, out)
		}
	})
}
