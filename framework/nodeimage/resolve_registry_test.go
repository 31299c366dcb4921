package nodeimage

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// registryTestTimeout bounds the whole pull-path test: docker save of a
// node image (~1.4 GB), its push to the in-process registry (gzip) and the
// engine's pull back.
const registryTestTimeout = 30 * time.Minute

// TestResolvePullsFromRegistry serves the locally built node image from an
// in-process registry on 127.0.0.1 under a kind-style reference and checks
// that resolution pulls it through the Docker engine instead of building.
// Needs root and a Docker engine holding a node image
// ($PVREBOOT_NODE_IMAGE, default pvreboot/node:v1.37.2); CI runs it as root
// (under the engine lock, flock /tmp/pvreboot-kind.lock).
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

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: registry.New(registry.Logger(log.New(io.Discard, "", 0)),
		registry.WithBlobHandler(registry.NewDiskBlobHandler(t.TempDir()))), ReadHeaderTimeout: time.Minute}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })

	// Docker trusts plain-HTTP registries on 127.0.0.0/8 by default.
	ref := l.Addr().String() + "/kindest/node:" + DefaultVersions().Kubernetes
	start := time.Now()
	archive := filepath.Join(t.TempDir(), "node.tar")
	if out, err := exec.CommandContext(ctx, "docker", "save", "-o", archive, src).CombinedOutput(); err != nil {
		t.Fatalf("docker save %s: %v: %s", src, err, out)
	}
	tag, err := name.NewTag(ref)
	if err != nil {
		t.Fatal(err)
	}
	img, err := tarball.ImageFromPath(archive, nil)
	if err != nil {
		t.Fatal(err)
	}
	// One layer of our own, so that the engine, which already has every
	// layer of src, must fetch a blob from the registry and make a new image.
	marker, err := markerLayer(ref)
	if err != nil {
		t.Fatal(err)
	}
	if img, err = mutate.AppendLayers(img, marker); err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(tag, img, remote.WithContext(ctx)); err != nil {
		t.Fatalf("push %s: %v", ref, err)
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

// markerLayer is a layer holding /etc/pvreboot-pull-test with content.
func markerLayer(content string) (v1.Layer, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	if err := tw.WriteHeader(&tar.Header{Name: "etc/pvreboot-pull-test", Mode: 0o644, Size: int64(len(content)), Typeflag: tar.TypeReg}); err != nil {
		return nil, err
	}
	if _, err := tw.Write([]byte(content)); err != nil {
		return nil, err
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return tarball.LayerFromReader(&buf)
}

// tWriter sends progress lines to the test log.
type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
