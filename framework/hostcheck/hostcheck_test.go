package hostcheck

import (
	"context"
	"errors"
	"io/fs"
	"strings"
	"testing"
	"testing/fstest"
	"time"
)

const gib = 1 << 30

type fakeDocker struct {
	engines map[string]DockerInfo // by DOCKER_HOST; absent: does not answer
	images  []string
}

func (d fakeDocker) Info(_ context.Context, host string) (DockerInfo, error) {
	if i, ok := d.engines[host]; ok {
		return i, nil
	}
	return DockerInfo{}, errors.New("Cannot connect to the Docker daemon at " + host)
}

func (d fakeDocker) ImagePresent(_ context.Context, _, ref string) (bool, error) {
	for _, i := range d.images {
		if i == ref {
			return true, nil
		}
	}
	return false, nil
}

type fakeRegistry struct{ err error }

func (r fakeRegistry) Reachable(ctx context.Context, _ string) error {
	if r.err == nil {
		return nil
	}
	// An unreachable registry hangs until the check's bound.
	<-ctx.Done()
	return r.err
}

const (
	fullCaps    = "000001ffffffffff" // cap_last_cap 40
	reducedCaps = "000001fffeffffff" // without CAP_SYS_RESOURCE (24)
	ownHost     = "unix:///run/pvreboot/docker.sock"
)

func root(capBnd string, cgroup2, loop bool) fstest.MapFS {
	m := fstest.MapFS{
		"proc/self/status":             {Data: []byte("Name:\tpvreboot\nCapInh:\t0000000000000000\nCapBnd:\t" + capBnd + "\n")},
		"proc/sys/kernel/cap_last_cap": {Data: []byte("40\n")},
		"var/lib":                      {Mode: fs.ModeDir},
	}
	if cgroup2 {
		m["sys/fs/cgroup/cgroup.controllers"] = &fstest.MapFile{Data: []byte("cpu io memory\n")}
	}
	if loop {
		m["dev/loop-control"] = &fstest.MapFile{Mode: fs.ModeDevice | fs.ModeCharDevice | 0o660}
	}
	return m
}

func config(dockerHost string) Config {
	return Config{
		DockerHost: dockerHost, OwnDockerHost: ownHost, OwnDockerEnv: "/var/lib/pvreboot/docker.env", CapfixRuntime: "runc-capfix",
		NodeImage: "pvreboot/node:v1.37.2", PullImage: "kindest/node:v1.37.0", PullRegistry: "registry-1.docker.io",
		RegistryTimeout: 10 * time.Millisecond,
		Dirs: []Dir{{Path: "/var/lib/pvreboot", What: "Local PV volumes", Need: 4 * gib},
			{Path: "/root/.cache/pvreboot", What: "node image build cache", Need: 12 * gib, ForBuild: true}},
		DockerNeed: 8 * gib,
	}
}

var (
	systemEngine = DockerInfo{ServerVersion: "26.1.5", DefaultRuntime: "runc", CgroupVersion: "2", RootDir: "/var/lib/docker"}
	ownEngine    = DockerInfo{ServerVersion: "20.10.24", DefaultRuntime: "runc-capfix", CgroupVersion: "1", RootDir: "/var/lib/pvreboot/docker/root"}
)

func freeAll(n uint64) func(string) (uint64, error) {
	return func(string) (uint64, error) { return n, nil }
}

