package nodeimage

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/pvreboot/pvreboot/framework/exec"
	"golang.org/x/mod/modfile"
)

// goBuild is one `go build` of commands from the module proxy through a
// small wrapper module, into a content-addressed output folder.
type goBuild struct {
	Name     string            `json:"name"`
	Requires []string          `json:"requires"` // go get arguments, path@version
	Replace  map[string]string `json:"replace,omitempty"`
	Files    map[string]string `json:"files,omitempty"` // extra files in the wrapper module
	Tidy     bool              `json:"tidy,omitempty"`
	Packages []string          `json:"packages"`
	Outputs  []string          `json:"outputs"` // binary names, same order as Packages
	Tags     []string          `json:"tags,omitempty"`
	LDFlags  string            `json:"ldflags"`
}

func (r runner) goVersion(ctx context.Context) (string, error) {
	out, err := r.run(ctx, "", nil, r.cfg.Go, "env", "GOVERSION")
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(out)), nil
}

// build runs b unless its output folder is complete; it returns the folder.
func (r runner) build(ctx context.Context, b goBuild, goVersion string) (string, bool, error) {
	k, err := key(16, b, goVersion)
	if err != nil {
		return "", false, err
	}
	out := filepath.Join(r.cfg.CacheDir, "bin", b.Name+"-"+k)
	if complete(out) {
		return out, true, nil
	}
	work := filepath.Join(r.cfg.CacheDir, "build", b.Name+"-"+k)
	if err := os.RemoveAll(out); err != nil {
		return "", false, err
	}
	if err := os.MkdirAll(work, 0o755); err != nil {
		return "", false, err
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return "", false, err
	}
	mod := fmt.Sprintf("module pvrebootbuild/%s\n\ngo 1.26\n", b.Name)
	if len(b.Replace) > 0 {
		mod += "\nreplace (\n"
		for _, from := range sortedKeys(b.Replace) {
			mod += fmt.Sprintf("\t%s => %s\n", from, b.Replace[from])
		}
		mod += ")\n"
	}
	files := map[string]string{"go.mod": mod}
	if len(b.Files) == 0 {
		files["tools.go"] = "package pvrebootbuild\n"
	}
	for n, c := range b.Files {
		files[n] = c
	}
	_ = os.Remove(filepath.Join(work, "go.sum"))
	for n, c := range files {
		if err := os.WriteFile(filepath.Join(work, n), []byte(c), 0o644); err != nil {
			return "", false, err
		}
	}
	env := []string{"CGO_ENABLED=0", "GOFLAGS=-mod=mod"}
	step := goBuildStep(b.Name)
	for _, req := range b.Requires {
		if _, err := r.runGo(ctx, step, work, env, r.cfg.Go, "get", req); err != nil {
			return "", false, err
		}
	}
	if b.Tidy {
		if _, err := r.runGo(ctx, step, work, env, r.cfg.Go, "mod", "tidy"); err != nil {
			return "", false, err
		}
	}
	// -v: Go names each package as it builds it, for the heartbeat.
	args := []string{r.cfg.Go, "build", "-v", "-trimpath", "-ldflags", b.LDFlags}
	if len(b.Tags) > 0 {
		args = append(args, "-tags", strings.Join(b.Tags, " "))
	}
	if len(b.Packages) == 1 {
		args = append(args, "-o", filepath.Join(out, b.Outputs[0]))
	} else {
		args = append(args, "-o", out+"/")
	}
	args = append(args, b.Packages...)
	if _, err := r.runGo(ctx, step, work, env, args...); err != nil {
		return "", false, err
	}
	for _, o := range b.Outputs {
		if _, err := os.Stat(filepath.Join(out, o)); err != nil {
			return "", false, fmt.Errorf("build %s: expected binary %s: %w", b.Name, o, err)
		}
	}
	return out, false, markComplete(out, b)
}

