package nodeimage

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/pvreboot/pvreboot/framework/exec"
)

// kindBaseFiles returns the folder of kind's base image files in the module
// cache (entrypoint, containerd config, systemd units).
func (r runner) kindBaseFiles(ctx context.Context) (string, error) {
	out, err := r.run(ctx, "", nil, r.cfg.Go, "mod", "download", "-json", "sigs.k8s.io/kind@"+r.cfg.Versions.Kind)
	if err != nil {
		return "", err
	}
	var info struct{ Dir string }
	if err := json.Unmarshal(out, &info); err != nil || info.Dir == "" {
		return "", fmt.Errorf("go mod download sigs.k8s.io/kind@%s: no module folder", r.cfg.Versions.Kind)
	}
	return filepath.Join(info.Dir, "images", "base", "files"), nil
}

// baseImage turns the root filesystem into a kind base image, following kind's
// images/base/Dockerfile: kind's files, containerd, crictl, CNI plugins, the
// systemd units enabled, STOPSIGNAL SIGRTMIN+3 for a clean `docker stop`.
func (r runner) baseImage(ctx context.Context, rootfs, rootfsKey, ctrdDir, crictlDir string) (string, bool, error) {
	ctrd, err := fileHashes(ctrdDir)
	if err != nil {
		return "", false, err
	}
	crictl, err := fileHashes(crictlDir)
	if err != nil {
		return "", false, err
	}
	k, err := key(16, "base", rootfsKey, ctrd, crictl, r.cfg.Versions.Kind, r.cfg.RestrictOOMScoreAdj)
	if err != nil {
		return "", false, err
	}
	ref := "pvreboot/base:" + k
	if r.imageExists(ctx, ref) {
		return ref, true, nil
	}
	files, err := r.kindBaseFiles(ctx)
	if err != nil {
		return "", false, err
	}
	stage := filepath.Join(r.cfg.CacheDir, "stage-base-"+k)
	if err := removeTree(stage); err != nil {
		return "", false, err
	}
	defer func() { _ = removeTree(stage) }()
	if _, err := r.run(ctx, "", nil, "cp", "-a", rootfs, stage); err != nil {
		return "", false, err
	}
	install := func(mode, src, dst string) error {
		_, err := r.run(ctx, "", nil, "install", "-D", "-m", mode, src, filepath.Join(stage, dst))
		return err
	}
	type inst struct{ mode, src, dst string }
	var steps []inst
	walk := func(sub, mode string) error {
		return filepath.WalkDir(filepath.Join(files, sub), func(p string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			rel, _ := filepath.Rel(files, p)
			steps = append(steps, inst{mode, p, rel})
			return nil
		})
	}
	for sub, mode := range map[string]string{"usr/local/bin": "0755", "kind/bin": "0755", "kind/README.txt": "0644", "etc": "0644"} {
		if err := walk(sub, mode); err != nil {
			return "", false, fmt.Errorf("kind base files %s: %w", sub, err)
		}
	}
	for name := range ctrd {
		steps = append(steps, inst{"0755", filepath.Join(ctrdDir, name), "usr/local/bin/" + name})
	}
	for name := range crictl {
		steps = append(steps, inst{"0755", filepath.Join(crictlDir, name), "usr/local/bin/" + name})
	}
	for _, s := range steps {
		if err := install(s.mode, s.src, s.dst); err != nil {
			return "", false, err
		}
	}
	cfgPath := filepath.Join(stage, "etc/containerd/config.toml")
	if r.cfg.RestrictOOMScoreAdj {
		// Without CAP_SYS_RESOURCE nothing can lower oom_score_adj below 0
		// (pause asks for -998) and every pod sandbox fails to start.
		b, err := os.ReadFile(cfgPath)
		if err != nil {
			return "", false, err
		}
		s := strings.Replace(string(b), "restrict_oom_score_adj = false", "restrict_oom_score_adj = true", 1)
		if !strings.Contains(s, "restrict_oom_score_adj = true") {
			return "", false, fmt.Errorf("%s: no restrict_oom_score_adj setting to turn on", cfgPath)
		}
		if err := os.WriteFile(cfgPath, []byte(s), 0o644); err != nil {
			return "", false, err
		}
	}
	// CNI plugins from Debian's containernetworking-plugins.
	if err := os.MkdirAll(filepath.Join(stage, "opt/cni/bin"), 0o755); err != nil {
		return "", false, err
	}
	plugins, _ := os.ReadDir(filepath.Join(stage, "usr/lib/cni"))
	for _, p := range plugins {
		_ = os.Symlink("/usr/lib/cni/"+p.Name(), filepath.Join(stage, "opt/cni/bin", p.Name()))
	}
	spec, err := r.run(ctx, "", nil, filepath.Join(ctrdDir, "ctr"), "oci", "spec")
	if err != nil {
		return "", false, err
	}
	criBase, err := criBaseSpec(spec)
	if err != nil {
		return "", false, err
	}
	if err := os.WriteFile(filepath.Join(stage, "etc/containerd/cri-base.json"), criBase, 0o644); err != nil {
		return "", false, err
	}
	script := `set -e
find /lib/systemd/system/sysinit.target.wants/ -name systemd-tmpfiles-setup.service -delete
rm -f /lib/systemd/system/multi-user.target.wants/* /etc/systemd/system/*.wants/* /lib/systemd/system/local-fs.target.wants/* \
      /lib/systemd/system/sockets.target.wants/*udev* /lib/systemd/system/sockets.target.wants/*initctl* /lib/systemd/system/basic.target.wants/*
grep -q "^ReadKMsg=no" /etc/systemd/journald.conf || echo "ReadKMsg=no" >> /etc/systemd/journald.conf
ln -sf /usr/lib/systemd/systemd /sbin/init
systemctl enable kubelet.service containerd.service undo-mount-hacks.service
systemctl mask systemd-binfmt.service
mkdir -p /etc/kubernetes/manifests
apt-get clean
rm -rf /var/lib/apt/lists/* /var/cache/debconf/*-old /var/log/*.log /etc/ssh/ssh_host_*
: > /etc/machine-id
`
	if _, err := r.run(ctx, "", nil, "chroot", stage, "/bin/bash", "-c", script); err != nil {
		return "", false, err
	}
	imported := ref + "-imported"
	if err := r.importDir(ctx, stage, imported, "ENV container=docker", `ENTRYPOINT ["/usr/local/bin/entrypoint", "/sbin/init"]`); err != nil {
		return "", false, err
	}
	// docker import cannot set STOPSIGNAL: one legacy build step on top.
	df := fmt.Sprintf("FROM %s\nSTOPSIGNAL SIGRTMIN+3\nLABEL dev.pvreboot.image=base dev.pvreboot.key=%s\n", imported, k)
	argv := append(append([]string{}, r.cfg.Docker...), "build", "-q", "-t", ref, "-")
	if _, err := exec.Output(ctx, exec.Cmd{Argv: argv, Stdin: strings.NewReader(df), Env: []string{"DOCKER_BUILDKIT=0"}}); err != nil {
		return "", false, err
	}
	_, _ = r.docker(ctx, "rmi", imported)
	return ref, false, nil
}

