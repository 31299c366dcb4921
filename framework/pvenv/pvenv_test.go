package pvenv

import (
	"context"
	"errors"
	"net/http"
	"os"
	"testing"

	"github.com/pvreboot/pvreboot/framework/cluster/existing"
	"github.com/pvreboot/pvreboot/framework/scenario"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/e2e-framework/klient/k8s/resources"
	"sigs.k8s.io/e2e-framework/pkg/envconf"
)

// fakeClient is a klient.Client that only has a REST config, as a suite's
// own client made elsewhere would.
type fakeClient struct{ rc *rest.Config }

func (f fakeClient) RESTConfig() *rest.Config                 { return f.rc }
func (f fakeClient) Resources(...string) *resources.Resources { return nil }

func TestClusterOf(t *testing.T) {
	t.Parallel()
	rc := &rest.Config{Host: "https://10.0.0.1:6443", BearerToken: "t"}
	tests := []struct {
		name    string
		cfg     *envconf.Config
		want    source
		wantErr error
	}{
		{name: "nil config", cfg: nil, wantErr: ErrNoCluster},
		{name: "empty config", cfg: envconf.New(), wantErr: ErrNoCluster},
		{name: "kubeconfig file", cfg: envconf.NewWithKubeConfig("/k/config"), want: source{kubeconfig: "/k/config"}},
		{name: "kubeconfig file and context", cfg: envconf.NewWithKubeConfig("/k/config").WithKubeContext("lab"),
			want: source{kubeconfig: "/k/config", context: "lab"}},
		{name: "client wins over file", cfg: envconf.NewWithKubeConfig("/k/config").WithClient(fakeClient{rc}), want: source{rest: rc}},
		{name: "client without REST config", cfg: envconf.New().WithClient(fakeClient{}), wantErr: ErrNoCluster},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := clusterOf(tt.cfg)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("clusterOf: err %v, want %v", err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("clusterOf = %+v, want %+v", got, tt.want)
			}
		})
	}
}

// TestKubeconfigForRoundTrip writes a client's REST config as a kubeconfig
// and reads it back the way the runner does.
func TestKubeconfigForRoundTrip(t *testing.T) {
	t.Parallel()
	rc := &rest.Config{Host: "https://10.0.0.1:6443", BearerToken: "secret-token",
		TLSClientConfig: rest.TLSClientConfig{ServerName: "api.lab", Insecure: true},
		Impersonate:     rest.ImpersonationConfig{UserName: "alice", Groups: []string{"ops"}}}
	dir := t.TempDir()
	file, err := kubeconfigFor(rc, "", dir)
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(file); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("kubeconfig %s: mode %v, err %v; want 0600", file, fi.Mode(), err)
	}
	c, err := existing.Open([]string{file}, "")
	if err != nil {
		t.Fatal(err)
	}
	got := c.RESTConfig
	if got.Host != rc.Host || got.BearerToken != rc.BearerToken || got.ServerName != rc.ServerName ||
		!got.Insecure || got.Impersonate.UserName != "alice" || len(got.Impersonate.Groups) != 1 {
		t.Errorf("read back %+v, want the fields of %+v", got, rc)
	}
	if c.Name() != contextName {
		t.Errorf("context %q, want %q", c.Name(), contextName)
	}
}

func TestKubeconfigForRefusesCustomTransport(t *testing.T) {
	t.Parallel()
	rc := &rest.Config{Host: "https://10.0.0.1:6443", Transport: http.DefaultTransport}
	if _, err := kubeconfigFor(rc, "", t.TempDir()); err == nil {
		t.Fatal("kubeconfigFor with a custom transport: no error")
	}
}

// TestPrepareNeverReplacesTheCluster: Prepare on a config without a cluster
// fails with ErrNoCluster and leaves the config as it was.
func TestPrepareNeverReplacesTheCluster(t *testing.T) {
	t.Parallel()
	cfg := envconf.New()
	s := &scenario.Scenario{Metadata: scenario.Metadata{Name: "s"}}
	_, err := Prepare(s, Options{})(context.Background(), cfg)
	if !errors.Is(err, ErrNoCluster) {
		t.Fatalf("Prepare: err %v, want ErrNoCluster", err)
	}
	if cfg.GetClient() != nil || cfg.KubeconfigFile() != "" {
		t.Errorf("Prepare changed the config: client %v, kubeconfig %q", cfg.GetClient(), cfg.KubeconfigFile())
	}
}
