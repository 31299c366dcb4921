package trace

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pvreboot/pvreboot/framework/probe"
)

func TestParseSyscalls(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      []string
		want    []Syscall
		wantErr string
	}{
		{in: nil, want: Syscalls()},
		{in: []string{"sendfile,read", "read", " write "}, want: []Syscall{Sendfile, Read, Write}},
		{in: []string{"sendfile64"}, want: []Syscall{Sendfile}},
		{in: []string{"sendfile,mmap"}, wantErr: `unknown syscall "mmap"`},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.in, "|"), func(t *testing.T) {
			t.Parallel()
			got, err := ParseSyscalls(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || strings.Join(syscallStrings(got), ",") != strings.Join(syscallStrings(tt.want), ",") {
				t.Fatalf("got %v, %v; want %v", got, err, tt.want)
			}
		})
	}
	for _, s := range Syscalls() {
		if _, ok := s.number(); !ok {
			t.Errorf("%s has no number on this architecture", s)
		}
	}
}

func syscallStrings(ss []Syscall) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = string(s)
	}
	return out
}

func TestRuntimeContainerID(t *testing.T) {
	t.Parallel()
	id := "0123456789abcdef0123456789abcdef"
	for in, want := range map[string]string{"containerd://" + id: id, "cri-o://" + id: id, id: "", "containerd://xyz": "", "containerd://0123": ""} {
		got, err := RuntimeContainerID(in)
		if got != want || (want == "") != (err != nil) {
			t.Errorf("RuntimeContainerID(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}

// TestProbeReport: windows make iterations, failed calls and end-of-file
// zeros are not calls, drops are noted.
func TestProbeReport(t *testing.T) {
	t.Parallel()
	res := &Result{
		Syscalls: []SyscallResult{{Syscall: Sendfile, Calls: 7, Dropped: 1}, {Syscall: Fsync, Calls: 1}},
		Samples: []Sample{
			{Syscall: Sendfile, StartNs: 100, Ns: 10, Ret: 16 << 20},
			{Syscall: Sendfile, StartNs: 120, Ns: 30, Ret: 1 << 20},
			{Syscall: Sendfile, StartNs: 160, Ns: 1, Ret: 0},
			{Syscall: Sendfile, StartNs: 170, Ns: 1, Ret: -11},
			{Syscall: Fsync, StartNs: 180, Ns: 5, Ret: 0},
			{Syscall: Sendfile, StartNs: 300, Ns: 20, Ret: 16 << 20},
		},
	}
	rep := ProbeReport(res, Sendfile, []Window{{StartNs: 100, EndNs: 200}, {StartNs: 200, EndNs: 400}}, probe.Env{})
	if rep.Schema != probe.Schema || rep.Method != "trace:sendfile" {
		t.Errorf("schema %q method %q", rep.Schema, rep.Method)
	}
	if len(rep.Iterations) != 2 || len(rep.Iterations[0].Calls) != 2 || len(rep.Iterations[1].Calls) != 1 {
		t.Fatalf("iterations %+v: want 2 calls then 1", rep.Iterations)
	}
	if it := rep.Iterations[0]; it.Bytes != 17<<20 || it.Ns != 40 {
		t.Errorf("first iteration %d bytes in %d ns, want 17 MiB in 40 ns", it.Bytes, it.Ns)
	}
	if rep.ChunkBytes != 16<<20 || rep.FileBytes != 17<<20 || rep.Summary.Calls != 3 || rep.Summary.MaxNs != 30 {
		t.Errorf("chunk %d file %d summary %+v", rep.ChunkBytes, rep.FileBytes, rep.Summary)
	}
	if len(rep.Env.Notes) != 1 || !strings.Contains(rep.Env.Notes[0], "1 of 7 sendfile calls have no sample") {
		t.Errorf("notes %q: want the drop", rep.Env.Notes)
	}
	if fs := ProbeReport(res, Fsync, nil, probe.Env{}); fs.Summary.Calls != 1 {
		t.Errorf("fsync's 0 is a call: got %d calls", fs.Summary.Calls)
	}
	if got := res.Busiest(); got != Sendfile {
		t.Errorf("busiest %s, want sendfile", got)
	}
}

// TestCgroupOfPID reads a fake /proc: a hybrid host picks the first v1
// controller mounted, a unified-only host its cgroup2 path; a container's
// processes are found by its ID.
func TestCgroupOfPID(t *testing.T) {
	t.Parallel()
	id := "0123456789abcdef0123456789abcdef"
	root := t.TempDir()
	pids := filepath.Join(root, "pids")
	unified := filepath.Join(root, "unified")
	for _, d := range []string{filepath.Join(pids, "kubepods", id), filepath.Join(unified, "system.slice", "docker.service")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	write := func(proc, name, content string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Join(proc, filepath.Dir(name)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(proc, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	hybrid := filepath.Join(root, "proc-hybrid")
	write(hybrid, "self/mountinfo", "30 25 0:26 / "+pids+" rw,relatime shared:9 - cgroup cgroup rw,pids\n"+
		"31 25 0:27 / "+unified+" rw,relatime shared:10 - cgroup2 cgroup2 rw\n")
	write(hybrid, "42/cgroup", "5:pids:/kubepods/"+id+"\n0::/system.slice/docker.service\n")
	write(hybrid, "43/cgroup", "5:pids:/\n0::/\n")
	cg, err := CgroupOfPID(hybrid, 42)
	if err != nil {
		t.Fatal(err)
	}
	if cg.Version != 1 || cg.Controller != "pids" || cg.Path != "/kubepods/"+id || cg.Level != 2 || cg.ID == 0 {
		t.Errorf("hybrid: %+v", cg)
	}
	cg2, pidsFound, err := CgroupOfContainer(hybrid, id)
	if err != nil || len(pidsFound) != 1 || pidsFound[0] != 42 || cg2.Path != cg.Path {
		t.Errorf("container: %+v %v %v", cg2, pidsFound, err)
	}
	if _, _, err := CgroupOfContainer(hybrid, "fedcba9876543210"); err == nil || !strings.Contains(err.Error(), ErrNoContainer.Error()) {
		t.Errorf("unknown container: %v", err)
	}

	v2 := filepath.Join(root, "proc-v2")
	write(v2, "self/mountinfo", "31 25 0:27 / "+unified+" rw,relatime shared:10 - cgroup2 cgroup2 rw\n")
	write(v2, "42/cgroup", "0::/system.slice/docker.service\n")
	cg, err = CgroupOfPID(v2, 42)
	if err != nil {
		t.Fatal(err)
	}
	if cg.Version != 2 || cg.Controller != "" || cg.Level != 2 {
		t.Errorf("v2: %+v", cg)
	}
}
