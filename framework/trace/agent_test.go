package trace

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseAgentCommand(t *testing.T) {
	t.Parallel()
	tests := []struct {
		line    string
		want    AgentCommand
		wantErr string
	}{
		{line: "begin", want: AgentCommand{Verb: AgentBegin}},
		{line: "end", want: AgentCommand{Verb: AgentEnd}},
		{line: "stop", want: AgentCommand{Verb: AgentStop}},
		{line: `evict "/data/src"`, want: AgentCommand{Verb: AgentEvict, Path: "/data/src"}},
		{line: `evict "/data/a \"b\"\nc"`, want: AgentCommand{Verb: AgentEvict, Path: "/data/a \"b\"\nc"}},
		{line: "evict /data/with space; rm -rf /", want: AgentCommand{Verb: AgentEvict, Path: "/data/with space; rm -rf /"}},
		{line: "", wantErr: "empty command"},
		{line: "fly", wantErr: `unknown command "fly" (want begin, end, evict PATH or stop)`},
		{line: "BEGIN", wantErr: `unknown command "BEGIN"`},
		{line: "begin now", wantErr: `begin takes no argument, got "now"`},
		{line: "stop ", wantErr: `stop takes no argument`},
		{line: "evict data/src", wantErr: `want an absolute path in the container, got "data/src"`},
		{line: "evict", wantErr: `want an absolute path in the container, got ""`},
		{line: `evict "/data/src`, wantErr: "is not a Go-quoted string"},
		{line: `evict "/data/\x00src"`, wantErr: "want an absolute path"},
	}
	for _, tt := range tests {
		t.Run(tt.line, func(t *testing.T) {
			t.Parallel()
			got, err := ParseAgentCommand(tt.line)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !errors.Is(err, ErrAgentProtocol) {
					t.Fatalf("err = %v, want %q (ErrAgentProtocol)", err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("got %+v, %v; want %+v", got, err, tt.want)
			}
			// What the client sends parses back to the same command.
			if back, err := ParseAgentCommand(got.String()); err != nil || back != got {
				t.Errorf("%q parses to %+v, %v", got.String(), back, err)
			}
		})
	}
}

// fakeSession stands in for an Agent: windows on a clock that ticks by
// 100 at each call, and a record of the calls.
type fakeSession struct {
	clock   int64
	calls   []string
	windows []Window
	stops   int
	evict   error
	stopErr error
}

func (f *fakeSession) tick() int64 { f.clock += 100; return f.clock }

func (f *fakeSession) Begin(context.Context) (int64, error) {
	f.calls = append(f.calls, "begin")
	ns := f.tick()
	f.windows = append(f.windows, Window{StartNs: ns})
	return ns, nil
}

func (f *fakeSession) End(context.Context) (int64, error) {
	f.calls = append(f.calls, "end")
	if len(f.windows) == 0 {
		return 0, fmt.Errorf("end: no window has begun: %w", ErrAgentProtocol)
	}
	ns := f.tick()
	f.windows[len(f.windows)-1].EndNs = ns
	return ns, nil
}

func (f *fakeSession) Evict(_ context.Context, path string) error {
	f.calls = append(f.calls, "evict "+path)
	return f.evict
}

func (f *fakeSession) Stop(context.Context) (*AgentResult, error) {
	f.stops++
	f.calls = append(f.calls, "stop")
	res := &AgentResult{Schema: AgentSchema, ContainerID: "0123456789abcdef", Windows: f.windows,
		Result: &Result{Samples: []Sample{{Syscall: Sendfile, StartNs: 150, Ns: 20, Ret: 16 << 20}}}}
	return res, f.stopErr
}

// TestServeAgent drives the agent's loop with scripts: each reply is one
// line, the result one JSON document; a bad line is an error naming it,
// after which nothing more is written; the session is stopped once,
// whatever happens.
func TestServeAgent(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		in        string
		evict     error
		stopErr   error
		wantOut   []string // the lines before the result
		wantCalls []string
		wantErr   string // "" means a result is written
	}{
		{name: "runs then stop", in: "begin\nend\nevict \"/data/src\"\nbegin\nend\nstop\n",
			wantOut:   []string{"ready", "ok begin 100", "ok end 200", "ok evict", "ok begin 300", "ok end 400"},
			wantCalls: []string{"begin", "end", "evict /data/src", "begin", "end", "stop"}},
		{name: "end of input stops", in: "begin\nend\n",
			wantOut: []string{"ready", "ok begin 100", "ok end 200"}, wantCalls: []string{"begin", "end", "stop"}},
		{name: "nothing: a duration", in: "",
			wantOut: []string{"ready"}, wantCalls: []string{"stop"}},
		{name: "unknown command", in: "begin\nend\nrewind\nbegin\n",
			wantOut: []string{"ready", "ok begin 100", "ok end 200"}, wantCalls: []string{"begin", "end", "stop"},
			wantErr: `trace agent: line 3: unknown command "rewind"`},
		{name: "empty line", in: "begin\n\n",
			wantOut: []string{"ready", "ok begin 100"}, wantCalls: []string{"begin", "stop"},
			wantErr: "trace agent: line 2: empty command"},
		{name: "session refuses", in: "end\n",
			wantOut: []string{"ready"}, wantCalls: []string{"end", "stop"},
			wantErr: "trace agent: line 1: end: no window has begun"},
		{name: "evict fails", in: "evict /data/missing\n", evict: errors.New("evict /data/missing in pid 7: no such file or directory"),
			wantOut: []string{"ready"}, wantCalls: []string{"evict /data/missing", "stop"},
			wantErr: "trace agent: line 1: evict /data/missing in pid 7: no such file or directory"},
		{name: "stop fails", in: "stop\n", stopErr: errors.New("stop trace: flush ring buffer"),
			wantOut: []string{"ready"}, wantCalls: []string{"stop"}, wantErr: "flush ring buffer"},
		{name: "line too long", in: "evict /" + strings.Repeat("a", maxAgentLine) + "\n",
			wantOut: []string{"ready"}, wantCalls: []string{"stop"}, wantErr: "trace agent: line 1: bufio.Scanner: token too long"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := &fakeSession{evict: tt.evict, stopErr: tt.stopErr}
			var out bytes.Buffer
			err := ServeAgent(t.Context(), s, strings.NewReader(tt.in), &out)
			if s.stops != 1 {
				t.Errorf("session stopped %d times, want once", s.stops)
			}
			if strings.Join(s.calls, "|") != strings.Join(tt.wantCalls, "|") {
				t.Errorf("calls %q, want %q", s.calls, tt.wantCalls)
			}
			lines := strings.SplitAfter(out.String(), "\n")
			n := min(len(tt.wantOut), len(lines))
			for i, l := range lines[:n] {
				if strings.TrimSuffix(l, "\n") != tt.wantOut[i] {
					t.Fatalf("output line %d = %q, want %q (all: %q)", i+1, l, tt.wantOut[i], out.String())
				}
			}
			rest := strings.Join(lines[n:], "")
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				if rest != "" {
					t.Errorf("after the error the agent wrote %q, want nothing", rest)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var res AgentResult
			dec := json.NewDecoder(strings.NewReader(rest))
			if err := dec.Decode(&res); err != nil {
				t.Fatalf("result %q: %v", rest, err)
			}
			if dec.More() {
				t.Errorf("more than one document after the replies: %q", rest)
			}
			if res.Schema != AgentSchema || len(res.Windows) != len(s.windows) || len(res.Result.Samples) != 1 {
				t.Errorf("result %+v", res)
			}
		})
	}
}

