package nodeimage

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
)

// Where a resolved node image came from.
const (
	SourceLocal  = "local"  // the standard image was already in the engine
	SourcePulled = "pulled" // the engine pulled the standard image
	SourceBuilt  = "built"  // built from sources (Build)
)

// pullTimeout bounds one `docker pull` of a node image (about 450 MB
// compressed); an unreachable registry fails in seconds, a slow link is
// given time.
const pullTimeout = 20 * time.Minute

// ErrRestrictedHost is why a standard node image is not used on a host
// whose capability bounding set lacks CAP_SYS_RESOURCE: its containerd does
// not clamp oom_score_adj, so every pod sandbox would fail, and pvreboot
// refuses the containerdConfigPatches that could turn the clamp on.
var ErrRestrictedHost = errors.New("this host lacks CAP_SYS_RESOURCE and kind's standard node image does not clamp oom_score_adj (every pod sandbox would fail)")

// DefaultPullImage is kind's node image for a Kubernetes version.
func DefaultPullImage(kubernetes string) string { return "kindest/node:" + kubernetes }

// ResolveConfig says how to get a node image.
type ResolveConfig struct {
	// Kubernetes is the version wanted (default DefaultVersions'); it names
	// the standard image.
	Kubernetes string
	// Pull is the standard image to use when the engine has it or can pull
	// it (default kindest/node:<Kubernetes>).
	Pull string
	// ForceBuild builds from sources without trying to pull.
	ForceBuild bool
	// RestrictOOMScoreAdj: this host lacks CAP_SYS_RESOURCE (see
	// ErrRestrictedHost); only an image pvreboot built with the clamp can
	// run pods here (ClampsOOMScoreAdj): one built now, or an explicit Pull
	// of one built and pushed elsewhere. kindest/node is not pulled.
	RestrictOOMScoreAdj bool
	// Build builds from sources (Build with a Config, typically); called
	// only when the standard image is not used.
	Build func(ctx context.Context) (Result, error)
	// Docker is the argv prefix of the docker CLI (default ["docker"]).
	Docker   []string
	Progress io.Writer
}

// Resolution says which node image to use and why.
type Resolution struct {
	Image  string `json:"image"`
	Source string `json:"source"` // SourceLocal, SourcePulled or SourceBuilt
	// Why the standard image was not used (nil unless built); wraps the
	// pull error or ErrRestrictedHost.
	NotPulled error         `json:"-"`
	Reason    string        `json:"reason,omitempty"`
	Built     *Result       `json:"built,omitempty"`
	Elapsed   time.Duration `json:"elapsed"`
}

// imageEngine is what resolution needs of the container engine.
type imageEngine interface {
	HasImage(ctx context.Context, ref string) bool
	Pull(ctx context.Context, ref string) error
	Labels(ctx context.Context, ref string) (map[string]string, error)
}

// ClampsOOMScoreAdj reports whether a node image's labels say pvreboot
// built it with containerd clamping oom_score_adj (Config.RestrictOOMScoreAdj),
// so that it runs pods on a host without CAP_SYS_RESOURCE.
func ClampsOOMScoreAdj(labels map[string]string) bool {
	var b struct {
		RestrictOOMScoreAdj bool `json:"restrictOOMScoreAdj"`
	}
	return labels[LabelImage] == "node" && json.Unmarshal([]byte(labels[LabelBuild]), &b) == nil && b.RestrictOOMScoreAdj
}

// Resolve returns the node image to use: the standard (kind) image when the
// engine has it or can pull it, else one built from sources, saying why
// (the pull error). ForceBuild skips the pull.
func Resolve(ctx context.Context, rc ResolveConfig) (Resolution, error) {
	return resolve(ctx, rc, dockerEngine{r: runner{cfg: Config{Docker: rc.Docker}.withDefaults()}})
}

