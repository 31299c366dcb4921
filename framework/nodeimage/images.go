package nodeimage

import (
	"archive/tar"
	"context"
	"fmt"
	"io"
	"os"
	"path"
	"strings"
	"time"
)

// scratchFile is one file of a scratch image.
type scratchFile struct {
	Path   string // path inside the image
	Src    string // host file to copy, or
	Data   string // literal content
	Link   string // symlink target
	Mode   int64
	IsDir  bool
	Hashed string // content hash of Src, for keys
}

// scratchImage imports files as an image with no base, written as a tar
// stream straight into `docker import`.
func (r runner) scratchImage(ctx context.Context, ref string, files []scratchFile, changes ...string) error {
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(writeTar(pw, files)) }()
	args := []string{"import"}
	for _, c := range changes {
		args = append(args, "--change", c)
	}
	args = append(args, "-", ref)
	_, err := r.dockerIn(ctx, pr, args...)
	pr.Close()
	if err != nil {
		return fmt.Errorf("import %s: %w", ref, err)
	}
	return nil
}

func writeTar(w io.Writer, files []scratchFile) error {
	tw := tar.NewWriter(w)
	base := []scratchFile{
		{Path: "etc", IsDir: true, Mode: 0o755},
		{Path: "tmp", IsDir: true, Mode: 0o1777},
		{Path: "etc/passwd", Mode: 0o644, Data: "root:x:0:0:root:/root:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n"},
		{Path: "etc/group", Mode: 0o644, Data: "root:x:0:\nnobody:x:65534:\nnonroot:x:65532:\n"},
	}
	dirs := map[string]bool{"etc": true, "tmp": true}
	mtime := time.Unix(0, 0)
	for _, f := range append(base, files...) {
		p := strings.TrimPrefix(f.Path, "/")
		for d := path.Dir(p); d != "." && !dirs[d]; d = path.Dir(d) {
			// parents first: collect and write in order
			var chain []string
			for x := d; x != "." && !dirs[x]; x = path.Dir(x) {
				chain = append([]string{x}, chain...)
			}
			for _, c := range chain {
				if err := tw.WriteHeader(&tar.Header{Name: c + "/", Typeflag: tar.TypeDir, Mode: 0o755, ModTime: mtime}); err != nil {
					return err
				}
				dirs[c] = true
			}
		}
		switch {
		case f.IsDir:
			if dirs[p] && p != "etc" && p != "tmp" {
				continue
			}
			if err := tw.WriteHeader(&tar.Header{Name: p + "/", Typeflag: tar.TypeDir, Mode: f.Mode, ModTime: mtime}); err != nil {
				return err
			}
		case f.Link != "":
			if err := tw.WriteHeader(&tar.Header{Name: p, Typeflag: tar.TypeSymlink, Linkname: f.Link, Mode: 0o777, ModTime: mtime}); err != nil {
				return err
			}
		case f.Src != "":
			src, err := os.Open(f.Src)
			if err != nil {
				return err
			}
			fi, err := src.Stat()
			if err != nil {
				src.Close()
				return err
			}
			if err := tw.WriteHeader(&tar.Header{Name: p, Typeflag: tar.TypeReg, Mode: f.Mode, Size: fi.Size(), ModTime: mtime}); err != nil {
				src.Close()
				return err
			}
			_, err = io.Copy(tw, src)
			src.Close()
			if err != nil {
				return err
			}
		default:
			if err := tw.WriteHeader(&tar.Header{Name: p, Typeflag: tar.TypeReg, Mode: f.Mode, Size: int64(len(f.Data)), ModTime: mtime}); err != nil {
				return err
			}
			if _, err := io.WriteString(tw, f.Data); err != nil {
				return err
			}
		}
	}
	return tw.Close()
}

// fromBase commits an image made of the base image plus binaries, for
// components that need a userland (kube-proxy needs iptables).
func (r runner) fromBase(ctx context.Context, base, ref string, files map[string]string) error {
	out, err := r.docker(ctx, "create", "--entrypoint", "/bin/true", base)
	if err != nil {
		return err
	}
	id := strings.TrimSpace(string(out))
	defer func() { _, _ = r.docker(context.WithoutCancel(ctx), "rm", "-f", id) }()
	for src, dst := range files {
		if _, err := r.docker(ctx, "cp", src, id+":"+dst); err != nil {
			return err
		}
	}
	_, err = r.docker(ctx, "commit", "--change", "ENTRYPOINT []", "--change", "CMD []", id, ref)
	return err
}
