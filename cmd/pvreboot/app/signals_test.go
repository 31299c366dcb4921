package app

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pvreboot/pvreboot/cmd/internal/exitcode"
)

const (
	// stepTimeout bounds each wait of these tests for the code under test
	// (a goroutine, or a process, to reach a point or to exit).
	stepTimeout = 30 * time.Second
	// buildTimeout bounds building the pvreboot binary: a cold build
	// compiles client-go and kind.
	buildTimeout = 5 * time.Minute
)

func TestFirstSignalCancelsThenExitsWithItsCode(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		sig  os.Signal
		want int
	}{
		{sig: os.Interrupt, want: 130},
		{sig: syscall.SIGTERM, want: 143},
	} {
		t.Run(tt.sig.String(), func(t *testing.T) {
			t.Parallel()
			sigs := make(chan os.Signal, 1)
			var stderr syncBuffer
			started := make(chan struct{})
			returned := make(chan int, 1)
			go func() {
				returned <- supervise(sigs, &stderr, &liveRun{}, func(code int) { t.Errorf("exit(%d) called after one signal", code) },
					func(ctx context.Context) int {
						close(started)
						<-ctx.Done()
						// What an interrupted command returns: context
						// canceled, an infrastructure failure.
						return exitcode.Infra
					})
			}()
			receive(t, started, "the command to start")
			sigs <- tt.sig
			if code := receive(t, returned, "supervise to return"); code != tt.want {
				t.Errorf("exit code %d, want %d", code, tt.want)
			}
			if !strings.Contains(stderr.String(), "stopping and cleaning up") {
				t.Errorf("stderr %q does not say it is cleaning up", stderr.String())
			}
		})
	}
}

func TestNoSignalKeepsTheCommandsCode(t *testing.T) {
	t.Parallel()
	code := supervise(nil, &syncBuffer{}, &liveRun{}, func(int) { t.Error("exit called without a signal") },
		func(context.Context) int { return exitcode.Violation })
	if code != exitcode.Violation {
		t.Errorf("exit code %d, want %d", code, exitcode.Violation)
	}
}

type fakeRun struct {
	id    string
	items []string
}

func (f *fakeRun) RunID() string       { return f.id }
func (f *fakeRun) Leftovers() []string { return f.items }

func TestSecondSignalExitsAtOncePrintingLeftovers(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name          string
		run           leftovers // registered while the command runs; nil: none
		first, second os.Signal
		want          int
		stderr        []string
	}{
		{
			name: "run with leftovers", first: syscall.SIGTERM, second: os.Interrupt, want: 143,
			run: &fakeRun{id: "1a2b3c4d", items: []string{"namespace pvreboot-1a2b3c4d", "PV pvreboot-1a2b3c4d-data on kind-worker"}},
			stderr: []string{
				"pvreboot: interrupted again: exiting without finishing cleanup; left behind by run 1a2b3c4d:\n" +
					"  namespace pvreboot-1a2b3c4d\n" +
					"  PV pvreboot-1a2b3c4d-data on kind-worker\n" +
					"remove them with: pvreboot cleanup --run 1a2b3c4d\n",
			},
		},
		{
			name: "run with nothing left", first: os.Interrupt, second: os.Interrupt, want: 130,
			run:    &fakeRun{id: "ff"},
			stderr: []string{"run ff has left nothing behind"},
		},
		{
			name: "no run", first: os.Interrupt, second: syscall.SIGTERM, want: 130,
			stderr: []string{"pvreboot: interrupted again: exiting now\n"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			live := &liveRun{}
			g := &globals{live: live}
			sigs := make(chan os.Signal, 1)
			var stderr syncBuffer
			started, cancelled, release := make(chan struct{}), make(chan struct{}), make(chan struct{})
			exited, returned := make(chan int, 1), make(chan int, 1)
			go func() {
				returned <- supervise(sigs, &stderr, live, func(code int) { exited <- code }, func(ctx context.Context) int {
					if tt.run != nil {
						defer g.registerRun(tt.run)()
					}
					close(started)
					<-ctx.Done()
					close(cancelled)
					<-release // a cleanup that takes long
					return exitcode.OK
				})
			}()
			defer close(release)
			receive(t, started, "the command to start")
			sigs <- tt.first
			receive(t, cancelled, "the command's context to be cancelled")
			sigs <- tt.second
			if code := receive(t, exited, "exit to be called"); code != tt.want {
				t.Errorf("exit(%d), want exit(%d)", code, tt.want)
			}
			if code := receive(t, returned, "supervise to return"); code != tt.want {
				t.Errorf("supervise returned %d, want %d", code, tt.want)
			}
			for _, want := range tt.stderr {
				if !strings.Contains(stderr.String(), want) {
					t.Errorf("stderr %q does not contain %q", stderr.String(), want)
				}
			}
		})
	}
}

