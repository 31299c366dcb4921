package nodeimage

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// componentImages builds the control-plane, CoreDNS, pause and noderoutes
// images without pulling, and returns their references.
func (r runner) componentImages(ctx context.Context, base string, k8sDir, etcdDir, corednsDir, ownDir string) ([]string, string, error) {
	out, err := r.run(ctx, "", nil, filepath.Join(k8sDir, "kubeadm"), "config", "images", "list", "--kubernetes-version", r.cfg.Versions.Kubernetes)
	if err != nil {
		return nil, "", err
	}
	want := map[string]string{} // component -> full reference
	for _, line := range strings.Fields(string(out)) {
		name := line[strings.LastIndex(line, "/")+1:]
		name = name[:strings.Index(name, ":")]
		want[name] = line
	}
	for _, n := range []string{"kube-apiserver", "kube-controller-manager", "kube-scheduler", "kube-proxy", "etcd", "coredns", "pause"} {
		if want[n] == "" {
			return nil, "", fmt.Errorf("kubeadm config images list did not name %s: %q", n, out)
		}
	}
	bin := func(dir, name string) scratchFile {
		return scratchFile{Path: "/usr/local/bin/" + name, Src: filepath.Join(dir, name), Mode: 0o755}
	}
	scratch := []struct {
		ref     string
		file    scratchFile
		changes []string
	}{
		{want["kube-apiserver"], bin(k8sDir, "kube-apiserver"), nil},
		{want["kube-controller-manager"], bin(k8sDir, "kube-controller-manager"), nil},
		{want["kube-scheduler"], bin(k8sDir, "kube-scheduler"), nil},
		{want["etcd"], bin(etcdDir, "etcd"), nil},
		{want["coredns"], scratchFile{Path: "/coredns", Src: filepath.Join(corednsDir, "coredns"), Mode: 0o755}, []string{`ENTRYPOINT ["/coredns"]`}},
		{want["pause"], scratchFile{Path: "/pause", Src: filepath.Join(ownDir, "pause"), Mode: 0o755}, []string{`ENTRYPOINT ["/pause"]`}},
	}
	var refs []string
	for _, s := range scratch {
		if err := r.scratchImage(ctx, s.ref, []scratchFile{s.file}, s.changes...); err != nil {
			return nil, "", err
		}
		refs = append(refs, s.ref)
	}
	// kind's containerd config names pause:3.10 as the sandbox image.
	if _, err := r.docker(ctx, "tag", want["pause"], "registry.k8s.io/pause:3.10"); err != nil {
		return nil, "", err
	}
	refs = append(refs, "registry.k8s.io/pause:3.10")
	if err := r.fromBase(ctx, base, want["kube-proxy"], map[string]string{filepath.Join(k8sDir, "kube-proxy"): "/usr/local/bin/kube-proxy"}); err != nil {
		return nil, "", err
	}
	refs = append(refs, want["kube-proxy"])
	nrHash, err := fileSHA256(filepath.Join(ownDir, "noderoutes"))
	if err != nil {
		return nil, "", err
	}
	nr := "pvreboot.dev/noderoutes:" + nrHash[:12]
	if err := r.scratchImage(ctx, nr, []scratchFile{{Path: "/noderoutes", Src: filepath.Join(ownDir, "noderoutes"), Mode: 0o755}},
		`ENTRYPOINT ["/noderoutes"]`); err != nil {
		return nil, "", err
	}
	refs = append(refs, nr)
	return refs, nr, nil
}

