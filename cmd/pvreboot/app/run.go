package app

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/pvreboot/pvreboot"
	"github.com/pvreboot/pvreboot/cmd/internal/exitcode"
	"github.com/pvreboot/pvreboot/framework/calibrate"
	"github.com/pvreboot/pvreboot/framework/cluster/existing"
	kindprovider "github.com/pvreboot/pvreboot/framework/cluster/kind"
	"github.com/pvreboot/pvreboot/framework/report"
	"github.com/pvreboot/pvreboot/framework/runner"
	"github.com/pvreboot/pvreboot/framework/scenario"
	"github.com/spf13/cobra"
	"k8s.io/client-go/kubernetes"
)

// dryRunPlan prints what a run would reboot; it creates nothing.
func dryRunPlan(cmd *cobra.Command, g *globals, s *scenario.Scenario, allowReboot bool) error {
	if s.Spec.Cluster.Kind == nil {
		return errors.New("the scenario names no kind cluster")
	}
	ctx := cmd.Context()
	name := s.Spec.Cluster.Kind.Name
	p := kindprovider.New(g.logger(), g.s.Err)
	c, err := p.Get(ctx, name)
	if err != nil {
		if errors.Is(err, kindprovider.ErrNotFound) {
			fmt.Fprintf(g.s.Out, "kind cluster %q does not exist: a run would create it, then reboot %v with %s\n", name, s.Spec.Cluster.Nodes.Names, s.Spec.Reboot.Method)
			return nil
		}
		return err
	}
	_, client, err := c.Client(ctx)
	if err != nil {
		return err
	}
	return printPlan(cmd, g, client, s, allowReboot)
}

// printPlan prints the reboot plan; a refused plan is bad input (exit 2).
func printPlan(cmd *cobra.Command, g *globals, client kubernetes.Interface, s *scenario.Scenario, allowReboot bool) error {
	plan, err := runner.BuildPlan(cmd.Context(), client, s, runner.PlanOptions{AllowReboot: allowReboot})
	if err != nil {
		return err
	}
	fmt.Fprint(g.s.Out, plan.String())
	if err := plan.Check(); err != nil {
		return exitcode.UsageError(err)
	}
	return nil
}

