package pvenv

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/pvreboot/pvreboot/framework/runner"
	"github.com/pvreboot/pvreboot/framework/scenario"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/e2e-framework/pkg/env"
	"sigs.k8s.io/e2e-framework/pkg/envconf"
	"sigs.k8s.io/e2e-framework/pkg/features"
)

type runKey struct{}

// ErrNoRun is returned when a step runs before Prepare.
var ErrNoRun = errors.New("no pvreboot run in the context: add pvenv.Prepare to the environment's Setup")

// ErrNoCluster is returned by Prepare when the envconf.Config names no
// cluster: neither a klient nor a kubeconfig file.
var ErrNoCluster = errors.New("envconf.Config has no cluster (no client, no kubeconfig file): " +
	"create or name one first, e.g. e2e-framework's envfuncs.CreateCluster or envconf.NewWithKubeConfig")

// Options is what a run needs beside the cluster and the scenario.
type Options struct {
	// ProbeImage is the workload image; kind nodes get it loaded, other
	// clusters must be able to pull it.
	ProbeImage string
	// SSHAgentSocket is the ssh-agent socket for the ssh reboot method.
	SSHAgentSocket string
	Log            *slog.Logger
	Progress       io.Writer
}

// RunFrom returns the run stored in ctx, or nil.
func RunFrom(ctx context.Context) *runner.Run {
	r, _ := ctx.Value(runKey{}).(*runner.Run)
	return r
}

// source is where the cluster of an envconf.Config is read from.
type source struct {
	kubeconfig string       // a file, when the config names one and has no client
	context    string       // the config's kube context (empty: the file's current one)
	rest       *rest.Config // the config's own client, when it has one
}

// clusterOf reads the cluster from cfg without changing cfg. The client
// wins over the kubeconfig file, as in cfg.Client().
func clusterOf(cfg *envconf.Config) (source, error) {
	if cfg == nil {
		return source{}, ErrNoCluster
	}
	if c := cfg.GetClient(); c != nil {
		rc := c.RESTConfig()
		if rc == nil {
			return source{}, fmt.Errorf("envconf.Config's client has no REST config: %w", ErrNoCluster)
		}
		return source{rest: rc, context: cfg.KubeContext()}, nil
	}
	if f := cfg.KubeconfigFile(); f != "" {
		return source{kubeconfig: f, context: cfg.KubeContext()}, nil
	}
	return source{}, ErrNoCluster
}

// contextName names the kubeconfig context written for a client-only config.
const contextName = "envconf"

// kubeconfigFor writes rc as a kubeconfig (mode 0600) into dir so that the
// runner can open it; it carries what a rest.Config can say in a kubeconfig
// and refuses a custom transport, which it cannot.
func kubeconfigFor(rc *rest.Config, name, dir string) (string, error) {
	if rc.Transport != nil || rc.WrapTransport != nil || rc.Dial != nil {
		return "", errors.New("envconf.Config's client uses a custom transport that pvreboot cannot reuse: give the config a kubeconfig file instead")
	}
	if name == "" {
		name = contextName
	}
	kc := clientcmdapi.NewConfig()
	kc.Clusters[name] = &clientcmdapi.Cluster{
		Server:                   rc.Host + rc.APIPath,
		CertificateAuthority:     rc.CAFile,
		CertificateAuthorityData: rc.CAData,
		InsecureSkipTLSVerify:    rc.Insecure,
		TLSServerName:            rc.ServerName,
	}
	kc.AuthInfos[name] = &clientcmdapi.AuthInfo{
		ClientCertificate:     rc.CertFile,
		ClientCertificateData: rc.CertData,
		ClientKey:             rc.KeyFile,
		ClientKeyData:         rc.KeyData,
		Token:                 rc.BearerToken,
		TokenFile:             rc.BearerTokenFile,
		Impersonate:           rc.Impersonate.UserName,
		ImpersonateUID:        rc.Impersonate.UID,
		ImpersonateGroups:     rc.Impersonate.Groups,
		ImpersonateUserExtra:  rc.Impersonate.Extra,
		Username:              rc.Username,
		Password:              rc.Password,
		AuthProvider:          rc.AuthProvider,
		Exec:                  rc.ExecProvider,
	}
	kc.Contexts[name] = &clientcmdapi.Context{Cluster: name, AuthInfo: name}
	kc.CurrentContext = name
	file := filepath.Join(dir, "kubeconfig")
	if err := clientcmd.WriteToFile(*kc, file); err != nil {
		return "", fmt.Errorf("write kubeconfig for envconf.Config's client: %w", err)
	}
	return file, os.Chmod(file, 0o600)
}

