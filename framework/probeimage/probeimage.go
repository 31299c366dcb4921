package probeimage

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/pvreboot/pvreboot/framework/exec"
)

// Repository is where a locally loaded probe image is tagged; the tag is the
// start of the image's digest.
const Repository = "pvreboot/copyprobe"

// Label keys, shared with the images framework/nodeimage builds so that
// `pvreboot image list` shows the probe image too.
const (
	LabelImage = "dev.pvreboot.image" // "probe"
	LabelBuild = "dev.pvreboot.build" // where each binary came from
)

// Applets are the BusyBox applets linked under /bin: the canary scripts run
// `/bin/busybox sh`, node helper pods `/bin/busybox nsenter`, exec workloads
// `busybox cp`; the links are for people who exec into the pod.
func Applets() []string { return []string{"sh", "cp", "sha256sum", "cat", "ls"} }

// Binary is a file that goes into the image and where it came from.
type Binary struct {
	Path string `json:"path"`
	From string `json:"from"` // "this executable", "built from /src", "Debian busybox-static", ...
}

// Variant is the content of the image for one platform.
type Variant struct {
	Platform  v1.Platform
	Copyprobe Binary // static; runs copyprobe when argv[0] is /copyprobe
	Busybox   Binary // static BusyBox
}

// epoch is every file's and the image's creation time: the same binaries
// give the same digest.
var epoch = time.Unix(0, 0).UTC()

// Image assembles the single-platform image of v: one gzip layer, an OCI
// manifest, entrypoint `/copyprobe serve`.
func Image(v Variant) (v1.Image, error) {
	var errs []error
	for _, b := range []struct{ what, path string }{{"copyprobe", v.Copyprobe.Path}, {"busybox", v.Busybox.Path}} {
		if err := CheckStatic(b.path, v.Platform); err != nil {
			errs = append(errs, fmt.Errorf("%s for %s: %w", b.what, PlatformString(v.Platform), err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	files := layerFiles(v)
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		pr, pw := io.Pipe()
		go func() { pw.CloseWithError(writeLayer(pw, files)) }()
		return pr, nil
	}, tarball.WithMediaType(types.OCILayer), tarball.WithCompressionLevel(gzip.BestSpeed), tarball.WithCompressedCaching)
	if err != nil {
		return nil, fmt.Errorf("probe image layer for %s: %w", PlatformString(v.Platform), err)
	}
	cf := &v1.ConfigFile{
		Architecture: v.Platform.Architecture, OS: v.Platform.OS, Variant: v.Platform.Variant,
		Created: v1.Time{Time: epoch},
		Config: v1.Config{
			Entrypoint: []string{"/copyprobe"}, Cmd: []string{"serve"},
			// The PATH Docker gives images: commands entered into a node
			// (nsenter) look up its tools with it.
			Env: []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}, WorkingDir: "/",
			Labels: map[string]string{LabelImage: "probe", LabelBuild: fmt.Sprintf("copyprobe: %s; busybox: %s", v.Copyprobe.From, v.Busybox.From)},
		},
		RootFS: v1.RootFS{Type: "layers"},
	}
	img := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		return nil, err
	}
	img, err = mutate.Append(img, mutate.Addendum{Layer: layer, MediaType: types.OCILayer,
		History: v1.History{Created: v1.Time{Time: epoch}, CreatedBy: "pvreboot image probe", Comment: "copyprobe and BusyBox, no Docker build"}})
	if err != nil {
		return nil, fmt.Errorf("probe image for %s: %w", PlatformString(v.Platform), err)
	}
	return img, nil
}

// Index assembles one image per variant into an OCI image index.
func Index(vs []Variant) (v1.ImageIndex, error) {
	if len(vs) == 0 {
		return nil, errors.New("probe image index: no platform")
	}
	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	var adds []mutate.IndexAddendum
	var errs []error
	for _, v := range vs {
		img, err := Image(v)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		p := v.Platform
		adds = append(adds, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{MediaType: types.OCIManifestSchema1, Platform: &p}})
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return mutate.AppendManifests(idx, adds...), nil
}

// LocalTag is the reference a single-platform image is loaded under:
// pvreboot/copyprobe:<first 12 hex digits of its manifest digest>.
func LocalTag(img v1.Image) (name.Tag, error) {
	d, err := img.Digest()
	if err != nil {
		return name.Tag{}, fmt.Errorf("probe image digest: %w", err)
	}
	return name.NewTag(Repository + ":" + d.Hex[:12])
}

// WriteArchive writes img as a Docker archive (`docker save` format, which
// `docker load` and `ctr images import` read) tagged tag.
func WriteArchive(w io.Writer, tag name.Tag, img v1.Image) error {
	if err := tarball.Write(tag, img, w); err != nil {
		return fmt.Errorf("write archive of %s: %w", tag, err)
	}
	return nil
}

