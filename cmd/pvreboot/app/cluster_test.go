package app

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

func TestKindKubeconfigPath(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	existing := filepath.Join(dir, "existing")
	if err := os.WriteFile(existing, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	list := func(p ...string) string { return strings.Join(p, string(filepath.ListSeparator)) }
	tests := []struct {
		name string
		env  map[string]string
		want string
	}{
		{name: "home", env: map[string]string{"HOME": "/home/u"}, want: "/home/u/.kube/config"},
		{name: "one file, missing", env: map[string]string{"HOME": "/home/u", "KUBECONFIG": a}, want: a},
		{name: "first that exists", env: map[string]string{"KUBECONFIG": list(a, existing, b)}, want: existing},
		{name: "none exists: the last", env: map[string]string{"KUBECONFIG": list(a, "", b, a)}, want: b},
		{name: "only separators", env: map[string]string{"HOME": "/home/u", "KUBECONFIG": list("", "")}, want: "/home/u/.kube/config"},
		{name: "nothing", env: map[string]string{}, want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := kindKubeconfigPath(tt.env); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestRemoveKindContext(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "config")
	cfg := clientcmdapi.NewConfig()
	for _, n := range []string{"kind-lab", "kind-lab2", "prod"} {
		cfg.Clusters[n] = &clientcmdapi.Cluster{Server: "https://" + n}
		cfg.AuthInfos[n] = &clientcmdapi.AuthInfo{Token: n}
		cfg.Contexts[n] = &clientcmdapi.Context{Cluster: n, AuthInfo: n}
	}
	cfg.CurrentContext = "kind-lab"
	if err := clientcmd.WriteToFile(*cfg, file); err != nil {
		t.Fatal(err)
	}
	// Another engine's cluster of the same name: its entry stays.
	if removed, err := removeKindContext(file, "lab", "https://elsewhere"); removed || err != nil {
		t.Fatalf("an entry for another server: removed %v, err %v", removed, err)
	}
	removed, err := removeKindContext(file, "lab", "https://kind-lab")
	if err != nil || !removed {
		t.Fatalf("removed %v, err %v", removed, err)
	}
	got, err := clientcmd.LoadFromFile(file)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"kind-lab2", "prod"} {
		if got.Contexts[n] == nil || got.Clusters[n] == nil || got.AuthInfos[n] == nil {
			t.Errorf("%s was removed too", n)
		}
	}
	if got.Contexts["kind-lab"] != nil || got.Clusters["kind-lab"] != nil || got.AuthInfos["kind-lab"] != nil || got.CurrentContext != "" {
		t.Errorf("kind-lab left: %+v, current %q", got.Contexts, got.CurrentContext)
	}
	if removed, err := removeKindContext(file, "lab", "https://kind-lab"); removed || err != nil {
		t.Errorf("second removal: %v, %v", removed, err)
	}
	if removed, err := removeKindContext(filepath.Join(t.TempDir(), "none"), "lab", "https://kind-lab"); removed || err != nil {
		t.Errorf("missing file: %v, %v", removed, err)
	}
}

func TestClusterKubeconfigBadInput(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		{"cluster", "kubeconfig", "--name", "Lab_1"},
		{"cluster", "kubeconfig", "--name", ""},
	} {
		code, _, stderr := run(t, args...)
		if code != 2 || !strings.Contains(stderr, "--name: ") {
			t.Errorf("%v: exit %d, stderr %q", args, code, stderr)
		}
	}
	if code, _, stderr := run(t, "cluster", "kubeconfig", "extra"); code != 2 || !strings.Contains(stderr, `pvreboot cluster kubeconfig: unexpected argument "extra"`) {
		t.Errorf("extra argument: exit %d, stderr %q", code, stderr)
	}
}

// TestClusterKubeconfigNoSuchCluster needs a Docker engine that answers
// (kind lists clusters from its containers); it creates nothing.
func TestClusterKubeconfigNoSuchCluster(t *testing.T) {
	t.Parallel()
	if err := exec.Command("docker", "info").Run(); err != nil {
		t.Skipf("needs a Docker engine that answers (docker info: %v)", err)
	}
	code, out, stderr := run(t, "cluster", "kubeconfig", "--name", "pvreboot-no-such-cluster")
	if code != 3 || out != "" || !strings.Contains(stderr, `kind cluster "pvreboot-no-such-cluster" does not exist: create it with `+"`pvreboot cluster create --name pvreboot-no-such-cluster") {
		t.Errorf("exit %d, stdout %q, stderr %q", code, out, stderr)
	}
}
