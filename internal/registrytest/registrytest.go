// Package registrytest serves container images from an in-process registry
// (go-containerregistry's pkg/registry) on 127.0.0.1, for tests of the
// paths that pull images: the Docker engine trusts plain-HTTP registries on
// 127.0.0.0/8 by default, so it pulls from one with no configuration.
package registrytest

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// Registry is a registry served on 127.0.0.1 until Close.
type Registry struct {
	// Host is its host:port, the first component of references to it.
	Host string
	srv  *http.Server
}

// Serve starts a registry on a free port of 127.0.0.1 whose blobs are kept
// in dir (node images are too large for memory).
func Serve(dir string) (*Registry, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	srv := &http.Server{Handler: registry.New(registry.Logger(log.New(io.Discard, "", 0)),
		registry.WithBlobHandler(registry.NewDiskBlobHandler(dir))), ReadHeaderTimeout: time.Minute}
	go func() { _ = srv.Serve(l) }()
	return &Registry{Host: l.Addr().String(), srv: srv}, nil
}

// Close stops serving.
func (r *Registry) Close() error { return r.srv.Close() }

// PushFromEngine copies the image src from the Docker engine (docker save
// into tmpDir) to ref, with one more layer holding the file
// /etc/pvreboot-pull-test (content: ref): an engine that already has every
// layer of src must still fetch a blob to pull ref, and gets a new image.
func PushFromEngine(ctx context.Context, src, ref, tmpDir string) error {
	tag, err := name.NewTag(ref)
	if err != nil {
		return err
	}
	archive := filepath.Join(tmpDir, "image.tar")
	defer os.Remove(archive)
	if out, err := exec.CommandContext(ctx, "docker", "save", "-o", archive, src).CombinedOutput(); err != nil {
		return fmt.Errorf("docker save %s: %w: %s", src, err, out)
	}
	img, err := tarball.ImageFromPath(archive, nil)
	if err != nil {
		return err
	}
	marker, err := markerLayer(ref)
	if err != nil {
		return err
	}
	if img, err = mutate.AppendLayers(img, marker); err != nil {
		return err
	}
	if err := remote.Write(tag, img, remote.WithContext(ctx)); err != nil {
		return fmt.Errorf("push %s: %w", ref, err)
	}
	return nil
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
