package nodeimage

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/pvreboot/pvreboot/framework/exec"
)

// stepFormat is bumped when a step's recipe changes, so that outputs built by
// an older recipe are not reused.
const stepFormat = "pvreboot-nodeimage-3"

// key hashes JSON-encodable descriptions into a content address, n hex
// digits long.
func key(n int, parts ...any) (string, error) {
	h := sha256.New()
	h.Write([]byte(stepFormat))
	for _, p := range parts {
		b, err := json.Marshal(p)
		if err != nil {
			return "", fmt.Errorf("content address of step input %T: %w", p, err)
		}
		h.Write(b)
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))[:n], nil
}

// fileHashes returns the sha256 of every regular file in dir, by name.
func fileHashes(dir string) (map[string]string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, e := range ents {
		if !e.Type().IsRegular() || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		s, err := fileSHA256(filepath.Join(dir, e.Name()))
		if err != nil {
			return nil, err
		}
		out[e.Name()] = s
	}
	return out, nil
}

func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("hash %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func complete(dir string) bool {
	_, err := os.Stat(dir + ".complete")
	return err == nil
}

func markComplete(dir string, info any) error {
	b, _ := json.MarshalIndent(info, "", "  ")
	return os.WriteFile(dir+".complete", b, 0o644)
}

func sortedKeys(m map[string]string) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// runner runs commands with the build's docker and go; progress, when
// set, gets what long commands say they are doing.
type runner struct {
	cfg      Config
	progress *progress
}

func (r runner) run(ctx context.Context, dir string, env []string, argv ...string) ([]byte, error) {
	r.cfg.Log.Debug("run", "argv", argv, "dir", dir)
	return exec.Run(ctx, exec.Cmd{Argv: argv, Dir: dir, Env: env})
}

func (r runner) docker(ctx context.Context, args ...string) ([]byte, error) {
	argv := append(append([]string{}, r.cfg.Docker...), args...)
	r.cfg.Log.Debug("docker", "argv", argv)
	return exec.Output(ctx, exec.Cmd{Argv: argv})
}

func (r runner) dockerIn(ctx context.Context, in io.Reader, args ...string) ([]byte, error) {
	argv := append(append([]string{}, r.cfg.Docker...), args...)
	r.cfg.Log.Debug("docker", "argv", argv)
	return exec.Output(ctx, exec.Cmd{Argv: argv, Stdin: in})
}

func (r runner) imageExists(ctx context.Context, ref string) bool {
	_, err := r.docker(ctx, "image", "inspect", "--format", "{{.Id}}", ref)
	return err == nil
}
