package hostcheck

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/pvreboot/pvreboot/framework/capfix"
)

// Status is the outcome of one check.
type Status string

const (
	OK     Status = "ok"
	Warn   Status = "warn"
	Blocks Status = "BLOCKS"
)

// Check is one fact about the host.
type Check struct {
	Name   string `json:"name"`
	Status Status `json:"status"`
	Found  string `json:"found"`
	Fix    string `json:"fix,omitempty"`
}

// Report is every check and what a run on this host will do.
type Report struct {
	Checks []Check  `json:"checks"`
	Plan   []string `json:"plan"`
}

// Blocked reports whether a check blocks a run.
func (r Report) Blocked() bool {
	return slices.ContainsFunc(r.Checks, func(c Check) bool { return c.Status == Blocks })
}

// DockerInfo is what doctor needs from `docker info`.
type DockerInfo struct {
	ServerVersion  string
	DefaultRuntime string
	Runtimes       []string
	CgroupVersion  string
	RootDir        string // the engine's data root: where images and node containers go
	Mirrors        []string
}

// Docker is the engine, reached at a DOCKER_HOST ("" for the default socket).
type Docker interface {
	Info(ctx context.Context, host string) (DockerInfo, error)
	ImagePresent(ctx context.Context, host, ref string) (bool, error)
}

// Registry says whether a registry answers (any HTTP answer counts).
type Registry interface {
	Reachable(ctx context.Context, host string) error
}

// Dir is a directory whose file system must have room.
type Dir struct {
	Path string
	What string // "build cache", "Local PV volumes"
	Need uint64 // bytes below which the check blocks (warns below twice that)
	// ForBuild: only a node image build needs it; not checked when the
	// node image is there.
	ForBuild bool
}

// Host is how the checks read the machine; tests give a fake one.
type Host struct {
	// Root is the host's file system at "/" (os.DirFS("/")): /proc, /sys, /dev.
	Root fs.StatFS
	// Free returns the bytes available to an unprivileged user on the file
	// system holding path (statfs f_bavail x f_bsize).
	Free     func(path string) (uint64, error)
	Docker   Docker
	Registry Registry
}

// Config says what a run on this host would use.
type Config struct {
	// DockerHost is $DOCKER_HOST as the run will see it ("": the default socket).
	DockerHost string
	// OwnDockerHost is pvreboot's own engine (ci/docker-up.sh), and
	// OwnDockerEnv the file that selects it.
	OwnDockerHost, OwnDockerEnv string
	// CapfixRuntime is the OCI runtime name of runc-capfix in the engine.
	CapfixRuntime string
	// NodeImage is the node image a run asks for (built by `pvreboot image
	// build`), PullImage the standard kind node image and PullRegistry the
	// registry host it comes from.
	NodeImage, PullImage, PullRegistry string
	// RegistryTimeout bounds the registry check.
	RegistryTimeout time.Duration
	// Dirs are checked for free space; the engine's data root is added
	// with DockerNeed.
	Dirs       []Dir
	DockerNeed uint64
}

// Run performs every check. It never fails: what cannot be read is a
// finding.
func Run(ctx context.Context, h Host, cfg Config) Report {
	var r Report
	eng := checkDocker(ctx, h, cfg, &r)
	checkCaps(h, cfg, eng, &r)
	checkCgroup(h, eng, &r)
	checkLoop(h, &r)
	present := checkNodeImage(ctx, h, cfg, eng, &r)
	checkDisk(h, cfg, eng, present, &r)
	reachable := checkRegistry(ctx, h, cfg, eng, &r)
	plan(cfg, eng, present, reachable, &r)
	return r
}

// engine is the Docker engine a run will use, when one answers.
type engine struct {
	up   bool // an engine answers
	host string
	own  bool
	info DockerInfo
	// ownInfo is pvreboot's own engine when it answers but is not selected.
	ownInfo *DockerInfo
}

func displayHost(h string) string {
	if h == "" {
		return "the default socket (unix:///var/run/docker.sock)"
	}
	return h
}