// TestServeAgentContext: an agent whose context ends (SIGTERM, its bound)
// stops the tracer and says why, though its input is still open.
func TestServeAgentContext(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancelCause(t.Context())
	pr, pw := io.Pipe()
	defer pw.Close()
	s := &fakeSession{}
	errc := make(chan error, 1)
	var out bytes.Buffer
	go func() { errc <- ServeAgent(ctx, s, pr, &out) }()
	if _, err := io.WriteString(pw, "begin\n"); err != nil {
		t.Fatal(err)
	}
	cancel(errors.New("no stop within 25h0m0s"))
	err := <-errc
	if err == nil || !strings.Contains(err.Error(), "no stop within 25h0m0s") {
		t.Fatalf("err = %v, want the context's cause", err)
	}
	if s.stops != 1 {
		t.Errorf("session stopped %d times, want once", s.stops)
	}
}

// TestAgentClient runs the client against ServeAgent over pipes, as the
// runner does over a pods/exec stream.
func TestAgentClient(t *testing.T) {
	t.Parallel()
	start := func(t *testing.T, s *fakeSession) (*AgentClient, io.Closer, chan error) {
		inR, inW := io.Pipe()
		outR, outW := io.Pipe()
		errc := make(chan error, 1)
		go func() {
			err := ServeAgent(context.Background(), s, inR, outW)
			// The exec ends: the agent's output closes.
			outW.Close()
			errc <- err
		}()
		t.Cleanup(func() { inW.Close() })
		return NewAgentClient(inW, outR), inW, errc
	}
	t.Run("runs", func(t *testing.T) {
		t.Parallel()
		ctx := t.Context()
		s := &fakeSession{}
		c, _, errc := start(t, s)
		if err := c.Ready(ctx); err != nil {
			t.Fatal(err)
		}
		for range 2 {
			if err := c.Evict(ctx, "/data/src dir/\"x\""); err != nil {
				t.Fatal(err)
			}
			b, err := c.Begin(ctx)
			if err != nil {
				t.Fatal(err)
			}
			e, err := c.End(ctx)
			if err != nil || e <= b {
				t.Fatalf("end %d, %v after begin %d", e, err, b)
			}
		}
		res, err := c.Stop(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
		want := []Window{{100, 200}, {300, 400}}
		if fmt.Sprint(res.Windows) != fmt.Sprint(want) || res.Result.Samples[0].Ret != 16<<20 {
			t.Errorf("result windows %v samples %+v, want windows %v", res.Windows, res.Result.Samples, want)
		}
		if s.calls[0] != "evict /data/src dir/\"x\"" {
			t.Errorf("the path arrived as %q", s.calls[0])
		}
	})
	t.Run("agent fails", func(t *testing.T) {
		t.Parallel()
		ctx := t.Context()
		s := &fakeSession{evict: errors.New("no such file")}
		c, _, errc := start(t, s)
		if err := c.Ready(ctx); err != nil {
			t.Fatal(err)
		}
		err := c.Evict(ctx, "/data/missing")
		if !errors.Is(err, ErrAgentEnded) {
			t.Fatalf("err = %v, want ErrAgentEnded", err)
		}
		if err := <-errc; err == nil || !strings.Contains(err.Error(), "line 1: no such file") {
			t.Errorf("agent's error %v", err)
		}
	})
	t.Run("not an agent", func(t *testing.T) {
		t.Parallel()
		c := NewAgentClient(io.Discard, strings.NewReader("copyprobe: serving\n"))
		if err := c.Ready(t.Context()); !errors.Is(err, ErrAgentProtocol) {
			t.Fatalf("err = %v, want ErrAgentProtocol", err)
		}
	})
	t.Run("bad result", func(t *testing.T) {
		t.Parallel()
		c := NewAgentClient(io.Discard, strings.NewReader(`{"schema":"pvreboot.dev/probe/v1"}`+"\n"))
		if _, err := c.Stop(t.Context()); !errors.Is(err, ErrAgentProtocol) {
			t.Fatalf("err = %v, want ErrAgentProtocol", err)
		}
	})
}

// TestHostMountsOf reads a fake /proc as a hostPID pod sees it: its own
// mountinfo holds its container's view of the hierarchy (a subtree, not
// the root, so not used); the node's init's holds the root, reached through
// its root directory.
func TestHostMountsOf(t *testing.T) {
	t.Parallel()
	id := "0123456789abcdef0123456789abcdef"
	proc := t.TempDir()
	write := func(name, content string) {
		t.Helper()
		p := filepath.Join(proc, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("self/mountinfo", "40 30 0:35 /kubepods/besteffort/podh/helper /sys/fs/cgroup/pids ro,nosuid - cgroup cgroup rw,pids\n")
	write("1/mountinfo", "38 30 0:35 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids\n")
	write("42/cgroup", "5:pids:/kubepods/besteffort/podw/"+id+"\n")
	write("7/cgroup", "5:pids:/kubepods/besteffort/podw/"+id+"\n")
	write("43/cgroup", "5:pids:/system.slice\n")
	dir := filepath.Join(proc, "1", "root", "sys", "fs", "cgroup", "pids", "kubepods", "besteffort", "podw", id)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}

	cg, pids, err := Host{Proc: proc, MountsOf: 1}.CgroupOfContainer(id)
	if err != nil {
		t.Fatal(err)
	}
	if cg.Dir != dir || cg.Version != 1 || cg.Controller != "pids" || cg.Level != 4 || fmt.Sprint(pids) != "[7 42]" {
		t.Errorf("node's view: %+v, pids %v; want dir %s, level 4, pids [7 42]", cg, pids, dir)
	}
	// The pod's own view has no hierarchy root mounted: nothing to select by.
	if _, _, err := (Host{Proc: proc}).CgroupOfContainer(id); err == nil || !strings.Contains(err.Error(), "self/mountinfo mounts the root of no cgroup hierarchy") {
		t.Errorf("pod's own view: err = %v, want none mounted", err)
	}
	if !(Host{Proc: proc}).KernelPIDs() {
		t.Error("a fake /proc without namespace links: want its PIDs taken as the kernel's")
	}
}
