package kind

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	yaml "go.yaml.in/yaml/v3"
	"sigs.k8s.io/kind/pkg/apis/config/v1alpha4"
	sigsyaml "sigs.k8s.io/yaml"
)

func readShippedConfig(t *testing.T, file string) *v1alpha4.Cluster {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "..", "..", "kind-config", file))
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := ParseConfig(raw)
	if err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	return cfg
}

func TestPerClusterConfigShippedConfigs(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		file, cluster string
		want          []string
	}{
		{"two-workers.yaml", "pvreboot", []string{"/var/lib/pvreboot/localpv/pvreboot/worker", "/var/lib/pvreboot/localpv/pvreboot/worker2"}},
		{"two-workers.yaml", "pvreboot-e2e", []string{"/var/lib/pvreboot/localpv/pvreboot-e2e/worker", "/var/lib/pvreboot/localpv/pvreboot-e2e/worker2"}},
		{"one-worker.yaml", "pvreboot", []string{"/var/lib/pvreboot/localpv/pvreboot/worker"}},
		{"one-worker.yaml", "x", []string{"/var/lib/pvreboot/localpv/x/worker"}},
	} {
		t.Run(tc.file+"/"+tc.cluster, func(t *testing.T) {
			t.Parallel()
			in := readShippedConfig(t, tc.file)
			before := in.DeepCopy()
			out, err := PerClusterConfig(in, tc.cluster)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(in, before) {
				t.Errorf("the input config was modified")
			}
			if got := LocalPVHostDirs(out); !slices.Equal(got, tc.want) {
				t.Errorf("host directories: got %q, want %q", got, tc.want)
			}
			// Every other field as it was: put the configured hostPaths back.
			orig := LocalPVHostDirs(in)
			back := out.DeepCopy()
			k := 0
			for i := range back.Nodes {
				for j := range back.Nodes[i].ExtraMounts {
					if back.Nodes[i].ExtraMounts[j].ContainerPath == LocalPVRoot {
						back.Nodes[i].ExtraMounts[j].HostPath = orig[k]
						k++
					}
				}
			}
			if !reflect.DeepEqual(back, in) {
				t.Errorf("fields other than the Local PV hostPaths changed:\n got %+v\nwant %+v", back, in)
			}
			// The rewritten config is still a strict-valid kind config.
			raw, err := yaml.Marshal(out)
			if err != nil {
				t.Fatal(err)
			}
			again, err := ParseConfig(raw)
			if err != nil {
				t.Fatalf("rewritten config does not strict-decode: %v\n%s", err, raw)
			}
			if !reflect.DeepEqual(again, out) {
				t.Errorf("rewritten config does not round-trip:\n got %+v\nwant %+v", again, out)
			}
			var viaJSON v1alpha4.Cluster
			if err := sigsyaml.UnmarshalStrict(raw, &viaJSON); err != nil {
				t.Errorf("rewritten config does not strict-decode with sigs.k8s.io/yaml: %v", err)
			}
		})
	}
}

func TestPerClusterConfigSeparatesClusters(t *testing.T) {
	t.Parallel()
	in := readShippedConfig(t, "two-workers.yaml")
	a, err := PerClusterConfig(in, "pvreboot")
	if err != nil {
		t.Fatal(err)
	}
	b, err := PerClusterConfig(in, "pvreboot-e2e")
	if err != nil {
		t.Fatal(err)
	}
	for _, da := range LocalPVHostDirs(a) {
		for _, db := range LocalPVHostDirs(b) {
			if da == db || strings.HasPrefix(db, da+"/") || strings.HasPrefix(da, db+"/") {
				t.Errorf("clusters share host directory: %s and %s", da, db)
			}
		}
	}
}

func TestPerClusterConfigWithoutLocalPVMountUnchanged(t *testing.T) {
	t.Parallel()
	for name, raw := range map[string]string{
		"no extraMounts": `kind: Cluster
apiVersion: kind.x-k8s.io/v1alpha4
nodes:
- role: control-plane
- role: worker
`,
		"another containerPath": `kind: Cluster
apiVersion: kind.x-k8s.io/v1alpha4
name: ignored
networking:
  ipFamily: ipv4
nodes:
- role: control-plane
  extraPortMappings:
  - containerPort: 80
    hostPort: 8080
    protocol: tcp
- role: worker
  labels:
    a: b
  extraMounts:
  - hostPath: /var/lib/other
    containerPath: /mnt/pvreboot-other
    readOnly: true
    propagation: HostToContainer
  - hostPath: /srv/data
    containerPath: /mnt
kubeadmConfigPatches:
- |
  kind: KubeletConfiguration
  failCgroupV1: false
`,
		"no nodes": `kind: Cluster
apiVersion: kind.x-k8s.io/v1alpha4
`,
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			in, err := ParseConfig([]byte(raw))
			if err != nil {
				t.Fatal(err)
			}
			out, err := PerClusterConfig(in, "pvreboot")
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(out, in) {
				t.Errorf("changed:\n got %+v\nwant %+v", out, in)
			}
			if out == in {
				t.Errorf("returned the input, not a copy")
			}
			if dirs := LocalPVHostDirs(out); len(dirs) != 0 {
				t.Errorf("host directories %q, want none", dirs)
			}
		})
	}
}

