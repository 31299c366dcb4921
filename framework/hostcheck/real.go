package hostcheck

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/pvreboot/pvreboot/framework/exec"
	"golang.org/x/sys/unix"
)

// DockerCLI asks the engine through the docker command (Argv, e.g.
// ["docker"]), with DOCKER_HOST set to the host asked about.
type DockerCLI struct {
	Argv []string
}

func (d DockerCLI) cmd(host string, args ...string) exec.Cmd {
	c := exec.Cmd{Argv: append(slices.Clone(d.Argv), args...)}
	if host != "" {
		c.Env = []string{"DOCKER_HOST=" + host}
	}
	return c
}

// Info runs `docker info` against host.
func (d DockerCLI) Info(ctx context.Context, host string) (DockerInfo, error) {
	out, err := exec.Output(ctx, d.cmd(host, "info", "--format", "{{json .}}"))
	if re, ok := errors.AsType[*exec.RunError](err); ok && len(bytesTrim(re.Output)) > 0 {
		// The engine's own words ("Cannot connect to the Docker daemon at ...").
		return DockerInfo{}, fmt.Errorf("docker info: %s", bytesTrim(re.Output))
	}
	if err != nil {
		return DockerInfo{}, err
	}
	var raw struct {
		ServerVersion, DefaultRuntime, CgroupVersion, DockerRootDir string
		Runtimes                                                    map[string]json.RawMessage
		RegistryConfig                                              *struct{ Mirrors []string }
		ServerErrors                                                []string
	}
	if err := json.Unmarshal(out, &raw); err != nil {
		return DockerInfo{}, fmt.Errorf("docker info: %w", err)
	}
	if raw.ServerVersion == "" {
		if len(raw.ServerErrors) > 0 {
			return DockerInfo{}, errors.New(strings.Join(raw.ServerErrors, "; "))
		}
		return DockerInfo{}, errors.New("docker info: no server answered")
	}
	info := DockerInfo{ServerVersion: raw.ServerVersion, DefaultRuntime: raw.DefaultRuntime, CgroupVersion: raw.CgroupVersion, RootDir: raw.DockerRootDir}
	for name := range raw.Runtimes {
		info.Runtimes = append(info.Runtimes, name)
	}
	slices.Sort(info.Runtimes)
	if raw.RegistryConfig != nil {
		info.Mirrors = raw.RegistryConfig.Mirrors
	}
	return info, nil
}

// bytesTrim keeps the last non-JSON line of a docker command's output:
// docker info prints an empty JSON document before its error.
func bytesTrim(out string) string {
	lines := strings.Split(strings.TrimSpace(out), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if l := strings.TrimSpace(lines[i]); l != "" && !strings.HasPrefix(l, "{") {
			return l
		}
	}
	return ""
}

// ImagePresent reports whether the engine at host has the image ref.
func (d DockerCLI) ImagePresent(ctx context.Context, host, ref string) (bool, error) {
	out, err := exec.Output(ctx, d.cmd(host, "image", "ls", "--quiet", ref))
	if err != nil {
		return false, err
	}
	return strings.TrimSpace(string(out)) != "", nil
}

// HTTPRegistry checks a registry with one GET of its /v2/ endpoint; any
// HTTP answer (200, or 401 asking for a token) means it is reachable.
type HTTPRegistry struct {
	Client *http.Client
}

// Reachable reports whether https://host/v2/ answers before ctx ends.
func (r HTTPRegistry) Reachable(ctx context.Context, host string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "https://"+host+"/v2/", nil)
	if err != nil {
		return err
	}
	resp, err := r.Client.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	return nil
}

// Statfs returns the bytes available to unprivileged users on the file
// system holding path.
func Statfs(path string) (uint64, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		return 0, fmt.Errorf("statfs %s: %w", path, err)
	}
	return st.Bavail * uint64(st.Bsize), nil
}