func TestRun(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		host        Host
		cfg         Config
		wantBlocked bool
		want        map[string]Status // check name -> status
		wantText    []string          // in some check's found or fix, or the plan
	}{
		{
			name: "healthy host with a registry",
			host: Host{Root: root(fullCaps, true, true), Free: freeAll(100 * gib),
				Docker: fakeDocker{engines: map[string]DockerInfo{"": systemEngine}}, Registry: fakeRegistry{}},
			cfg:  config(""),
			want: map[string]Status{"docker": OK, "capabilities": OK, "cgroup": OK, "loop devices": OK, "registry": OK, "node image": OK},
			wantText: []string{"the system engine", "cgroup v2", "registry-1.docker.io answers",
				"give --image kindest/node:v1.37.0, which kind can pull"},
		},
		{
			name: "reduced bounding set on pvreboot's own engine, offline, image built",
			host: Host{Root: root(reducedCaps, false, true), Free: freeAll(100 * gib),
				Docker:   fakeDocker{engines: map[string]DockerInfo{ownHost: ownEngine}, images: []string{"pvreboot/node:v1.37.2"}},
				Registry: fakeRegistry{err: context.DeadlineExceeded}},
			cfg:  config(ownHost),
			want: map[string]Status{"docker": OK, "capabilities": OK, "cgroup": OK, "registry": Warn, "node image": OK},
			wantText: []string{"pvreboot's own engine", "lacks CAP_SYS_RESOURCE", "runc-capfix drops them", "failCgroupV1: false",
				"cannot be reached (no answer within 10ms)", "uses the node image pvreboot/node:v1.37.2: no build, no pull",
				"/root/.cache/pvreboot: not needed, the node image is there"},
		},
		{
			name: "reduced bounding set on the system engine",
			host: Host{Root: root(reducedCaps, true, true), Free: freeAll(100 * gib),
				Docker: fakeDocker{engines: map[string]DockerInfo{"": systemEngine}}, Registry: fakeRegistry{}},
			cfg:         config(""),
			wantBlocked: true,
			want:        map[string]Status{"capabilities": Blocks},
			wantText:    []string{"unable to apply caps", "ci/docker-up.sh", "fix what BLOCKS first"},
		},
		{
			name: "system engine down, pvreboot's own engine up",
			host: Host{Root: root(reducedCaps, false, true), Free: freeAll(100 * gib),
				Docker: fakeDocker{engines: map[string]DockerInfo{ownHost: ownEngine}}, Registry: fakeRegistry{err: errors.New("dial tcp: no route to host")}},
			cfg:         config(""),
			wantBlocked: true,
			want:        map[string]Status{"docker": Blocks, "capabilities": Blocks, "node image": Warn, "registry": Warn},
			wantText: []string{"pvreboot's own engine answers at " + ownHost, "source /var/lib/pvreboot/docker.env", "no run can start",
				"its default runtime is runc-capfix"},
		},
		{
			name: "no engine at all",
			host: Host{Root: root(fullCaps, true, true), Free: freeAll(100 * gib),
				Docker: fakeDocker{}, Registry: fakeRegistry{}},
			cfg:         config(""),
			wantBlocked: true,
			want:        map[string]Status{"docker": Blocks},
			wantText:    []string{"start a Docker engine", "ci/docker-up.sh"},
		},
		{
			name: "no loop devices",
			host: Host{Root: root(fullCaps, true, false), Free: freeAll(100 * gib),
				Docker: fakeDocker{engines: map[string]DockerInfo{"": systemEngine}}, Registry: fakeRegistry{}},
			cfg:         config(""),
			wantBlocked: true,
			want:        map[string]Status{"loop devices": Blocks},
			wantText:    []string{"modprobe loop"},
		},
		{
			name: "disk full",
			host: Host{Root: root(fullCaps, true, true), Free: freeAll(1 * gib),
				Docker: fakeDocker{engines: map[string]DockerInfo{"": systemEngine}}, Registry: fakeRegistry{}},
			cfg:         config(""),
			wantBlocked: true,
			want:        map[string]Status{"disk Local PV volumes": Blocks, "disk Docker images and node containers": Blocks},
			wantText:    []string{"1.0 GiB free, needs 4.0 GiB", "free space on the file system of /var/lib", "/root/.cache/pvreboot: 1.0 GiB free, needs 12.0 GiB"},
		},
		{
			name: "disk tight",
			host: Host{Root: root(fullCaps, true, true), Free: freeAll(6 * gib),
				Docker: fakeDocker{engines: map[string]DockerInfo{"": systemEngine}}, Registry: fakeRegistry{}},
			cfg:         config(""),
			wantBlocked: true,
			want:        map[string]Status{"disk Local PV volumes": Warn, "disk Docker images and node containers": Blocks},
		},
		{
			name: "offline, no node image yet",
			host: Host{Root: root(fullCaps, true, true), Free: freeAll(100 * gib),
				Docker: fakeDocker{engines: map[string]DockerInfo{"": systemEngine}}, Registry: fakeRegistry{err: context.DeadlineExceeded}},
			cfg:      config(""),
			want:     map[string]Status{"registry": Warn, "node image": OK},
			wantText: []string{"is not in the engine yet", "no registry answers, so it must be built", "the node image is built from Debian packages"},
		},
		{
			name: "unreadable bounding set",
			host: Host{Root: fstest.MapFS{"proc/self/status": {Data: []byte("Name:\tx\n")}}, Free: freeAll(100 * gib),
				Docker: fakeDocker{engines: map[string]DockerInfo{"": systemEngine}}, Registry: fakeRegistry{}},
			cfg:         config(""),
			wantBlocked: true, // and no loop-control in that file system
			want:        map[string]Status{"capabilities": Warn},
			wantText:    []string{"no CapBnd line"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := Run(context.Background(), tt.host, tt.cfg)
			if r.Blocked() != tt.wantBlocked {
				t.Errorf("Blocked() = %v, want %v; checks %+v", r.Blocked(), tt.wantBlocked, r.Checks)
			}
			got := map[string]Status{}
			var text []string
			for _, c := range r.Checks {
				got[c.Name] = c.Status
				text = append(text, c.Found, c.Fix)
			}
			text = append(text, r.Plan...)
			for name, want := range tt.want {
				if got[name] != want {
					t.Errorf("check %q: %q, want %q", name, got[name], want)
				}
			}
			all := strings.Join(text, "\n")
			for _, w := range tt.wantText {
				if !strings.Contains(all, w) {
					t.Errorf("no %q in the report:\n%s", w, all)
				}
			}
			for _, c := range r.Checks {
				if c.Status == Blocks && c.Fix == "" {
					t.Errorf("check %q blocks without a fix: %s", c.Name, c.Found)
				}
			}
		})
	}
}

func TestExistingParent(t *testing.T) {
	t.Parallel()
	root := fstest.MapFS{"var/lib/docker": {Mode: fs.ModeDir}}
	for in, want := range map[string]string{"/var/lib/docker": "/var/lib/docker", "/var/lib/pvreboot/kind": "/var/lib", "/nowhere": "/"} {
		if got := existingParent(root, in); got != want {
			t.Errorf("existingParent(%q) = %q, want %q", in, got, want)
		}
	}
}
