package nodeimage

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"
)

// Result says what a build produced.
type Result struct {
	Image    string        `json:"image"`    // the requested reference
	KeyImage string        `json:"keyImage"` // the content-addressed reference
	Key      string        `json:"key"`
	Reused   bool          `json:"reused"`
	Elapsed  time.Duration `json:"elapsed"`
}

// Label keys on images pvreboot builds.
const (
	LabelImage    = "dev.pvreboot.image" // base, node or probe
	LabelKey      = "dev.pvreboot.key"
	LabelVersions = "dev.pvreboot.versions"
	LabelBuild    = "dev.pvreboot.build"
)

// Build builds (or reuses) the node image described by cfg.
func Build(ctx context.Context, cfg Config) (Result, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return Result{}, err
	}
	start := time.Now()
	p := newProgress(cfg, start)
	r := runner{cfg: cfg, progress: p}
	if err := os.MkdirAll(cfg.CacheDir, 0o755); err != nil {
		return Result{}, fmt.Errorf("cache dir: %w", err)
	}
	goVersion, err := r.goVersion(ctx)
	if err != nil {
		return Result{}, err
	}

	// The root filesystem (network bound) and the Go builds (CPU bound) run
	// side by side; the Go builds run one after another, each using every core.
	var (
		wg                   sync.WaitGroup
		rootfsDir, rootfsKey string
		rootfsErr, buildErr  error
		dirs                 = map[string]string{}
		k8s                  goBuild
	)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	wg.Add(2)
	go func() {
		defer wg.Done()
		rootfsErr = p.step("root filesystem (debootstrap "+cfg.Versions.Debian+")", func() (bool, error) {
			var reused bool
			var err error
			rootfsDir, rootfsKey, reused, err = r.rootfs(ctx)
			return reused, err
		})
		if rootfsErr != nil {
			cancel()
		}
	}()
	go func() {
		defer wg.Done()
		buildErr = p.step("kubernetes "+cfg.Versions.Kubernetes+" module", func() (bool, error) {
			var err error
			k8s, err = r.kubernetesBuild(ctx)
			return false, err
		})
		builds := []goBuild{k8s}
		if buildErr == nil {
			builds = append(builds, extBuilds(cfg.Versions)...)
		} else {
			builds = nil
			cancel()
		}
		for _, b := range builds {
			b := b
			err := p.step(goBuildStep(b.Name), func() (bool, error) {
				dir, reused, err := r.build(ctx, b, goVersion)
				dirs[strings.SplitN(b.Name, "-v", 2)[0]] = dir
				return reused, err
			})
			if err != nil {
				buildErr = err
				cancel()
				return
			}
		}
		buildErr = p.step(cfg.ownStep(), func() (bool, error) {
			dir, err := r.ownBuild(ctx)
			dirs["own"] = dir
			return false, err
		})
	}()
	wg.Wait()
	if err := errors.Join(rootfsErr, buildErr); err != nil {
		return Result{}, err
	}

	var base string
	if err := p.step("base image", func() (bool, error) {
		var reused bool
		var err error
		base, reused, err = r.baseImage(ctx, rootfsDir, rootfsKey, dirs["containerd"], dirs["crictl"])
		return reused, err
	}); err != nil {
		return Result{}, err
	}

	hashes := map[string]map[string]string{}
	for _, n := range []string{"kubernetes", "etcd", "coredns", "own"} {
		h, err := fileHashes(dirs[n])
		if err != nil {
			return Result{}, err
		}
		hashes[n] = h
	}
	nodeKey, err := key(16, "node", base, hashes, cniManifest, storageManifest, cfg.Versions)
	if err != nil {
		return Result{}, err
	}
	keyRef := fmt.Sprintf("pvreboot/node:%s-%s", cfg.Versions.Kubernetes, nodeKey)
	res := Result{Image: cfg.Image, KeyImage: keyRef, Key: nodeKey}
	if r.imageExists(ctx, keyRef) {
		p.printf("node image %s: reused", keyRef)
		res.Reused = true
	} else {
		var images []string
		var cniImage string
		if err := p.step("component images", func() (bool, error) {
			var err error
			images, cniImage, err = r.componentImages(ctx, base, dirs["kubernetes"], dirs["etcd"], dirs["coredns"], dirs["own"])
			return false, err
		}); err != nil {
			return Result{}, err
		}
		versions, _ := json.Marshal(cfg.Versions)
		buildInfo, _ := json.Marshal(map[string]any{
			"go": goVersion, "kubernetesLDFlags": k8s.LDFlags, "cgo": false, "trimpath": true,
			"containerdTags": extBuilds(cfg.Versions)[0].Tags, "restrictOOMScoreAdj": cfg.RestrictOOMScoreAdj,
			"base": base, "cni": cniImage, "sources": "Go module proxy; Debian " + cfg.Versions.Debian + " via debootstrap; pause, noderoutes: " + cfg.ownFrom(),
		})
		labels := map[string]string{
			LabelImage: "node", LabelKey: nodeKey, LabelVersions: string(versions), LabelBuild: string(buildInfo),
		}
		if err := p.step("node image "+keyRef, func() (bool, error) {
			return false, r.assembleNode(ctx, base, keyRef, dirs["kubernetes"], images, cniImage, labels)
		}); err != nil {
			return Result{}, err
		}
	}
	if cfg.Image != keyRef {
		if _, err := r.docker(ctx, "tag", keyRef, cfg.Image); err != nil {
			return Result{}, err
		}
	}
	res.Elapsed = time.Since(start)
	p.printf("node image %s ready (%s) in %s", cfg.Image, keyRef, res.Elapsed.Round(time.Second))
	return res, nil
}

// ImageInfo is one image pvreboot built, as `pvreboot image list` shows it.
type ImageInfo struct {
	Reference string            `json:"reference"`
	Kind      string            `json:"kind"`
	Created   string            `json:"created"`
	Size      string            `json:"size"`
	Labels    map[string]string `json:"labels"`
}

// List returns the images pvreboot built, newest first.
func List(ctx context.Context, docker []string) ([]ImageInfo, error) {
	r := runner{cfg: Config{Docker: docker}.withDefaults()}
	out, err := r.docker(ctx, "image", "ls", "--filter", "label="+LabelImage, "--format", "{{.Repository}}:{{.Tag}}\t{{.CreatedAt}}\t{{.Size}}")
	if err != nil {
		return nil, err
	}
	var infos []ImageInfo
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Split(line, "\t")
		if len(f) != 3 {
			continue
		}
		lo, err := r.docker(ctx, "image", "inspect", "--format", "{{json .Config.Labels}}", f[0])
		if err != nil {
			return nil, err
		}
		var labels map[string]string
		_ = json.Unmarshal(lo, &labels)
		infos = append(infos, ImageInfo{Reference: f[0], Kind: labels[LabelImage], Created: f[1], Size: f[2], Labels: labels})
	}
	return infos, nil
}