// kubernetesBuild builds the seven Kubernetes commands in one link step,
// through a wrapper module that maps every staging module to its version.
func (r runner) kubernetesBuild(ctx context.Context) (goBuild, error) {
	v := r.cfg.Versions.Kubernetes
	out, err := r.run(ctx, "", nil, r.cfg.Go, "mod", "download", "-json", "k8s.io/kubernetes@"+v)
	if err != nil {
		return goBuild{}, err
	}
	var info struct{ GoMod string }
	if err := json.Unmarshal(out, &info); err != nil || info.GoMod == "" {
		return goBuild{}, fmt.Errorf("go mod download k8s.io/kubernetes@%s: no go.mod in %q", v, out)
	}
	raw, err := os.ReadFile(info.GoMod)
	if err != nil {
		return goBuild{}, err
	}
	mf, err := modfile.Parse(info.GoMod, raw, nil)
	if err != nil {
		return goBuild{}, fmt.Errorf("parse %s: %w", info.GoMod, err)
	}
	sv := stagingVersion(v)
	repl := map[string]string{}
	for _, rp := range mf.Replace {
		if !strings.HasPrefix(rp.New.Path, "./staging/") {
			continue
		}
		// Not served by the proxy and not needed by any command.
		if strings.HasSuffix(rp.Old.Path, "sample-cli-plugin") || strings.HasSuffix(rp.Old.Path, "sample-controller") {
			continue
		}
		repl[rp.Old.Path] = rp.Old.Path + " " + sv
	}
	cmds := []string{"kubelet", "kubeadm", "kubectl", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kube-proxy"}
	b := goBuild{Name: "kubernetes-" + v, Replace: repl, LDFlags: k8sLDFlags(v)}
	for _, c := range cmds {
		b.Requires = append(b.Requires, "k8s.io/kubernetes/cmd/"+c+"@"+v)
		b.Packages = append(b.Packages, "k8s.io/kubernetes/cmd/"+c)
		b.Outputs = append(b.Outputs, c)
	}
	return b, nil
}

func k8sLDFlags(v string) string {
	ld := []string{"-s", "-w"}
	for _, p := range []string{"k8s.io/component-base/version", "k8s.io/client-go/pkg/version"} {
		ld = append(ld,
			"-X", p+".gitVersion="+v, "-X", p+".gitMajor=1", "-X", p+".gitMinor="+minor(v),
			"-X", p+".gitCommit=0000000000000000000000000000000000000000", "-X", p+".gitTreeState=clean",
			"-X", p+".buildDate=1970-01-01T00:00:00Z")
	}
	return strings.Join(ld, " ")
}

// corednsMain is a CoreDNS with the plugins the default kubeadm Corefile uses.
const corednsMain = `package main

import (
	_ "github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/coremain"
	_ "github.com/coredns/coredns/plugin/cache"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/forward"
	_ "github.com/coredns/coredns/plugin/health"
	_ "github.com/coredns/coredns/plugin/hosts"
	_ "github.com/coredns/coredns/plugin/kubernetes"
	_ "github.com/coredns/coredns/plugin/loadbalance"
	_ "github.com/coredns/coredns/plugin/log"
	_ "github.com/coredns/coredns/plugin/loop"
	_ "github.com/coredns/coredns/plugin/metrics"
	_ "github.com/coredns/coredns/plugin/ready"
	_ "github.com/coredns/coredns/plugin/reload"
)

func main() { coremain.Run() }
`

func extBuilds(v Versions) []goBuild {
	ctrd := "github.com/containerd/containerd/v2"
	return []goBuild{
		{
			Name:     "containerd-" + v.Containerd,
			Requires: []string{ctrd + "/cmd/containerd@" + v.Containerd, ctrd + "/cmd/ctr@" + v.Containerd, ctrd + "/cmd/containerd-shim-runc-v2@" + v.Containerd},
			Packages: []string{ctrd + "/cmd/containerd", ctrd + "/cmd/ctr", ctrd + "/cmd/containerd-shim-runc-v2"},
			Outputs:  []string{"containerd", "ctr", "containerd-shim-runc-v2"},
			Tags:     []string{"no_btrfs", "no_devmapper", "no_zfs", "no_aufs"},
			LDFlags:  "-s -w -X " + ctrd + "/version.Version=" + v.Containerd + " -X " + ctrd + "/version.Revision=pvreboot",
		},
		{
			Name:     "crictl-" + v.Crictl,
			Requires: []string{"sigs.k8s.io/cri-tools/cmd/crictl@" + v.Crictl},
			Packages: []string{"sigs.k8s.io/cri-tools/cmd/crictl"},
			Outputs:  []string{"crictl"},
			LDFlags:  "-s -w -X sigs.k8s.io/cri-tools/pkg/version.Version=" + v.Crictl,
		},
		{
			Name:     "etcd-" + v.Etcd,
			Requires: []string{"go.etcd.io/etcd/server/v3@" + v.Etcd},
			Packages: []string{"go.etcd.io/etcd/server/v3"},
			Outputs:  []string{"etcd"},
			LDFlags:  "-s -w",
		},
		{
			Name:     "coredns-" + v.CoreDNS,
			Requires: []string{"github.com/coredns/coredns@" + v.CoreDNS},
			Files:    map[string]string{"main.go": corednsMain},
			Tidy:     true,
			Packages: []string{"."},
			Outputs:  []string{"coredns"},
			LDFlags:  "-s -w",
		},
	}
}

// ownBuild makes pvreboot's own node-side binaries (pause, noderoutes): it
// builds them from the source tree, or copies the static executable under
// both names. It always runs (the Go build cache makes a build quick; a copy
// takes a second); the outputs are content-addressed by their hashes
// downstream, so the directory holds exactly them: built from sources, a
// change elsewhere (copyprobe lives in its own image) must not change the
// node image. Copied, they are the whole executable, so every other
// pvreboot build gives another node image key.
func (r runner) ownBuild(ctx context.Context) (string, error) {
	out := filepath.Join(r.cfg.CacheDir, "bin", "pvreboot-own")
	if err := os.RemoveAll(out); err != nil {
		return "", err
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return "", err
	}
	if r.cfg.Executable != "" {
		for _, name := range ownCommands() {
			if err := copyExecutable(r.cfg.Executable, filepath.Join(out, name)); err != nil {
				return "", err
			}
		}
		return out, nil
	}
	args := []string{r.cfg.Go, "build", "-v", "-trimpath", "-ldflags", "-s -w", "-o", out + "/"}
	for _, name := range ownCommands() {
		args = append(args, "./cmd/"+name)
	}
	_, err := r.runGo(ctx, r.cfg.ownStep(), r.cfg.SourceDir, []string{"CGO_ENABLED=0"}, args...)
	return out, err
}

// ownCommands are pvreboot's node-side commands, by binary name: each is
// cmd/<name> in the source tree and a name the static pvreboot answers to.
func ownCommands() []string { return []string{"pause", "noderoutes"} }

// copyExecutable copies the executable src to dst (mode 0755).
func copyExecutable(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return fmt.Errorf("copy executable: %w", err)
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o755)
	if err != nil {
		return fmt.Errorf("copy executable: %w", err)
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return fmt.Errorf("copy executable %s to %s: %w", src, dst, err)
	}
	return out.Close()
}

// goBuildStep is the progress step of the go build named name, as Build
// names it.
func goBuildStep(name string) string { return "go build " + name }

// ownStep is the progress step of ownBuild: what it does with c.
func (c Config) ownStep() string {
	if c.Executable != "" {
		return "pause, noderoutes: copy the static pvreboot executable"
	}
	return goBuildStep("pause, noderoutes")
}

// ownFrom says, for the node image's build label, where pause and
// noderoutes come from.
func (c Config) ownFrom() string {
	if c.Executable != "" {
		return "a static pvreboot executable"
	}
	return "the pvreboot source tree"
}

// runGo runs a go command whose output (go build -v, go get) tells the
// step's heartbeat which package it compiles or module it downloads.
func (r runner) runGo(ctx context.Context, step, dir string, env []string, argv ...string) ([]byte, error) {
	r.cfg.Log.Debug("run", "argv", argv, "dir", dir, "step", step)
	lw := &lineWriter{f: func(l string) {
		if d := goActivity(l); d != "" {
			r.progress.note(step, d)
		}
	}}
	return exec.Run(ctx, exec.Cmd{Argv: argv, Dir: dir, Env: env, Stream: lw})
}