func TestPerClusterConfigMountForms(t *testing.T) {
	t.Parallel()
	cwd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, containerPath, hostPath, want string
	}{
		{"trailing slashes", "/mnt/pvreboot/", "/var/lib/pvreboot/localpv/worker/", "/var/lib/pvreboot/localpv/c/worker"},
		{"dot segments", "/mnt/./pvreboot", "/var/lib/pvreboot/../pvreboot/localpv/worker", "/var/lib/pvreboot/localpv/c/worker"},
		{"relative hostPath, resolved as kind does", "/mnt/pvreboot", "localpv/worker", filepath.Join(cwd, "localpv", "c", "worker")},
		{"directly below the root", "/mnt/pvreboot", "/worker", "/c/worker"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			in := &v1alpha4.Cluster{Nodes: []v1alpha4.Node{{Role: v1alpha4.WorkerRole, ExtraMounts: []v1alpha4.Mount{{ContainerPath: tc.containerPath, HostPath: tc.hostPath}}}}}
			out, err := PerClusterConfig(in, "c")
			if err != nil {
				t.Fatal(err)
			}
			if got := out.Nodes[0].ExtraMounts[0].HostPath; got != tc.want {
				t.Errorf("hostPath: got %q, want %q", got, tc.want)
			}
			if got := out.Nodes[0].ExtraMounts[0].ContainerPath; got != tc.containerPath {
				t.Errorf("containerPath changed to %q", got)
			}
		})
	}
	for _, hostPath := range []string{"", "/", "//"} {
		in := &v1alpha4.Cluster{Nodes: []v1alpha4.Node{{Role: v1alpha4.WorkerRole, ExtraMounts: []v1alpha4.Mount{{ContainerPath: LocalPVRoot, HostPath: hostPath}}}}}
		if _, err := PerClusterConfig(in, "c"); err == nil {
			t.Errorf("hostPath %q: accepted", hostPath)
		}
	}
}

func hostileNames() []string {
	return []string{"", "../x", "a/b", "..", ".", "/", "x/../../etc", "A", "a_b", "a.b", "-a", "a-", "a b", "a\nb",
		strings.Repeat("a", maxNameLen+1)}
}

func TestNamesRefused(t *testing.T) {
	t.Parallel()
	cfg := &v1alpha4.Cluster{Nodes: []v1alpha4.Node{{Role: v1alpha4.WorkerRole, ExtraMounts: []v1alpha4.Mount{{ContainerPath: LocalPVRoot, HostPath: "/var/lib/pvreboot/localpv/worker"}}}}}
	for _, name := range hostileNames() {
		if err := validateName(name); err == nil {
			t.Errorf("validateName(%q): accepted", name)
		}
		if out, err := PerClusterConfig(cfg, name); err == nil {
			t.Errorf("PerClusterConfig(%q): accepted, hostPaths %q", name, LocalPVHostDirs(out))
		}
		if err := removableHostDir(name, "/var/lib/pvreboot/localpv/"+name+"/worker"); err == nil {
			t.Errorf("removableHostDir(%q): accepted", name)
		}
	}
	for _, name := range []string{"pvreboot", "pvreboot-e2e", "a", "0", strings.Repeat("a", maxNameLen)} {
		if err := validateName(name); err != nil {
			t.Errorf("validateName(%q): %v", name, err)
		}
	}
	if maxNameLen != 49 {
		t.Errorf("maxNameLen = %d, want 49", maxNameLen)
	}
}