func newRunCmd(g *globals) *cobra.Command {
	var (
		outputDir                 string
		keep, dryRun, allowReboot bool
		eventsFile, calibration   string
		output                    string
		cf                        clusterFlags
	)
	cmd := &cobra.Command{
		Use:   "run SCENARIO.yaml",
		Short: "Run a reboot scenario: baseline, reboot, after-reboot (same pod), recreate, after-recreate, verdict",
		Long: "run provisions Local PVs and a workload pod, measures per-call copy latency, reboots the node,\n" +
			"measures again in the same pod and in a recreated one, checks the data written before the reboot,\n" +
			"and judges the scenario's budgets. Exit 0 pass, 1 budget violated, 2 invalid input, 3 infrastructure.",
		Example: `  pvreboot run scenarios/sendfile-after-reboot.yaml --probe-image pvreboot/copyprobe:dev
  pvreboot run scenarios/regression-io-throttle.yaml --output-dir _artifacts/throttle`,
		Args: exactArgs(1, "SCENARIO.yaml"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(output, outputText, outputJSON, outputYAML); err != nil {
				return err
			}
			s, err := loadScenario(args[0])
			if err != nil {
				return exitcode.UsageError(err)
			}
			// Only the person running pvreboot authorises rebooting machines.
			if v, ok := g.env["PVREBOOT_ALLOW_REBOOT"]; ok && !cmd.Flags().Changed("allow-reboot") {
				b, perr := strconv.ParseBool(v)
				if perr != nil {
					return exitcode.Usagef("PVREBOOT_ALLOW_REBOOT=%q: want true or false", v)
				}
				allowReboot = b
			}
			var cal *calibrate.Calibration
			if calibration != "" {
				if cal, err = readCalibration(calibration, s); err != nil {
					return exitcode.Usagef("--calibration: %v", err)
				}
			}
			started := time.Now()
			cfg, planned, err := clusterConfig(cmd, g, s, args[0], cf, dryRun, allowReboot)
			if planned {
				return err
			}
			if err != nil {
				return setupFailed(cmd.Context(), g, s, cf, output, outputDir, started, err)
			}
			cfg.Keep = keep
			cfg.Build = resultBuild()
			cfg.AllowReboot = allowReboot
			cfg.StateDir, cfg.Holder = g.stateDir(), holder()
			if eventsFile != "" {
				f, err := os.OpenFile(eventsFile, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
				if err != nil {
					return exitcode.Usagef("--events: %v", err)
				}
				defer f.Close()
				cfg.Events = runner.JSONLines(f)
			}
			run, err := runner.New(cfg)
			if err != nil {
				if cfg.Close != nil {
					err = errors.Join(err, cfg.Close(context.WithoutCancel(cmd.Context())))
				}
				return setupFailed(cmd.Context(), g, s, cf, output, outputDir, started, err)
			}
			run.Result.Calibration = cal
			defer g.registerRun(run)()
			runErr := run.Execute(cmd.Context(), runner.ArtifactsIn(outputDir))
			if err := runner.WriteOutputs(outputDir, run.Result); err != nil {
				runErr = errors.Join(runErr, err)
			}
			if err := printResult(g, output, outputDir, run.Result); err != nil {
				runErr = errors.Join(runErr, err)
			}
			if lb := (*runner.LeftBehindError)(nil); errors.As(runErr, &lb) {
				fmt.Fprintf(g.s.Err, "\nleft behind by run %s:\n  %s\nonce the cluster and node answer, remove it with:\n  %s\n",
					lb.Run, strings.Join(lb.Items, "\n  "), finishCommand(lb.Run, s, resolvedKubeconfig(cf.kubeconfig, s, g.env), cf.kubeContext, cf.probeImage))
			}
			if runErr != nil {
				return runErr
			}
			if !run.Result.Verdict.Pass {
				return exitcode.ViolationError(fmt.Errorf("scenario %s: %d budget(s) violated", s.Metadata.Name, len(run.Result.Verdict.Failures())))
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&outputDir, "output-dir", "_artifacts/run", "where result.json, summaries and junit.xml go")
	cf.add(cmd)
	cmd.Flags().BoolVar(&keep, "keep", false, "keep the namespace, PVs and backings after the run")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "print the reboot plan (nodes, method, affected pods, safety checks) and change nothing")
	cmd.Flags().StringVar(&calibration, "calibration", "", "record this calibration (calibration.json from pvreboot calibrate of the same scenario) in the result")
	cmd.Flags().StringVar(&eventsFile, "events", "", "write the run's structured events (step boundaries, reboot milestones, cleanup) to this file as JSON lines")
	cmd.Flags().StringVarP(&output, "output", "o", outputText, "what to print to stdout at the end: text (the summary), json or yaml (the Result); progress goes to stderr")
	cmd.Flags().BoolVar(&allowReboot, "allow-reboot", false, "confirm rebooting real machines (ssh, command, node-pod methods); also PVREBOOT_ALLOW_REBOOT=true. A scenario file cannot")
	return cmd
}

// setupFailed ends a run whose cluster could not be set up (or that was
// interrupted meanwhile): it still writes the outputs, a Result whose
// Failure names the cluster-setup step, and a kind cluster's logs when the
// cluster exists. A refusal of what was asked (exit 2) writes nothing:
// nothing was tried.
func setupFailed(ctx context.Context, g *globals, s *scenario.Scenario, cf clusterFlags, output, outputDir string, started time.Time, err error) error {
	var coded *exitcode.Error
	if errors.As(refusalIsUsage(err), &coded) {
		return err
	}
	provider := "kind"
	if cf.kubeconfig != "" || cf.kubeContext != "" || s.Spec.Cluster.Existing != nil {
		provider = "existing"
	}
	res := runner.SetupFailure(s, resultBuild(), provider, started, err, ctx.Err() != nil)
	fmt.Fprintf(g.s.Err, "cluster setup failed: %v\n", err)
	if provider == "kind" {
		fmt.Fprintf(g.s.Err, "exporting the kind cluster's logs to %s\n", filepath.Join(outputDir, runner.ClusterLogsDir))
		// Bounded on its own: an interrupt ended ctx.
		if lerr := runner.SaveKindSetupLogs(context.WithoutCancel(ctx), s, outputDir, res, g.logger()); lerr != nil {
			fmt.Fprintf(g.s.Err, "cluster logs not saved: %v\n", lerr)
		}
	}
	if werr := runner.WriteOutputs(outputDir, res); werr != nil {
		err = errors.Join(err, werr)
	}
	if perr := printResult(g, output, outputDir, res); perr != nil {
		err = errors.Join(err, perr)
	}
	return err
}

// printResult prints a run's Result to stdout: the text summary, or the
// Result as JSON or YAML (then the line naming the output directory goes to
// stderr, so that stdout is one document).
func printResult(g *globals, output, outputDir string, res *report.Result) error {
	where := g.s.Out
	if output == outputText {
		fmt.Fprintln(g.s.Out)
		_ = report.Text(g.s.Out, res)
	} else {
		if err := writeDoc(g.s.Out, output, res); err != nil {
			return err
		}
		where = g.s.Err
	}
	fmt.Fprintf(where, "\nresults in %s (result.json, summary.txt, summary.md, junit.xml, report.html, metrics.prom)\n", outputDir)
	return nil
}

// clusterFlags say which cluster a command works on and with which images.
type clusterFlags struct {
	node                    nodeImageFlags
	probeImage              string
	kubeconfig, kubeContext string
}

func (f *clusterFlags) add(cmd *cobra.Command) {
	f.node.add(cmd)
	cmd.Flags().StringVar(&f.probeImage, "probe-image", "", "the copyprobe workload image (from pvreboot image probe; default: assembled and loaded on kind)")
	cmd.Flags().StringVar(&f.kubeconfig, "kubeconfig", "", "kubeconfig of an existing cluster (default: $KUBECONFIG, ~/.kube/config); pvreboot never creates or deletes it")
	cmd.Flags().StringVar(&f.kubeContext, "context", "", "kubeconfig context of an existing cluster")
}

// clusterConfig sets up the scenario's cluster (a kind cluster, made or
// reused, or an existing one) for a run. With dryRun it prints the reboot
// plan instead and says so (planned).
func clusterConfig(cmd *cobra.Command, g *globals, s *scenario.Scenario, path string, f clusterFlags, dryRun, allowReboot bool) (cfg runner.Config, planned bool, err error) {
	useExisting := f.kubeconfig != "" || f.kubeContext != "" || s.Spec.Cluster.Existing != nil
	if err := f.node.check(cmd); err != nil {
		return cfg, false, err
	}
	base, _ := os.Getwd()
	if k := s.Spec.Cluster.Kind; k != nil && !useExisting && !filepath.IsAbs(k.Config) && !exists(filepath.Join(base, k.Config)) && exists(path) {
		// Relative to the repository the scenario file lives in (a shipped
		// scenario has none: its config is a file here or the shipped copy).
		base = filepath.Dir(filepath.Dir(mustAbs(path)))
	}
	ctx := cmd.Context()
	if dryRun && !useExisting {
		return cfg, true, dryRunPlan(cmd, g, s, allowReboot)
	}
	if f.probeImage == "" && useExisting {
		return cfg, false, exitcode.Usagef("--probe-image: required on an existing cluster (push one with `pvreboot image probe --push REF`)")
	}
	if f.probeImage == "" {
		if f.probeImage, err = defaultProbeImage(ctx, g); err != nil {
			return cfg, false, err
		}
	}
	if !useExisting {
		cfg, _, err = runner.Kind(ctx, s, runner.KindSetup{NodeImage: f.node.image, ResolveNodeImage: f.node.resolver(cmd, g), ProbeImage: f.probeImage, BaseDir: base, Configs: pvreboot.Files(), SSHAgentSocket: g.env["SSH_AUTH_SOCK"], Log: g.logger(), Progress: g.s.Err,
			RemoteEngine: remoteEngine(g.env["DOCKER_HOST"])})
		return cfg, false, err
	}
	es := runner.ExistingSetup{Context: f.kubeContext, ProbeImage: f.probeImage, SSHAgentSocket: g.env["SSH_AUTH_SOCK"], Log: g.logger(), Progress: g.s.Err}
	switch {
	case f.kubeconfig != "":
		es.Kubeconfig = []string{f.kubeconfig}
	case s.Spec.Cluster.Existing != nil && s.Spec.Cluster.Existing.Kubeconfig != "":
		es.Kubeconfig = []string{s.Spec.Cluster.Existing.Kubeconfig}
		// Named by the scenario, not by the person: it must not run
		// programs on this host.
		ctxName := f.kubeContext
		if ctxName == "" {
			ctxName = s.Spec.Cluster.Existing.Context
		}
		if err := existing.CheckNoCredentialPlugins(es.Kubeconfig, ctxName); err != nil {
			return cfg, false, exitcode.Usagef("spec.cluster.existing.kubeconfig: %v (a scenario cannot run programs on this host: pass such a kubeconfig with --kubeconfig or $KUBECONFIG)", err)
		}
	case g.env["KUBECONFIG"] != "":
		es.Kubeconfig = filepath.SplitList(g.env["KUBECONFIG"])
	}
	if es.Context == "" && s.Spec.Cluster.Existing != nil {
		es.Context = s.Spec.Cluster.Existing.Context
	}
	if dryRun {
		// Reads only: no helper namespace, no image load.
		client, err := runner.ExistingForPlan(ctx, s, es)
		if err != nil {
			return cfg, true, err
		}
		return cfg, true, printPlan(cmd, g, client, s, allowReboot)
	}
	cfg, err = runner.Existing(ctx, s, es)
	return cfg, false, err
}

// resolvedKubeconfig is the kubeconfig a run used: the flag, the
// scenario's, or $KUBECONFIG (its files joined as kubectl takes them).
func resolvedKubeconfig(flag string, s *scenario.Scenario, env map[string]string) string {
	switch {
	case flag != "":
		return flag
	case s.Spec.Cluster.Existing != nil && s.Spec.Cluster.Existing.Kubeconfig != "":
		return s.Spec.Cluster.Existing.Kubeconfig
	case s.Spec.Cluster.Existing != nil:
		return env["KUBECONFIG"]
	}
	return ""
}

// holder names this process in a run's Lease.
func holder() string {
	h, err := os.Hostname()
	if err != nil {
		h = "unknown-host"
	}
	return fmt.Sprintf("%s:%d", h, os.Getpid())
}

// stateDir is where local copies of runs' ledgers live:
// $XDG_STATE_HOME/pvreboot/runs, else ~/.local/state/pvreboot/runs.
func (g *globals) stateDir() string {
	if d := g.env["XDG_STATE_HOME"]; d != "" {
		return filepath.Join(d, "pvreboot", "runs")
	}
	if h := g.env["HOME"]; h != "" {
		return filepath.Join(h, ".local", "state", "pvreboot", "runs")
	}
	return ""
}

// finishCommand is the pvreboot cleanup command that removes what a run
// left behind.
func finishCommand(run string, s *scenario.Scenario, kubeconfig, kubeContext, probeImage string) string {
	argv := []string{"pvreboot", "cleanup", "--run", run}
	switch {
	case kubeconfig != "" || kubeContext != "" || s.Spec.Cluster.Existing != nil:
		if kubeconfig != "" {
			argv = append(argv, "--kubeconfig", kubeconfig)
		} else if e := s.Spec.Cluster.Existing; e != nil && e.Kubeconfig != "" {
			argv = append(argv, "--kubeconfig", e.Kubeconfig)
		}
		if kubeContext != "" {
			argv = append(argv, "--context", kubeContext)
		} else if e := s.Spec.Cluster.Existing; e != nil && e.Context != "" {
			argv = append(argv, "--context", e.Context)
		}
		for _, n := range s.Spec.Cluster.Nodes.Names {
			argv = append(argv, "--node", n)
		}
		argv = append(argv, "--probe-image", probeImage)
	case s.Spec.Cluster.Kind != nil:
		argv = append(argv, "--name", s.Spec.Cluster.Kind.Name)
	}
	for i, a := range argv {
		argv[i] = shellWord(a)
	}
	return strings.Join(argv, " ")
}

// shellWord quotes a word for a person to paste into a POSIX shell.
func shellWord(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./:=@") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// remoteEngine reports whether DOCKER_HOST names an engine on another
// machine (tcp://, ssh://), whose kernel is not this host's.
func remoteEngine(dockerHost string) bool {
	return dockerHost != "" && !strings.HasPrefix(dockerHost, "unix://")
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

func mustAbs(p string) string {
	a, err := filepath.Abs(p)
	if err != nil {
		return p
	}
	return a
}