func checkDocker(ctx context.Context, h Host, cfg Config, r *Report) engine {
	c := Check{Name: "docker"}
	info, err := h.Docker.Info(ctx, cfg.DockerHost)
	own := cfg.DockerHost != "" && cfg.DockerHost == cfg.OwnDockerHost
	if err == nil {
		who := "the system engine"
		if own {
			who = "pvreboot's own engine (" + cfg.OwnDockerEnv + ")"
		}
		c.Status, c.Found = OK, fmt.Sprintf("Docker %s at %s: %s, default runtime %s", info.ServerVersion, displayHost(cfg.DockerHost), who, info.DefaultRuntime)
		r.Checks = append(r.Checks, c)
		return engine{up: true, host: cfg.DockerHost, own: own, info: info}
	}
	c.Status = Blocks
	c.Found = fmt.Sprintf("no Docker engine answers at %s: %v", displayHost(cfg.DockerHost), firstLine(err))
	if !own && cfg.OwnDockerHost != "" {
		if oi, oerr := h.Docker.Info(ctx, cfg.OwnDockerHost); oerr == nil {
			c.Found += "; pvreboot's own engine answers at " + cfg.OwnDockerHost
			c.Fix = "source " + cfg.OwnDockerEnv + " (sets DOCKER_HOST=" + cfg.OwnDockerHost + ")"
			r.Checks = append(r.Checks, c)
			return engine{ownInfo: &oi}
		}
	}
	c.Fix = "start a Docker engine, or from a clone run ci/docker-up.sh (starts pvreboot's own dockerd; installs Debian's docker.io when missing) and source " + cfg.OwnDockerEnv
	r.Checks = append(r.Checks, c)
	return engine{}
}

// bounding reads the capability bounding set and the last capability.
func bounding(root fs.FS) (uint64, int, error) {
	status, err := fs.ReadFile(root, "proc/self/status")
	if err != nil {
		return 0, 0, err
	}
	var bnd uint64
	found := false
	for _, l := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(l, "CapBnd:"); ok {
			bnd, err = strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			if err != nil {
				return 0, 0, fmt.Errorf("/proc/self/status CapBnd %q: %w", strings.TrimSpace(v), err)
			}
			found = true
		}
	}
	if !found {
		return 0, 0, errors.New("/proc/self/status has no CapBnd line")
	}
	b, err := fs.ReadFile(root, "proc/sys/kernel/cap_last_cap")
	if err != nil {
		return 0, 0, err
	}
	last, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return 0, 0, fmt.Errorf("/proc/sys/kernel/cap_last_cap %q: %w", strings.TrimSpace(string(b)), err)
	}
	return bnd, last, nil
}

func checkCaps(h Host, cfg Config, eng engine, r *Report) {
	c := Check{Name: "capabilities"}
	bnd, last, err := bounding(h.Root)
	if err != nil {
		c.Status, c.Found = Warn, "cannot read the capability bounding set: "+firstLine(err)
		r.Checks = append(r.Checks, c)
		return
	}
	missing := capfix.Missing(bnd, last)
	switch {
	case len(missing) == 0:
		c.Status, c.Found = OK, fmt.Sprintf("bounding set %016x is complete: docker run --privileged works", bnd)
	case eng.up && eng.info.DefaultRuntime == cfg.CapfixRuntime:
		c.Status = OK
		c.Found = fmt.Sprintf("bounding set %016x lacks %s; the engine's default runtime %s drops them (node images built on this host set restrict_oom_score_adj)",
			bnd, strings.Join(missing, ", "), cfg.CapfixRuntime)
	default:
		c.Status = Blocks
		c.Found = fmt.Sprintf("bounding set %016x lacks %s: docker run --privileged (every kind node) fails with \"unable to apply caps: operation not permitted\"",
			bnd, strings.Join(missing, ", "))
		c.Fix = "use pvreboot's own engine, whose default runtime " + cfg.CapfixRuntime + " drops those capabilities: from a clone, ci/docker-up.sh, then source " + cfg.OwnDockerEnv
		if eng.ownInfo != nil && eng.ownInfo.DefaultRuntime == cfg.CapfixRuntime {
			c.Fix = "source " + cfg.OwnDockerEnv + ": pvreboot's own engine at " + cfg.OwnDockerHost + " answers and its default runtime is " + cfg.CapfixRuntime
		}
	}
	r.Checks = append(r.Checks, c)
}