// Create checks the name before it reads the config, builds a path or runs
// Docker: nothing is made on the host for a hostile name.
func TestCreateRefusesNameBeforeAnyPath(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	cfgFile := filepath.Join(root, "config.yaml")
	cfg := "kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha4\nnodes:\n- role: worker\n  extraMounts:\n  - hostPath: " +
		filepath.Join(root, "localpv", "worker") + "\n    containerPath: /mnt/pvreboot\n"
	if err := os.WriteFile(cfgFile, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	p := New(nil, nil)
	p.docker = []string{filepath.Join(root, "no-such-docker")}
	for _, name := range hostileNames() {
		if _, err := p.Create(t.Context(), CreateOptions{Name: name, ConfigFile: cfgFile}); err == nil || !strings.Contains(err.Error(), "name") {
			t.Errorf("Create(%q): err %v, want a name error", name, err)
		}
	}
	entries, err := os.ReadDir(root)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		t.Errorf("Create made something on the host: %v", entries)
	}
}

func TestParseConfigIsStrict(t *testing.T) {
	t.Parallel()
	const head = "kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha4\n"
	for name, raw := range map[string]string{
		"unknown field":          head + "nodes:\n- role: worker\n  extraMount: []\n",
		"unknown top field":      head + "workers: 2\n",
		"unknown propagation":    head + "nodes:\n- role: worker\n  extraMounts:\n  - hostPath: /a\n    containerPath: /mnt/pvreboot\n    propagation: Sideways\n",
		"other apiVersion":       "kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha3\n",
		"other kind":             "kind: Config\napiVersion: kind.x-k8s.io/v1alpha4\n",
		"no kind and apiVersion": "nodes: []\n",
		"empty":                  "",
		"not YAML":               "\t{",
	} {
		if _, err := ParseConfig([]byte(raw)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	// kind's own decoding hooks run: a lower-case protocol is normalised.
	cfg, err := ParseConfig([]byte(head + "nodes:\n- role: control-plane\n  extraPortMappings:\n  - containerPort: 80\n    hostPort: 8080\n    protocol: udp\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.Nodes[0].ExtraPortMappings[0].Protocol; got != v1alpha4.PortMappingProtocolUDP {
		t.Errorf("protocol %q, want UDP", got)
	}
}

func TestRemovableHostDir(t *testing.T) {
	t.Parallel()
	const parent = "/var/lib/pvreboot/localpv"
	for _, tc := range []struct {
		name, cluster, dir string
		ok                 bool
	}{
		{"a node directory of the cluster", "pvreboot", parent + "/pvreboot/worker", true},
		{"a second node directory", "pvreboot", parent + "/pvreboot/worker2", true},
		{"directly below a root-level cluster directory", "pvreboot", "/pvreboot/worker", true},
		{"the cluster directory itself", "pvreboot", parent + "/pvreboot", false},
		{"the shared parent", "pvreboot-e2e", parent, false},
		// By its path alone the shared parent of a cluster named after its
		// grandparent passes; the marker decides (TestHostDirsNamedLikeTheSharedParent).
		{"the shared parent, cluster named after its grandparent", "pvreboot", parent, true},
		{"the filesystem root", "pvreboot", "/", false},
		{"a shared directory of the old layout", "pvreboot", parent + "/worker", false},
		{"another cluster's", "pvreboot", parent + "/pvreboot-e2e/worker", false},
		{"a cluster named as a prefix", "pvreboot", parent + "/xpvreboot/worker", false},
		{"a cluster named as a suffix", "pvreboot-e2e", parent + "/pvreboot/worker", false},
		{"deeper than a node directory", "pvreboot", parent + "/pvreboot/worker/sub", false},
		{"the cluster name as the node directory", "pvreboot", parent + "/pvreboot", false},
		{"climbing out with ..", "pvreboot", parent + "/pvreboot/../worker", false},
		{"the cluster directory through ..", "pvreboot", parent + "/pvreboot/worker/..", false},
		{"a node directory named ..", "pvreboot", parent + "/pvreboot/..", false},
		{"a trailing slash", "pvreboot", parent + "/pvreboot/worker/", false},
		{"a doubled slash", "pvreboot", parent + "/pvreboot//worker", false},
		{"relative", "pvreboot", "pvreboot/worker", false},
		{"relative with a dot", "pvreboot", "./pvreboot/worker", false},
		{"empty", "pvreboot", "", false},
		{"hostile cluster name ../x", "../x", parent + "/../x/worker", false},
		{"hostile cluster name a/b", "a/b", parent + "/a/b/worker", false},
		{"empty cluster name", "", parent + "//worker", false},
		{"empty cluster name, clean path", "", parent + "/worker", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := removableHostDir(tc.cluster, tc.dir)
			if (err == nil) != tc.ok {
				t.Errorf("removableHostDir(%q, %q) = %v, want ok %v", tc.cluster, tc.dir, err, tc.ok)
			}
		})
	}
}

func TestMakeAndRemoveHostDirs(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	root := t.TempDir()
	shared := filepath.Join(root, "localpv")
	cfg := &v1alpha4.Cluster{Nodes: []v1alpha4.Node{
		{Role: v1alpha4.ControlPlaneRole},
		{Role: v1alpha4.WorkerRole, ExtraMounts: []v1alpha4.Mount{{ContainerPath: LocalPVRoot, HostPath: filepath.Join(shared, "worker")}}},
		{Role: v1alpha4.WorkerRole, ExtraMounts: []v1alpha4.Mount{{ContainerPath: LocalPVRoot, HostPath: filepath.Join(shared, "worker2")}}},
	}}
	dirsOf := func(name string) []string {
		t.Helper()
		c, err := PerClusterConfig(cfg, name)
		if err != nil {
			t.Fatal(err)
		}
		dirs := LocalPVHostDirs(c)
		if err := makeHostDirs(ctx, name, dirs); err != nil {
			t.Fatal(err)
		}
		for _, d := range dirs {
			fi, err := os.Stat(d)
			if err != nil || !fi.IsDir() {
				t.Fatalf("%s: %v", d, err)
			}
			if err := os.WriteFile(filepath.Join(d, "pvreboot-1a-data.img"), []byte("x"), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		return dirs
	}
	mine, theirs := dirsOf("pvreboot"), dirsOf("pvreboot-e2e")

	// Directories of the old, shared layout and ones pvreboot did not make
	// for this cluster stay, even when passed in.
	legacy := filepath.Join(shared, "worker")
	unmarked := filepath.Join(root, "elsewhere", "pvreboot", "worker")
	for _, d := range []string{legacy, unmarked} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	var kept bytes.Buffer
	if err := removeHostDirs(ctx, "pvreboot", append(slices.Clone(mine), legacy, unmarked, theirs[0]), &kept); err != nil {
		t.Fatal(err)
	}
	for _, d := range append(mine, filepath.Join(shared, "pvreboot")) {
		if _, err := os.Lstat(d); !os.IsNotExist(err) {
			t.Errorf("%s: still there (%v)", d, err)
		}
	}
	for _, d := range append(slices.Clone(theirs), legacy, unmarked, shared, filepath.Join(theirs[0], "pvreboot-1a-data.img")) {
		if _, err := os.Lstat(d); err != nil {
			t.Errorf("%s: removed (%v)", d, err)
		}
	}
	for _, d := range []string{legacy, unmarked, theirs[0]} {
		if !strings.Contains(kept.String(), d) {
			t.Errorf("keeping %s not reported:\n%s", d, kept.String())
		}
	}

	// A cluster directory holding something besides the node directories
	// keeps that, and its marker.
	others := dirsOf("other")
	extra := filepath.Join(filepath.Dir(others[0]), "notes")
	if err := os.WriteFile(extra, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := removeHostDirs(ctx, "other", others, io.Discard); err != nil {
		t.Fatal(err)
	}
	for _, d := range others {
		if _, err := os.Lstat(d); !os.IsNotExist(err) {
			t.Errorf("%s: still there (%v)", d, err)
		}
	}
	if _, err := os.Lstat(extra); err != nil {
		t.Errorf("%s: removed (%v)", extra, err)
	}
}

func TestRemoveHostDirsRefusesSymlinkedClusterDir(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	root := t.TempDir()
	target := filepath.Join(root, "target")
	if err := makeHostDirs(ctx, "pvreboot", []string{filepath.Join(target, "pvreboot", "worker")}); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(root, "localpv", "pvreboot")
	if err := os.MkdirAll(filepath.Dir(link), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(target, "pvreboot"), link); err != nil {
		t.Fatal(err)
	}
	var kept bytes.Buffer
	if err := removeHostDirs(ctx, "pvreboot", []string{filepath.Join(link, "worker")}, &kept); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(filepath.Join(target, "pvreboot", "worker")); err != nil {
		t.Errorf("removed through a symbolic link: %v", err)
	}
	if !strings.Contains(kept.String(), "not a directory") {
		t.Errorf("keeping not reported: %q", kept.String())
	}
}

func TestMakeHostDirsRefusesOtherLayouts(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	for _, d := range []string{filepath.Join(root, "worker"), filepath.Join(root, "other", "worker"), "pvreboot/worker"} {
		if err := makeHostDirs(t.Context(), "pvreboot", []string{d}); err == nil {
			t.Errorf("%s: accepted", d)
		}
	}
	if entries, _ := os.ReadDir(root); len(entries) != 0 {
		t.Errorf("made %v", entries)
	}
}

// A cluster named after a directory above the shared parent: the shared
// parent looks like one of its node directories, but pvreboot neither adopts
// it on create nor removes it on delete.
func TestHostDirsNamedLikeTheSharedParent(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	root := t.TempDir()
	shared := filepath.Join(root, "pvreboot", "localpv") // holds other clusters' directories
	other := filepath.Join(shared, "pvreboot-e2e", "worker")
	if err := makeHostDirs(ctx, "pvreboot-e2e", []string{other}); err != nil {
		t.Fatal(err)
	}
	cfg := &v1alpha4.Cluster{Nodes: []v1alpha4.Node{{Role: v1alpha4.WorkerRole, ExtraMounts: []v1alpha4.Mount{{ContainerPath: LocalPVRoot, HostPath: filepath.Join(root, "localpv")}}}}}
	c, err := PerClusterConfig(cfg, "pvreboot")
	if err != nil {
		t.Fatal(err)
	}
	if got := LocalPVHostDirs(c); !slices.Equal(got, []string{shared}) {
		t.Fatalf("host directories %q, want %q", got, shared)
	}
	if err := makeHostDirs(ctx, "pvreboot", []string{shared}); err == nil {
		t.Errorf("adopted %s, which pvreboot did not make for cluster pvreboot", filepath.Dir(shared))
	}
	var kept bytes.Buffer
	if err := removeHostDirs(ctx, "pvreboot", []string{shared}, &kept); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(other); err != nil {
		t.Errorf("%s: removed (%v)", other, err)
	}
	if !strings.Contains(kept.String(), shared) {
		t.Errorf("keeping %s not reported: %q", shared, kept.String())
	}
}

// One cluster's host directories inside another's: not made, and the outer
// one's removal keeps them.
func TestHostDirsNested(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	root := t.TempDir()
	outer := filepath.Join(root, "outer", "data")
	if err := makeHostDirs(ctx, "outer", []string{outer}); err != nil {
		t.Fatal(err)
	}
	inner := filepath.Join(outer, "x", "inner", "worker")
	if err := makeHostDirs(ctx, "inner", []string{inner}); err == nil {
		t.Errorf("made %s inside cluster outer's host directory", inner)
	}
	if _, err := os.Lstat(filepath.Join(outer, "x")); !os.IsNotExist(err) {
		t.Errorf("made something inside cluster outer's host directory (%v)", err)
	}
	// Made some other way (an older pvreboot, by hand): still kept.
	if err := os.MkdirAll(inner, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(filepath.Dir(inner), hostDirMarker), hostDirMarkerContent("inner"), 0o644); err != nil {
		t.Fatal(err)
	}
	var kept bytes.Buffer
	if err := removeHostDirs(ctx, "outer", []string{outer}, &kept); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(inner); err != nil {
		t.Errorf("%s: removed (%v)", inner, err)
	}
	if !strings.Contains(kept.String(), "another cluster") {
		t.Errorf("keeping not reported: %q", kept.String())
	}
	// The inner cluster's own removal takes only its own directory.
	if err := removeHostDirs(ctx, "inner", []string{inner}, io.Discard); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(filepath.Dir(inner)); !os.IsNotExist(err) {
		t.Errorf("%s: still there (%v)", filepath.Dir(inner), err)
	}
	if _, err := os.Lstat(outer); err != nil {
		t.Errorf("%s: removed (%v)", outer, err)
	}
}

// Delete after the node directories went some other way still removes the
// cluster's now empty directory; a second Delete finds nothing to do.
func TestRemoveHostDirsAlreadyGone(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	root := t.TempDir()
	d := filepath.Join(root, "localpv", "c", "worker")
	if err := makeHostDirs(ctx, "c", []string{d}); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(d); err != nil {
		t.Fatal(err)
	}
	var kept bytes.Buffer
	if err := removeHostDirs(ctx, "c", []string{d}, &kept); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(filepath.Dir(d)); !os.IsNotExist(err) {
		t.Errorf("%s: still there (%v)", filepath.Dir(d), err)
	}
	if err := removeHostDirs(ctx, "c", []string{d}, &kept); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(filepath.Join(root, "localpv")); err != nil {
		t.Errorf("shared parent removed: %v", err)
	}
}