// importDir imports a folder as an image with docker import.
func (r runner) importDir(ctx context.Context, dir, ref string, changes ...string) error {
	argv := []string{"tar", "-C", dir, "--numeric-owner", "-c", "."}
	args := []string{"import"}
	for _, c := range changes {
		args = append(args, "--change", c)
	}
	args = append(args, "-", ref)
	pr, pw, err := os.Pipe()
	if err != nil {
		return err
	}
	errc := make(chan error, 1)
	go func() {
		_, err := exec.Output(ctx, exec.Cmd{Argv: argv, Stdout: pw})
		pw.Close()
		errc <- err
	}()
	_, err = r.dockerIn(ctx, pr, args...)
	pr.Close()
	if terr := <-errc; terr != nil {
		return terr
	}
	return err
}

// criBaseSpec is containerd's default OCI spec with kind's
// mount-product-files hook and without rlimits, as kind's base image has it.
func criBaseSpec(spec []byte) ([]byte, error) {
	var doc map[string]any
	if err := json.Unmarshal(spec, &doc); err != nil {
		return nil, fmt.Errorf("parse ctr oci spec: %w", err)
	}
	hooks, _ := doc["hooks"].(map[string]any)
	if hooks == nil {
		hooks = map[string]any{}
	}
	cc, _ := hooks["createContainer"].([]any)
	hooks["createContainer"] = append(cc, map[string]any{"path": "/kind/bin/mount-product-files.sh"})
	doc["hooks"] = hooks
	if p, ok := doc["process"].(map[string]any); ok {
		delete(p, "rlimits")
	}
	return json.MarshalIndent(doc, "", "  ")
}