// assembleNode makes the node image from the base the way `kind build
// node-image` does: binaries in /usr/bin, /kind/version, /kind/manifests, and
// every image imported (not unpacked, pinned) into containerd's store.
func (r runner) assembleNode(ctx context.Context, base, ref string, k8sDir string, images []string, cniImage string, labels map[string]string) error {
	name := fmt.Sprintf("pvreboot-nodeimage-build-%d", os.Getpid())
	if _, err := r.docker(ctx, "run", "-d", "--name", name, "--entrypoint=sleep", "--security-opt", "seccomp=unconfined", base, "infinity"); err != nil {
		return err
	}
	defer func() { _, _ = r.docker(context.WithoutCancel(ctx), "rm", "-f", "-v", name) }()
	for _, b := range []string{"kubeadm", "kubelet", "kubectl"} {
		if _, err := r.docker(ctx, "cp", filepath.Join(k8sDir, b), name+":/usr/bin/"+b); err != nil {
			return err
		}
	}
	tmp, err := os.MkdirTemp(r.cfg.CacheDir, "node-files-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	if err := os.MkdirAll(filepath.Join(tmp, "manifests"), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(tmp, "manifests", "default-cni.yaml"), []byte(renderCNIManifest(cniImage)), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(tmp, "manifests", "default-storage.yaml"), []byte(storageManifest), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(tmp, "version"), []byte(r.cfg.Versions.Kubernetes), 0o644); err != nil {
		return err
	}
	for _, f := range []string{"manifests", "version"} {
		if _, err := r.docker(ctx, "cp", filepath.Join(tmp, f), name+":/kind/"+f); err != nil {
			return err
		}
	}
	if _, err := r.docker(ctx, "exec", name, "sh", "-c", "chown root:root /usr/bin/kube* /kind/version && chmod 0755 /usr/bin/kube*"); err != nil {
		return err
	}
	if _, err := r.docker(ctx, "exec", "-d", name, "sh", "-c", "containerd > /var/log/containerd-build.log 2>&1"); err != nil {
		return err
	}
	if err := r.waitContainerd(ctx, name); err != nil {
		return err
	}
	archive := filepath.Join(tmp, "images.tar")
	if _, err := r.docker(ctx, append([]string{"save", "-o", archive}, images...)...); err != nil {
		return err
	}
	f, err := os.Open(archive)
	if err != nil {
		return err
	}
	_, err = r.dockerIn(ctx, f, "exec", "-i", name, "ctr", "--namespace=k8s.io", "images", "import",
		"--label=io.cri-containerd.pinned=pinned", "--all-platforms", "--no-unpack", "--digests", "-")
	f.Close()
	if err != nil {
		return err
	}
	listed, err := r.docker(ctx, "exec", name, "ctr", "--namespace=k8s.io", "images", "list", "-q")
	if err != nil {
		return err
	}
	for _, img := range images {
		if !strings.Contains(string(listed), img) {
			return fmt.Errorf("image %s missing from the node's containerd after import; it has:\n%s", img, listed)
		}
	}
	if _, err := r.docker(ctx, "exec", name, "sh", "-c", "kill $(pidof containerd); while pidof containerd >/dev/null; do sleep 0.2; done; rm -f /var/log/containerd-build.log"); err != nil {
		return err
	}
	args := []string{"commit", "--change", `ENTRYPOINT [ "/usr/local/bin/entrypoint", "/sbin/init" ]`,
		"--change", `ENV HTTP_PROXY="" HTTPS_PROXY="" NO_PROXY=""`}
	for _, k := range sortedKeys(labels) {
		v, _ := json.Marshal(labels[k])
		args = append(args, "--change", fmt.Sprintf("LABEL %s=%s", k, v))
	}
	_, err = r.docker(ctx, append(args, name, ref)...)
	return err
}

// waitContainerd waits for containerd in the build container to answer.
func (r runner) waitContainerd(ctx context.Context, name string) error {
	// containerd starts in about a second; 60s means it is broken.
	const containerdStartTimeout = 60 * time.Second
	ctx, cancel := context.WithTimeout(ctx, containerdStartTimeout)
	defer cancel()
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	var last error
	for {
		if _, err := r.docker(ctx, "exec", name, "ctr", "version"); err == nil {
			return nil
		} else {
			last = err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("containerd in build container %s: want answering within %s, last: %v", name, containerdStartTimeout, last)
		case <-tick.C:
		}
	}
}