func checkCgroup(h Host, eng engine, r *Report) {
	c := Check{Name: "cgroup"}
	_, err := h.Root.Stat("sys/fs/cgroup/cgroup.controllers")
	switch {
	case err == nil:
		c.Status, c.Found = OK, "cgroup v2 (unified)"
	case errors.Is(err, fs.ErrNotExist):
		c.Status = OK
		c.Found = "cgroup v1: kubelet v1.37 refuses it unless failCgroupV1: false, which pvreboot's kind configs set (the kubelet logs a CgroupV1 warning at each start)"
		c.Fix = "a kind config of your own needs the same KubeletConfiguration patch (see kind-config/two-workers.yaml)"
	default:
		c.Status, c.Found = Warn, "cannot tell the cgroup version: "+firstLine(err)
	}
	if eng.up && eng.info.CgroupVersion != "" {
		c.Found += "; the engine reports cgroup v" + eng.info.CgroupVersion
	}
	r.Checks = append(r.Checks, c)
}

func checkLoop(h Host, r *Report) {
	c := Check{Name: "loop devices"}
	fi, err := h.Root.Stat("dev/loop-control")
	switch {
	case err == nil && fi.Mode()&fs.ModeCharDevice != 0:
		c.Status, c.Found = OK, "/dev/loop-control is there: filesystem and block volumes can attach loop devices"
	case err == nil:
		c.Status, c.Found = Blocks, "/dev/loop-control is not a character device ("+fi.Mode().String()+")"
		c.Fix = "remove it and load the loop module: modprobe loop"
	default:
		c.Status = Blocks
		c.Found = "no /dev/loop-control (" + firstLine(err) + "): filesystem and block volumes (the default scenario's) cannot be made; directory volumes can"
		c.Fix = "modprobe loop (on a VM or container host: give it the loop module and /dev/loop-control)"
	}
	r.Checks = append(r.Checks, c)
}

// existingParent returns p or its nearest existing ancestor.
func existingParent(root fs.StatFS, p string) string {
	for p != "/" && p != "." && p != "" {
		if _, err := root.Stat(strings.TrimPrefix(p, "/")); err == nil {
			return p
		}
		p = path.Dir(p)
	}
	return "/"
}

func checkDisk(h Host, cfg Config, eng engine, imagePresent bool, r *Report) {
	dirs := slices.Clone(cfg.Dirs)
	if eng.up && eng.info.RootDir != "" {
		dirs = append(dirs, Dir{Path: eng.info.RootDir, What: "Docker images and node containers", Need: cfg.DockerNeed})
	}
	for _, d := range dirs {
		c := Check{Name: "disk " + d.What}
		if d.ForBuild && imagePresent {
			c.Status, c.Found = OK, d.Path+": not needed, the node image is there"
			r.Checks = append(r.Checks, c)
			continue
		}
		at := existingParent(h.Root, d.Path)
		free, err := h.Free(at)
		switch {
		case err != nil:
			c.Status, c.Found = Warn, fmt.Sprintf("%s: cannot read free space: %v", d.Path, firstLine(err))
		case free < d.Need:
			c.Status, c.Found = Blocks, fmt.Sprintf("%s: %s free, needs %s", d.Path, bytes(free), bytes(d.Need))
			c.Fix = "free space on the file system of " + at
		case free < 2*d.Need:
			c.Status, c.Found = Warn, fmt.Sprintf("%s: %s free, tight (needs %s)", d.Path, bytes(free), bytes(d.Need))
		default:
			c.Status, c.Found = OK, fmt.Sprintf("%s: %s free (needs %s)", d.Path, bytes(free), bytes(d.Need))
		}
		r.Checks = append(r.Checks, c)
	}
}