// LoadDocker loads img into the Docker engine the docker argv prefix talks
// to (`docker load`), unless an image with that tag is already there.
// Reports whether it loaded.
func LoadDocker(ctx context.Context, docker []string, tag name.Tag, img v1.Image) (bool, error) {
	if len(docker) == 0 {
		docker = []string{"docker"}
	}
	ref := tag.String()
	if _, err := exec.Output(ctx, exec.Cmd{Argv: append(slices.Clone(docker), "image", "inspect", "--format", "{{.Id}}", ref)}); err == nil {
		return false, nil
	}
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(WriteArchive(pw, tag, img)) }()
	_, err := exec.Run(ctx, exec.Cmd{Argv: append(slices.Clone(docker), "load"), Stdin: pr})
	pr.CloseWithError(errors.New("docker load ended"))
	if err != nil {
		return false, fmt.Errorf("load %s into the Docker engine: %w", ref, err)
	}
	return true, nil
}

// Push writes idx to ref with credentials from kc (authn.DefaultKeychain
// reads the Docker config, as `docker push` does) and returns the pushed
// reference by digest.
func Push(ctx context.Context, ref name.Reference, idx v1.ImageIndex, kc authn.Keychain) (name.Digest, error) {
	if kc == nil {
		kc = authn.DefaultKeychain
	}
	if err := remote.WriteIndex(ref, idx, remote.WithContext(ctx), remote.WithAuthFromKeychain(kc)); err != nil {
		return name.Digest{}, fmt.Errorf("push probe image %s: %w", ref, err)
	}
	d, err := idx.Digest()
	if err != nil {
		return name.Digest{}, err
	}
	return ref.Context().Digest(d.String()), nil
}

// Size is the sum of the compressed sizes of an image's manifest, config
// and layers: what a node pulls.
func Size(img v1.Image) (int64, error) {
	m, err := img.Manifest()
	if err != nil {
		return 0, err
	}
	raw, err := img.RawManifest()
	if err != nil {
		return 0, err
	}
	n := int64(len(raw)) + m.Config.Size
	for _, l := range m.Layers {
		n += l.Size
	}
	return n, nil
}

// PlatformString renders os/arch[/variant].
func PlatformString(p v1.Platform) string {
	s := p.OS + "/" + p.Architecture
	if p.Variant != "" {
		s += "/" + p.Variant
	}
	return s
}

// ParsePlatform reads os/arch[/variant]; only linux platforms with a Debian
// busybox-static are accepted. arm64 gets variant v8, as registries list it.
func ParsePlatform(s string) (v1.Platform, error) {
	parts := strings.Split(s, "/")
	if len(parts) < 2 || len(parts) > 3 || parts[0] != "linux" {
		return v1.Platform{}, fmt.Errorf("platform %q: want linux/ARCH (linux/amd64, linux/arm64)", s)
	}
	p := v1.Platform{OS: parts[0], Architecture: parts[1]}
	if len(parts) == 3 {
		p.Variant = parts[2]
	}
	if _, ok := debianArch(p); !ok {
		return v1.Platform{}, fmt.Errorf("platform %q: unsupported architecture (supported: %s)", s, strings.Join(SupportedArchitectures(), ", "))
	}
	if p.Architecture == "arm64" && p.Variant == "" {
		p.Variant = "v8"
	}
	return p, nil
}

// layerFile is one entry of the layer.
type layerFile struct {
	path, src, data, link string
	mode                  int64
	dir                   bool
}

func layerFiles(v Variant) []layerFile {
	files := []layerFile{
		{path: "bin", dir: true, mode: 0o755},
		{path: "data", dir: true, mode: 0o755},
		{path: "etc", dir: true, mode: 0o755},
		{path: "tmp", dir: true, mode: 0o1777},
		{path: "copyprobe", src: v.Copyprobe.Path, mode: 0o755},
		{path: "bin/busybox", src: v.Busybox.Path, mode: 0o755},
		{path: "etc/passwd", mode: 0o644, data: "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n"},
		{path: "etc/group", mode: 0o644, data: "root:x:0:\nnobody:x:65534:\nnonroot:x:65532:\n"},
	}
	for _, a := range Applets() {
		files = append(files, layerFile{path: path.Join("bin", a), link: "busybox"})
	}
	return files
}

func writeLayer(w io.Writer, files []layerFile) error {
	tw := tar.NewWriter(w)
	for _, f := range files {
		h := &tar.Header{Name: f.path, Mode: f.mode, ModTime: epoch, Format: tar.FormatPAX}
		switch {
		case f.dir:
			h.Typeflag, h.Name = tar.TypeDir, f.path+"/"
			if err := tw.WriteHeader(h); err != nil {
				return err
			}
		case f.link != "":
			h.Typeflag, h.Linkname, h.Mode = tar.TypeSymlink, f.link, 0o777
			if err := tw.WriteHeader(h); err != nil {
				return err
			}
		case f.src != "":
			if err := copyFile(tw, h, f.src); err != nil {
				return err
			}
		default:
			h.Typeflag, h.Size = tar.TypeReg, int64(len(f.data))
			if err := tw.WriteHeader(h); err != nil {
				return err
			}
			if _, err := io.WriteString(tw, f.data); err != nil {
				return err
			}
		}
	}
	return tw.Close()
}

func copyFile(tw *tar.Writer, h *tar.Header, src string) error {
	f, err := os.Open(src)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	h.Typeflag, h.Size = tar.TypeReg, fi.Size()
	if err := tw.WriteHeader(h); err != nil {
		return err
	}
	n, err := io.Copy(tw, f)
	if err == nil && n != fi.Size() {
		err = fmt.Errorf("%s changed while being read", src)
	}
	return err
}
