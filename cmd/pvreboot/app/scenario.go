package app

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/pvreboot/pvreboot/cmd/internal/exitcode"
	"github.com/pvreboot/pvreboot/framework/scenario"
	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/util/validation"
)

func newScenarioCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "scenario",
		Short: "List and show the scenarios built into pvreboot, or start a new one",
		Long: "The shipped scenarios are built into pvreboot: run, calibrate and validate take one by name\n" +
			"(`pvreboot run sendfile-after-reboot`) when no file of that name exists; a file path always wins.",
		Example: `  pvreboot scenario list
  pvreboot scenario show sendfile-after-reboot > mine.yaml
  pvreboot scenario init --name mine -o mine.yaml`,
	}
	cmd.AddCommand(newScenarioListCmd(g), newScenarioShowCmd(g), newScenarioInitCmd(g))
	return cmd
}

// shippedEntry is one shipped scenario in `scenario list -o json`.
type shippedEntry struct {
	Name        string `json:"name"`
	Description string `json:"description"`
}

func newScenarioListCmd(g *globals) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:     "list",
		Short:   "List the shipped scenarios: name and description, one line each",
		Example: "  pvreboot scenario list\n  pvreboot scenario list -o json",
		Args:    noArgs,
		RunE: func(_ *cobra.Command, _ []string) error {
			if output != "text" && output != "json" {
				return exitcode.Usagef("--output: unknown format %q (want text or json)", output)
			}
			entries := []shippedEntry{}
			for _, name := range shippedScenarios() {
				b, _, _ := shippedScenario(name)
				s, err := scenario.Parse(b)
				if err != nil {
					return fmt.Errorf("shipped scenario %s: %w", name, err)
				}
				entries = append(entries, shippedEntry{Name: name, Description: s.Metadata.Description})
			}
			if output == "json" {
				return writeJSON(g.s.Out, entries)
			}
			tw := tabwriter.NewWriter(g.s.Out, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tDESCRIPTION")
			for _, e := range entries {
				fmt.Fprintf(tw, "%s\t%s\n", e.Name, e.Description)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "text", "output format: text or json")
	return cmd
}

func newScenarioShowCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:     "show NAME",
		Short:   "Print a shipped scenario's YAML",
		Example: "  pvreboot scenario show sendfile-after-reboot\n  pvreboot scenario show regression-io-throttle > throttle.yaml",
		Args:    exactArgs(1, "NAME"),
		RunE: func(_ *cobra.Command, args []string) error {
			b, _, ok := shippedScenario(args[0])
			if !ok {
				return exitcode.Usagef("no shipped scenario %q (shipped: %s)", args[0], strings.Join(shippedScenarios(), ", "))
			}
			_, err := g.s.Out.Write(b)
			return err
		},
	}
}

func newScenarioInitCmd(g *globals) *cobra.Command {
	var (
		name, output string
		force        bool
	)
	cmd := &cobra.Command{
		Use:   "init",
		Short: "Write a commented starter scenario (to stdout, or to -o FILE)",
		Long: "init writes a scenario that validates as it is, every field it sets explained in a comment:\n" +
			"an ext4 Local PV on a kind worker, BusyBox cp's copy pattern, a clean node restart, and budgets\n" +
			"on the copy latency after the reboot. It never overwrites a file unless --force.",
		Example: `  pvreboot scenario init --name mine -o mine.yaml
  pvreboot validate mine.yaml
  pvreboot run mine.yaml --probe-image pvreboot/copyprobe:dev`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if msgs := validation.IsDNS1123Label(name); len(msgs) > 0 {
				return exitcode.Usagef("--name: %q is not a scenario name: %s", name, strings.Join(msgs, "; "))
			}
			if output == "" && cmd.Flags().Changed("output") {
				return exitcode.Usagef("--output: empty (omit it to write to stdout)")
			}
			b := starterScenario(name)
			if _, err := scenario.Parse(b); err != nil {
				return fmt.Errorf("the starter scenario does not validate (a bug in pvreboot): %w", err)
			}
			if output == "" || output == "-" {
				_, err := g.s.Out.Write(b)
				return err
			}
			if err := writeNew(output, b, force); err != nil {
				return err
			}
			fmt.Fprintf(g.s.Err, "wrote %s; check it with `pvreboot validate %s`, run it with `pvreboot run %s --probe-image IMAGE`\n",
				output, shellWord(output), shellWord(output))
			return nil
		},
	}
	cmd.Flags().StringVar(&name, "name", "my-scenario", "the scenario's metadata.name (a DNS-1123 label)")
	cmd.Flags().StringVarP(&output, "output", "o", "", "write to this file instead of stdout")
	cmd.Flags().BoolVar(&force, "force", false, "overwrite the --output file when it exists")
	return cmd
}