func checkNodeImage(ctx context.Context, h Host, cfg Config, eng engine, r *Report) bool {
	c := Check{Name: "node image"}
	if !eng.up {
		c.Status, c.Found = Warn, cfg.NodeImage+": not checked (no Docker engine)"
		r.Checks = append(r.Checks, c)
		return false
	}
	ok, err := h.Docker.ImagePresent(ctx, eng.host, cfg.NodeImage)
	switch {
	case err != nil:
		c.Status, c.Found = Warn, fmt.Sprintf("%s: cannot tell: %v", cfg.NodeImage, firstLine(err))
	case ok:
		c.Status, c.Found = OK, cfg.NodeImage+" is in the engine"
	default:
		c.Status, c.Found = OK, cfg.NodeImage+" is not in the engine yet"
	}
	r.Checks = append(r.Checks, c)
	return ok
}

func checkRegistry(ctx context.Context, h Host, cfg Config, eng engine, r *Report) bool {
	c := Check{Name: "registry"}
	tctx, cancel := context.WithTimeout(ctx, cfg.RegistryTimeout)
	defer cancel()
	err := h.Registry.Reachable(tctx, cfg.PullRegistry)
	if err == nil {
		c.Status, c.Found = OK, fmt.Sprintf("%s answers: node images such as %s can be pulled", cfg.PullRegistry, cfg.PullImage)
		r.Checks = append(r.Checks, c)
		return true
	}
	c.Status = Warn
	why := firstLine(err)
	if errors.Is(err, context.DeadlineExceeded) {
		why = "no answer within " + cfg.RegistryTimeout.String()
	}
	c.Found = fmt.Sprintf("%s cannot be reached (%s): node images cannot be pulled from it", cfg.PullRegistry, why)
	if len(eng.info.Mirrors) > 0 {
		c.Found += "; the engine has registry mirrors " + strings.Join(eng.info.Mirrors, ", ") + ", which this check does not try"
	}
	c.Fix = "nothing needed: the node image is built from Debian packages and the Go module proxy instead"
	r.Checks = append(r.Checks, c)
	return false
}

func plan(cfg Config, eng engine, present, reachable bool, r *Report) {
	switch {
	case !eng.up:
		r.Plan = append(r.Plan, "no run can start: no Docker engine answers (see the fix above)")
	case eng.own:
		r.Plan = append(r.Plan, "kind nodes run on pvreboot's own Docker engine at "+eng.host)
	default:
		r.Plan = append(r.Plan, "kind nodes run on the Docker engine at "+displayHost(eng.host))
	}
	switch {
	case present:
		r.Plan = append(r.Plan, "a run that creates its kind cluster uses the node image "+cfg.NodeImage+": no build, no pull")
	case reachable:
		r.Plan = append(r.Plan, "the node image "+cfg.NodeImage+" is not there: build it with `pvreboot image build` (`make images` in a clone; "+
			"about 30 minutes on 2 cores the first time), or give --image "+cfg.PullImage+", which kind can pull from "+cfg.PullRegistry)
	default:
		r.Plan = append(r.Plan, "the node image "+cfg.NodeImage+" is not there and no registry answers, so it must be built: `pvreboot image build` "+
			"(`make images` in a clone) from Debian packages and the Go module proxy, about 30 minutes on 2 cores the first time, reused after")
	}
	r.Plan = append(r.Plan, "the probe image is assembled without a Docker build and loaded into the kind nodes")
	if r.Blocked() {
		r.Plan = append(r.Plan, "a run would fail now: fix what BLOCKS first")
	}
}

// firstLine keeps error text to one line for the table.
func firstLine(err error) string {
	s, _, _ := strings.Cut(strings.TrimSpace(err.Error()), "\n")
	return s
}

// bytes renders a size in GiB (or MiB under 1 GiB).
func bytes(n uint64) string {
	const gib, mib = 1 << 30, 1 << 20
	if n >= gib {
		return fmt.Sprintf("%.1f GiB", float64(n)/gib)
	}
	return fmt.Sprintf("%d MiB", n/mib)
}