// open turns the cluster of cfg into a runner configuration. It never
// creates, replaces or deletes the cluster.
func open(ctx context.Context, cfg *envconf.Config, s *scenario.Scenario, o Options) (runner.Config, error) {
	src, err := clusterOf(cfg)
	if err != nil {
		return runner.Config{}, err
	}
	es := runner.ExistingSetup{Kubeconfig: []string{src.kubeconfig}, Context: src.context, ProbeImage: o.ProbeImage,
		SSHAgentSocket: o.SSHAgentSocket, Log: o.Log, Progress: o.Progress}
	if src.rest != nil {
		// The runner reads a kubeconfig once, in runner.Existing; this copy
		// of the client's credentials lives only for that call.
		dir, err := os.MkdirTemp("", "pvenv-")
		if err != nil {
			return runner.Config{}, err
		}
		defer os.RemoveAll(dir)
		file, err := kubeconfigFor(src.rest, src.context, dir)
		if err != nil {
			return runner.Config{}, err
		}
		es.Kubeconfig, es.Context = []string{file}, ""
	}
	return runner.Existing(ctx, s, es)
}

// Prepare creates the Local PVs and the workload pod on the cluster of the
// environment's envconf.Config (its client, else its kubeconfig file and
// context), whatever created it: an env.Func for Setup, after the step that
// makes or names the cluster. Kind nodes (providerID kind://) are rebooted
// through their containers and get the probe image loaded.
func Prepare(s *scenario.Scenario, o Options) env.Func {
	return func(ctx context.Context, cfg *envconf.Config) (context.Context, error) {
		rc, err := open(ctx, cfg, s, o)
		if err != nil {
			return ctx, fmt.Errorf("pvenv prepare %s: %w", s.Metadata.Name, err)
		}
		run, err := runner.New(rc)
		if err != nil {
			return ctx, err
		}
		ctx = context.WithValue(ctx, runKey{}, run)
		return ctx, run.Prepare(ctx)
	}
}

// Cleanup removes what the run created and writes its outputs to dir (when
// set): an env.Func for Finish, before the step that removes the cluster.
// The cluster itself is left alone.
func Cleanup(dir string) env.Func {
	return func(ctx context.Context, _ *envconf.Config) (context.Context, error) {
		run := RunFrom(ctx)
		if run == nil {
			return ctx, nil
		}
		run.Finish()
		var errs []error
		if dir != "" {
			errs = append(errs, runner.WriteOutputs(dir, run.Result))
		}
		errs = append(errs, run.Cleanup(ctx))
		return ctx, errors.Join(errs...)
	}
}

func step(name string, f func(*runner.Run, context.Context) error) features.Func {
	return func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
		t.Helper()
		run := RunFrom(ctx)
		if run == nil {
			t.Fatal(ErrNoRun)
		}
		if err := f(run, ctx); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		return ctx
	}
}

// Baseline writes the canary file and measures before the reboot.
func Baseline() features.Func { return step("baseline", (*runner.Run).Baseline) }

// RebootNode reboots the node and waits for the node and the same pod.
func RebootNode() features.Func { return step("reboot", (*runner.Run).Reboot) }

// MeasureAfterReboot measures in the same pod after the reboot.
func MeasureAfterReboot() features.Func { return step("after-reboot", (*runner.Run).AfterReboot) }

// RecreateAndMeasure recreates the pod and measures again.
func RecreateAndMeasure() features.Func {
	return step("after-recreate", func(r *runner.Run, ctx context.Context) error {
		if err := r.Recreate(ctx); err != nil {
			return err
		}
		return r.AfterRecreate(ctx)
	})
}

// AssertBudgets fails the test for every violated budget or lost data.
func AssertBudgets() features.Func {
	return func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
		t.Helper()
		run := RunFrom(ctx)
		if run == nil {
			t.Fatal(ErrNoRun)
		}
		run.Finish()
		for _, f := range run.Result.Verdict.Failures() {
			t.Errorf("budget %s: %s", f.Name, f.Detail)
		}
		for _, c := range run.Result.Diagnosis {
			t.Logf("diagnosis: %s", c)
		}
		return ctx
	}
}