// writeNew writes b to file, which must not exist unless force.
func writeNew(file string, b []byte, force bool) error {
	if fi, err := os.Stat(filepath.Dir(file)); err != nil || !fi.IsDir() {
		return exitcode.Usagef("--output: %s: no such directory", filepath.Dir(file))
	}
	flags := os.O_WRONLY | os.O_CREATE | os.O_EXCL
	if force {
		flags = os.O_WRONLY | os.O_CREATE | os.O_TRUNC
	}
	f, err := os.OpenFile(file, flags, 0o644)
	if errors.Is(err, fs.ErrExist) {
		return exitcode.Usagef("--output: %s exists (pass --force to overwrite it)", file)
	}
	if err != nil {
		return exitcode.Usagef("--output: %v", err)
	}
	_, err = f.Write(b)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", file, err)
	}
	return nil
}

// starterScenario is the scenario `pvreboot scenario init` writes; name is a
// DNS-1123 label (checked by the caller), so it is plain YAML text.
func starterScenario(name string) []byte {
	return []byte(strings.ReplaceAll(starterYAML, "__NAME__", name))
}

// Every line that sets a field carries a comment, or follows one
// (TestScenarioInitExplainsEveryField).
const starterYAML = `# A pvreboot scenario, written by ` + "`pvreboot scenario init`" + `.
#   check it:       pvreboot validate FILE
#   see the plan:   pvreboot run FILE --dry-run --probe-image IMAGE
#   run it:         pvreboot run FILE --probe-image IMAGE
# Every field, its default and its limits: scenarios/README.md in the pvreboot
# repository. Worked examples: pvreboot scenario list, pvreboot scenario show NAME
# (faults for detection self-tests, block volumes, other reboot methods).

# The scenario API; pvreboot refuses any other version.
apiVersion: pvreboot.dev/v1alpha1
# Always Scenario.
kind: Scenario
# What the scenario is called.
metadata:
  # The scenario's name in reports and in the pvreboot.dev/scenario label (a DNS-1123 label).
  name: __NAME__
  # One line saying what the scenario shows; reports print it.
  description: sendfile copy latency on an ext4 Local PV before and after a clean node restart
# What the scenario does.
spec:
  # Where it runs.
  cluster:
    # A kind cluster pvreboot reuses, or creates when missing. For a cluster pvreboot did
    # not create, replace this with existing: {kubeconfig: PATH, context: NAME}, or pass
    # --kubeconfig and --context to pvreboot run.
    kind:
      # The kind cluster's name; its nodes are pvreboot-control-plane, pvreboot-worker, ...
      name: pvreboot
      # The kind v1alpha4 config used when the cluster is created: a file (relative to the
      # working directory), else the copy built into pvreboot of that name
      # (kind-config/one-worker.yaml, kind-config/two-workers.yaml).
      config: kind-config/two-workers.yaml
    # The node under test.
    nodes:
      # Node names; the first is the one rebooted (or selector: {matchLabels: {...}}).
      names: [pvreboot-worker]
  # The Local PVs the workload pod uses.
  volumes:
    # One volume; its PVC is called data.
  - name: data
    # filesystem: an image file on a loop device the node mounts at boot, before the
    # kubelet starts, as a real disk (or directory: a folder; block: a raw device).
    backing: filesystem
    # ext4, xfs or btrfs.
    fsType: ext4
    # The PV's capacity and the image's size: room for the source file and one copy.
    size: 2Gi
  # The copy the probe makes in the pod, measured in each phase.
  workload:
    # sendfile, BusyBox cp's system call (or copy_file_range, readwrite, exec).
    method: sendfile
    # The size of the file copied.
    fileSize: 256Mi
    # Bytes per call: 16Mi, as BusyBox cp.
    chunkSize: 16Mi
    # Copies per phase; the statistical budget below needs at least 5.
    iterations: 5
    # cold: the page cache is dropped before each copy, so that reads reach the disk (or warm).
    cache: cold
  # How the node is rebooted.
  reboot:
    # kind-restart: a clean stop and start of the node's container (kind-kill: a power
    # cut; ssh, command and node-pod reboot real machines and need --allow-reboot).
    method: kind-restart
    # How many reboots in a row.
    count: 1
    # The bound on one reboot and on the node and the pod being Ready again.
    timeout: 5m
  # Measured before the reboot, after it in the same pod, and in a pod recreated after it.
  phases: [baseline, after-reboot, after-recreate]
  # What the verdict checks: any budget violated fails the run (exit 1).
  budgets:
    # After the reboot, 99% of the calls take at most 250ms.
  - phase: after-reboot # the phase judged
    metric: p99 # a per-call latency percentile (p50, p90, p99, max, mean)
    max: 250ms # the absolute limit
    # After the reboot, the median call is at most 3 times the baseline's.
  - phase: after-reboot # the phase judged
    metric: p50 # the median call latency
    relativeTo: baseline # compared with this phase
    maxRatio: 3.0 # the largest ratio allowed
    # After the reboot, the copies are not significantly slower than 2x the baseline's.
  - phase: after-reboot # the phase judged
    statistical: # a one-sided Mann-Whitney U test on the copies' median call latencies
      against: baseline # the reference phase
      maxSlowdown: 2.0 # the slowdown tolerated before a difference counts
      alpha: 0.01 # the significance level
    # A recreated pod is back to the baseline: the median call at most 3 times the baseline's.
  - phase: after-recreate # the phase judged
    metric: p50 # the median call latency
    relativeTo: baseline # compared with this phase
    maxRatio: 3.0 # the largest ratio allowed
`