func resolve(ctx context.Context, rc ResolveConfig, e imageEngine) (Resolution, error) {
	start := time.Now()
	if rc.Kubernetes == "" {
		rc.Kubernetes = DefaultVersions().Kubernetes
	}
	if rc.Progress == nil {
		rc.Progress = io.Discard
	}
	if rc.Build == nil {
		return Resolution{}, errors.New("resolve node image: no build from sources configured")
	}
	pull := rc.Pull
	if pull == "" {
		pull = DefaultPullImage(rc.Kubernetes)
	}
	if _, err := name.ParseReference(pull); err != nil || strings.HasPrefix(pull, "-") {
		return Resolution{}, fmt.Errorf("node image to pull: %q is not an image reference", pull)
	}
	// On a host that needs the clamp, an image is used only when it has it:
	// kind's own images never do, so kindest/node is not even pulled; an
	// image named by Pull may be one pvreboot built and pushed (labelled).
	usable := func(source string) (Resolution, error) {
		if rc.RestrictOOMScoreAdj {
			labels, err := e.Labels(ctx, pull)
			if err != nil {
				return Resolution{}, err
			}
			if !ClampsOOMScoreAdj(labels) {
				return Resolution{}, fmt.Errorf("%s is not an image pvreboot built for such hosts: %w", pull, ErrRestrictedHost)
			}
		}
		return Resolution{Image: pull, Source: source, Elapsed: time.Since(start)}, nil
	}
	var notPulled error
	switch {
	case rc.ForceBuild:
		notPulled = errors.New("a build from sources was asked for (--build-node-image)")
	case e.HasImage(ctx, pull):
		fmt.Fprintf(rc.Progress, "node image %s: in the Docker engine\n", pull)
		res, err := usable(SourceLocal)
		if err == nil {
			return res, nil
		}
		notPulled = err
	case rc.RestrictOOMScoreAdj && rc.Pull == "":
		notPulled = ErrRestrictedHost
	default:
		fmt.Fprintf(rc.Progress, "node image %s: pulling\n", pull)
		pctx, cancel := context.WithTimeout(ctx, pullTimeout)
		err := e.Pull(pctx, pull)
		cancel()
		if err == nil {
			fmt.Fprintf(rc.Progress, "node image %s: pulled in %s\n", pull, time.Since(start).Round(time.Second))
			res, err := usable(SourcePulled)
			if err == nil {
				return res, nil
			}
			notPulled = err
			break
		}
		if ctx.Err() != nil {
			return Resolution{}, fmt.Errorf("pull node image %s: %w", pull, err)
		}
		notPulled = fmt.Errorf("pull %s: %w", pull, err)
	}
	fmt.Fprintf(rc.Progress, "node image: building from sources: %v\n", notPulled)
	res, err := rc.Build(ctx)
	if err != nil {
		return Resolution{}, fmt.Errorf("build node image (%v): %w", notPulled, err)
	}
	return Resolution{Image: res.Image, Source: SourceBuilt, NotPulled: notPulled, Reason: notPulled.Error(),
		Built: &res, Elapsed: time.Since(start)}, nil
}

// dockerEngine is the Docker CLI as an imageEngine.
type dockerEngine struct{ r runner }

func (d dockerEngine) HasImage(ctx context.Context, ref string) bool {
	return d.r.imageExists(ctx, ref)
}

func (d dockerEngine) Labels(ctx context.Context, ref string) (map[string]string, error) {
	out, err := d.r.docker(ctx, "image", "inspect", "--format", "{{json .Config.Labels}}", ref)
	if err != nil {
		return nil, err
	}
	var labels map[string]string
	if err := json.Unmarshal(out, &labels); err != nil {
		return nil, fmt.Errorf("labels of %s: %w", ref, err)
	}
	return labels, nil
}

func (d dockerEngine) Pull(ctx context.Context, ref string) error {
	out, err := d.r.docker(ctx, "pull", "--quiet", ref)
	if err != nil {
		return err
	}
	// The engine answers with the reference it pulled.
	if s := strings.TrimSpace(string(out)); s == "" {
		return fmt.Errorf("docker pull %s: no reference printed", ref)
	}
	return nil
}
