package probe

import (
	"maps"
	"os"
	"path/filepath"
	"testing"
)

// writeTree lays out files (path relative to root -> content) under root.
func writeTree(t *testing.T, root string, files map[string]string) {
	t.Helper()
	for p, content := range files {
		full := filepath.Join(root, p)
		must(t, os.MkdirAll(filepath.Dir(full), 0o755))
		must(t, os.WriteFile(full, []byte(content), 0o644))
	}
}

func TestReadCgroupAt(t *testing.T) {
	t.Parallel()
	const pod = "/kubepods/burstable/pod1/c1"
	v1 := map[string]string{
		"memory" + pod + "/memory.limit_in_bytes":     "268435456\n",
		"memory" + pod + "/memory.usage_in_bytes":     "201326592\n",
		"memory" + pod + "/memory.max_usage_in_bytes": "268435456\n",
		"memory" + pod + "/memory.failcnt":            "17\n",
		"memory" + pod + "/memory.stat": "cache 100\ndirty 3\nwriteback 1\npgmajfault 9\n" +
			"total_cache 150\ntotal_dirty 4\ntotal_writeback 2\ntotal_pgmajfault 12\n",
		"blkio" + pod + "/blkio.throttle.read_bps_device": "7:0 20971520\n",
	}
	v2 := map[string]string{
		pod[1:] + "/memory.max":      "268435456\n",
		pod[1:] + "/memory.high":     "max\n",
		pod[1:] + "/io.max":          "7:0 rbps=20971520 wbps=max riops=max wiops=max\n",
		pod[1:] + "/memory.current":  "201326592\n",
		pod[1:] + "/memory.events":   "low 0\nhigh 4\nmax 12\noom 1\noom_kill 1\noom_group_kill 0\n",
		pod[1:] + "/memory.pressure": "some avg10=12.50 avg60=3.10 avg300=0.80 total=4123456\nfull avg10=8.00 avg60=2.00 avg300=0.50 total=3000000\n",
		pod[1:] + "/memory.stat":     "anon 1000\nfile 5000\nfile_dirty 300\nfile_writeback 20\npgmajfault 7\n",
	}
	for _, tt := range []struct {
		name, version, self string
		files               map[string]string
		limits, memory      map[string]string
	}{
		{
			name: "v1", version: "v1", files: v1,
			self:   "7:blkio:" + pod + "\n4:memory:" + pod + "\n1:name=systemd:/\n",
			limits: map[string]string{"memory.limit_in_bytes": "268435456", "blkio.throttle.read_bps_device": "7:0 20971520"},
			memory: map[string]string{"usage_in_bytes": "201326592", "max_usage_in_bytes": "268435456", "failcnt": "17",
				"stat.total_cache": "150", "stat.total_dirty": "4", "stat.total_writeback": "2", "stat.total_pgmajfault": "12"},
		},
		{
			name: "v1 without hierarchical stats", version: "hybrid",
			files: map[string]string{"memory" + pod + "/memory.stat": "cache 100\ndirty 3\n"},
			self:  "4:memory:" + pod + "\n0::/\n", limits: map[string]string{},
			memory: map[string]string{"stat.cache": "100", "stat.dirty": "3"},
		},
		{
			name: "v2", version: "v2", files: v2, self: "0::" + pod + "\n",
			limits: map[string]string{"memory.max": "268435456", "memory.high": "max", "io.max": "7:0 rbps=20971520 wbps=max riops=max wiops=max"},
			memory: map[string]string{"current": "201326592", "events.high": "4", "events.max": "12", "events.oom": "1", "events.oom_kill": "1",
				"pressure.some.avg10": "12.50", "pressure.some.total": "4123456", "pressure.full.avg10": "8.00",
				"stat.file": "5000", "stat.file_dirty": "300", "stat.file_writeback": "20", "stat.pgmajfault": "7"},
		},
		{
			// A cgroup namespace: /proc/self/cgroup names a path the mount
			// does not have; the container's cgroup is the mount's root.
			name: "v2 namespaced", version: "v2", self: "0::/../../elsewhere\n",
			files:  map[string]string{"memory.max": "max\n", "memory.current": "4096\n", "memory.events": "max 0\n"},
			limits: map[string]string{"memory.max": "max"},
			memory: map[string]string{"current": "4096", "events.max": "0"},
		},
		{name: "no memory controller", version: "v2", self: "0::/x\n", files: map[string]string{"x/cgroup.procs": "1\n"}, limits: map[string]string{}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			root := t.TempDir()
			writeTree(t, root, tt.files)
			cg := readCgroupAt(root, tt.version, tt.self)
			if cg.Version != tt.version {
				t.Errorf("version %q", cg.Version)
			}
			if !maps.Equal(cg.Limits, tt.limits) {
				t.Errorf("limits = %v\nwant %v", cg.Limits, tt.limits)
			}
			if !maps.Equal(cg.Memory, tt.memory) {
				t.Errorf("memory = %v\nwant %v", cg.Memory, tt.memory)
			}
		})
	}
}

// TestCollectEnvReadsMemoryCgroup: on this host (v1, hybrid or v2) the
// memory cgroup's usage is read next to its limits.
func TestCollectEnvReadsMemoryCgroup(t *testing.T) {
	t.Parallel()
	env, err := CollectEnv(t.TempDir())
	must(t, err)
	cg := env.Cgroup
	if _, err := os.Stat(CgroupRoot); err != nil {
		t.Skipf("no cgroup mount: %v", err)
	}
	usage := map[string]string{"v1": "usage_in_bytes", "hybrid": "usage_in_bytes", "v2": "current"}[cg.Version]
	if _, ok := cg.Memory[usage]; !ok && (cg.Limits["memory.limit_in_bytes"] != "" || cg.Limits["memory.max"] != "") {
		t.Errorf("cgroup %s has a memory limit but no %s: memory %v", cg.Version, usage, cg.Memory)
	}
}