func TestRegisteredRunIsClearedWhenTheCommandReturns(t *testing.T) {
	t.Parallel()
	g := &globals{live: &liveRun{}}
	unregister := g.registerRun(&fakeRun{id: "abc"})
	if !strings.Contains(g.live.report(), "run abc") {
		t.Errorf("registered run not reported: %q", g.live.report())
	}
	unregister()
	if got := g.live.report(); got != "pvreboot: interrupted again: exiting now\n" {
		t.Errorf("after unregister: %q", got)
	}
}

// TestMainInterruptsACommandBlockedOnTheAPI runs the real cleanup command
// in-process against an API server that never answers, and interrupts it.
func TestMainInterruptsACommandBlockedOnTheAPI(t *testing.T) {
	t.Parallel()
	kubeconfig, requested := hangingAPIServer(t)
	sigs := make(chan os.Signal, 1)
	var out, stderr syncBuffer
	returned := make(chan int, 1)
	go func() {
		returned <- Main([]string{"cleanup", "--kubeconfig", kubeconfig}, Streams{In: strings.NewReader(""), Out: &out, Err: &stderr}, nil, sigs,
			func(code int) { t.Errorf("exit(%d) called after one signal", code) })
	}()
	receive(t, requested, "cleanup to call the API server")
	sigs <- os.Interrupt
	if code := receive(t, returned, "Main to return"); code != 130 {
		t.Errorf("exit code %d, want 130; stderr %q", code, stderr.String())
	}
	if strings.Contains(out.String(), "nothing left behind") {
		t.Errorf("an interrupted sweep claims a clean cluster: %q", out.String())
	}
}

// TestBinaryExitsOnSignal builds pvreboot and stops it with real signals
// while it waits on an API server that never answers.
func TestBinaryExitsOnSignal(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("builds the pvreboot binary; skipped in -short mode")
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("needs the go command to build pvreboot: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "pvreboot")
	ctx, cancel := context.WithTimeout(context.Background(), buildTimeout)
	defer cancel()
	if out, err := exec.CommandContext(ctx, goBin, "build", "-o", bin, "github.com/pvreboot/pvreboot/cmd/pvreboot").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	for _, tt := range []struct {
		sig  syscall.Signal
		want int
	}{
		{sig: syscall.SIGINT, want: 130},
		{sig: syscall.SIGTERM, want: 143},
	} {
		t.Run(tt.sig.String(), func(t *testing.T) {
			t.Parallel()
			kubeconfig, requested := hangingAPIServer(t)
			ctx, cancel := context.WithTimeout(context.Background(), 2*stepTimeout)
			defer cancel()
			cmd := exec.CommandContext(ctx, bin, "cleanup", "--kubeconfig", kubeconfig)
			cmd.Env = []string{"HOME=" + t.TempDir(), "PATH=" + os.Getenv("PATH")}
			var stderr syncBuffer
			cmd.Stdout, cmd.Stderr = &syncBuffer{}, &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			waited := make(chan error, 1)
			go func() { waited <- cmd.Wait() }()
			select {
			case <-requested:
			case err := <-waited:
				t.Fatalf("pvreboot exited before calling the API server: %v; stderr %q", err, stderr.String())
			case <-time.After(stepTimeout):
				t.Fatalf("pvreboot did not call the API server within %s; stderr %q", stepTimeout, stderr.String())
			}
			if err := cmd.Process.Signal(tt.sig); err != nil {
				t.Fatal(err)
			}
			err := receive(t, waited, "pvreboot to exit")
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != tt.want {
				t.Errorf("pvreboot after %s: %v, want exit status %d; stderr %q", tt.sig, err, tt.want, stderr.String())
			}
		})
	}
}

// hangingAPIServer serves, on loopback, an API server that accepts requests
// and never answers; requested receives once a request arrived. It returns a
// kubeconfig file pointing at it.
func hangingAPIServer(t *testing.T) (kubeconfig string, requested <-chan struct{}) {
	t.Helper()
	req := make(chan struct{}, 1)
	stop := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		select {
		case req <- struct{}{}:
		default:
		}
		select {
		case <-r.Context().Done():
		case <-stop:
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(stop) }) // runs first: unblocks handlers for Close
	kubeconfig = filepath.Join(t.TempDir(), "kubeconfig")
	cfg := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: hang
  cluster:
    server: %s
contexts:
- name: hang
  context:
    cluster: hang
    user: hang
current-context: hang
users:
- name: hang
  user: {}
`, srv.URL)
	if err := os.WriteFile(kubeconfig, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return kubeconfig, req
}

// receive waits, at most stepTimeout, for a value from ch.
func receive[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(stepTimeout):
		t.Fatalf("timed out after %s waiting for %s", stepTimeout, what)
		var zero T
		return zero
	}
}

// syncBuffer is a bytes.Buffer safe for the writes of several goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
