package nodeimage

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/pvreboot/pvreboot/internal/registrytest"
)

// registryTestTimeout bounds the whole pull-path test: docker save of a
// node image (~1.4 GB), its push to the in-process registry (gzip) and the
// engine's pull back.
const registryTestTimeout = 30 * time.Minute

// TestResolvePullsFromRegistry serves the locally built node image from an
// in-process registry on 127.0.0.1 under a kind-style reference and checks
// that resolution pulls it through the Docker engine instead of building.
// Needs root and a Docker engine holding a node image
// ($PVREBOOT_NODE_IMAGE, default pvreboot/node:v1.37.2) that answers at
// $DOCKER_HOST; it skips, saying so, without one (make test in CI runs
// before the engine is set up). CI covers the same path end to end in the
// e2e spec labelled pull: `pvreboot run` pulls such an image, makes its
// cluster from it and passes.
func TestResolvePullsFromRegistry(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: moves a node image (~1.4 GB) through a registry")
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root (the Docker engine pvreboot uses)")
	}
	if _, err := exec.LookPath("docker"); err != nil {
		t.Skipf("needs the docker CLI: %v", err)
	}
	src := os.Getenv("PVREBOOT_NODE_IMAGE")
	if src == "" {
		src = "pvreboot/node:" + DefaultVersions().Kubernetes
	}
	ctx, cancel := context.WithTimeout(context.Background(), registryTestTimeout)
	defer cancel()
	if out, err := exec.CommandContext(ctx, "docker", "image", "inspect", "--format", "{{.Id}}", src).CombinedOutput(); err != nil {
		t.Skipf("needs the node image %s in the Docker engine (make images): %v: %s", src, err, out)
	}

	reg, err := registrytest.Serve(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = reg.Close() })
	// Docker trusts plain-HTTP registries on 127.0.0.0/8 by default.
	ref := reg.Host + "/kindest/node:" + DefaultVersions().Kubernetes
	start := time.Now()
	if err := registrytest.PushFromEngine(ctx, src, ref, t.TempDir()); err != nil {
		t.Fatal(err)
	}
	t.Logf("pushed %s as %s in %s", src, ref, time.Since(start).Round(time.Second))
	t.Cleanup(func() {
		if out, err := exec.Command("docker", "rmi", ref).CombinedOutput(); err != nil {
			t.Logf("docker rmi %s: %v: %s", ref, err, out)
		}
	})

	rc := ResolveConfig{Pull: ref, Progress: tWriter{t}, Build: func(context.Context) (Result, error) {
		return Result{}, errors.New("built from sources although the image could be pulled")
	}}
	start = time.Now()
	res, err := Resolve(ctx, rc)
	if err != nil {
		t.Fatal(err)
	}
	if res.Source != SourcePulled || res.Image != ref {
		t.Fatalf("resolved %s from %s (%s), want %s pulled", res.Image, res.Source, res.Reason, ref)
	}
	if out, err := exec.CommandContext(ctx, "docker", "image", "inspect", "--format", "{{.Id}}", ref).CombinedOutput(); err != nil {
		t.Fatalf("%s is not in the engine after the pull: %v: %s", ref, err, out)
	}
	t.Logf("resolved %s: %s in %s", res.Image, res.Source, time.Since(start).Round(time.Second))

	// A second resolution finds it in the engine and pulls nothing.
	rc.Build = func(context.Context) (Result, error) {
		return Result{}, errors.New("built from sources although the image is in the engine")
	}
	res, err = Resolve(ctx, rc)
	if err != nil || res.Source != SourceLocal {
		t.Fatalf("second resolution: %+v, %v; want %s", res, err, SourceLocal)
	}
}

// tWriter sends progress lines to the test log.
type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
