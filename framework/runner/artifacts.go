package runner

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	kindprovider "github.com/pvreboot/pvreboot/framework/cluster/kind"
	"github.com/pvreboot/pvreboot/framework/report"
	"github.com/pvreboot/pvreboot/framework/scenario"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/kubernetes"
)

// What a run saves beside its outputs to explain how it ended, before its
// cleanup deletes the namespace: the namespace's events and the node's (also
// after a run that passed), the node's conditions, and on a failure or an
// interrupt the cluster's logs where the cluster can export them (kind).
const (
	EventsText         = "events.txt"
	EventsJSON         = "events.json"
	NodeConditionsJSON = "node-conditions.json"
	ClusterLogsDir     = "cluster-logs"
)

// StepClusterSetup is the step before a run exists: making or reusing its
// cluster and loading the probe image (Kind, Existing).
const StepClusterSetup = "cluster-setup"

// Bounds of the artifact steps: each has its own, so that an API server or
// a node that does not answer costs the run's cleanup little.
const (
	artifactAPITimeout = 20 * time.Second // one list of events, one get of the node
	// clusterLogsTimeout bounds kind's log export (journal, containerd,
	// kubelet and pod logs of every node, through docker exec).
	clusterLogsTimeout = 3 * time.Minute
)

// LogExporter is the optional ability of a run's node runner (Config.Nodes)
// to export the cluster's logs into a directory, as `kind export logs` does;
// a kind cluster has it, an existing cluster does not.
type LogExporter interface {
	ExportLogs(ctx context.Context, dir string) error
}

// ExecuteOption changes what Execute does besides the steps.
type ExecuteOption func(*executeOptions)

type executeOptions struct {
	artifactsDir string
}

// ArtifactsIn makes Execute save into dir, before its cleanup, what explains
// how the run ended (SaveArtifacts): the namespace's and the node's events
// and the node's conditions after every run, and the cluster's logs when a
// step failed or the run was interrupted.
func ArtifactsIn(dir string) ExecuteOption {
	return func(o *executeOptions) { o.artifactsDir = dir }
}

func executeOptionsOf(opts []ExecuteOption) executeOptions {
	var o executeOptions
	for _, f := range opts {
		f(&o)
	}
	return o
}

// afterSteps is what Execute does once the steps are over (stepErr is the
// failed step's error, nil when all ran), before cleanup: it marks a failure
// under an ended context as interrupted, and saves the artifacts.
func (r *Run) afterSteps(ctx context.Context, o executeOptions, stepErr error) {
	if f := r.Result.Failure; f != nil && stepErr != nil && ctx.Err() != nil {
		f.Interrupted = true
	}
	if r.Result.Node.Name == "" {
		// Prepare failed before it read the node: the result still names it.
		r.Result.Node.Name = r.node
	}
	if o.artifactsDir == "" {
		return
	}
	// An interrupt ended ctx: the saving has bounds of its own.
	if err := r.SaveArtifacts(context.WithoutCancel(ctx), o.artifactsDir, stepErr != nil); err != nil {
		r.progress("saving what explains the run: %v", err)
	}
}

// SaveArtifacts writes into dir the run's namespace's events and its node's
// (events.txt, events.json) and the node's conditions (node-conditions.json);
// with clusterLogs, also the cluster's logs into dir/cluster-logs/ when the
// node runner can export them (LogExporter). Call it before Cleanup, which
// deletes the namespace and its events. Each part has its own bound; what
// was saved and what could not be are recorded in the Result's Failure,
// when the run has one. The error joins the parts' errors.
func (r *Run) SaveArtifacts(ctx context.Context, dir string, clusterLogs bool) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("save artifacts: %w", err)
	}
	r.mu.Lock()
	ns := r.ns
	r.mu.Unlock()
	var saved []string
	var errs []error
	note := func(what []string, err error) {
		if err != nil {
			errs = append(errs, err)
			return
		}
		saved = append(saved, what...)
	}
	note([]string{EventsText, EventsJSON}, bounded(ctx, artifactAPITimeout, func(ctx context.Context) error {
		return saveEvents(ctx, r.cfg.Client, ns, r.node, dir)
	}))
	note([]string{NodeConditionsJSON}, bounded(ctx, artifactAPITimeout, func(ctx context.Context) error {
		return saveNodeConditions(ctx, r.cfg.Client, r.node, dir)
	}))
	if clusterLogs {
		e, ok := r.cfg.Nodes.(LogExporter)
		switch {
		case !ok:
			r.progress("cluster logs: not exported (%v on a %s cluster)", errors.ErrUnsupported, cmp.Or(r.cfg.Provider, "this"))
		default:
			r.progress("exporting the cluster's logs to %s", filepath.Join(dir, ClusterLogsDir))
			err := exportLogs(ctx, e, filepath.Join(dir, ClusterLogsDir))
			if someWritten(filepath.Join(dir, ClusterLogsDir)) {
				// kind's export goes on past a node that cannot answer one
				// command (crictl while containerd restarts): what it wrote
				// is saved, and the error says what is missing.
				saved = append(saved, ClusterLogsDir+"/")
			}
			if err != nil {
				errs = append(errs, err)
			}
		}
	}
	if f := r.Result.Failure; f != nil {
		f.Artifacts = append(f.Artifacts, saved...)
		for _, err := range errs {
			f.ArtifactErrors = append(f.ArtifactErrors, err.Error())
		}
	}
	return errors.Join(errs...)
}

// exportLogs runs a log export within clusterLogsTimeout. kind's export
// does not take a context: past the bound it goes on in the background
// while the run cleans up.
func exportLogs(ctx context.Context, e LogExporter, dir string) error {
	ctx, cancel := context.WithTimeout(ctx, clusterLogsTimeout)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- e.ExportLogs(ctx, dir) }()
	select {
	case err := <-done:
		if err != nil {
			return fmt.Errorf("%s/: %w", ClusterLogsDir, err)
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("%s/: export not done after %s: %w", ClusterLogsDir, clusterLogsTimeout, ctx.Err())
	}
}

// saveEvents writes the events of namespace ns (none when ns is empty: the
// run made none) and those about node, oldest first, as a table and as a
// core/v1 EventList.
func saveEvents(ctx context.Context, c kubernetes.Interface, ns, node, dir string) error {
	var items []corev1.Event
	var errs []error
	asked := 0
	if ns != "" {
		asked++
		l, err := c.CoreV1().Events(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			errs = append(errs, fmt.Errorf("list events of namespace %s: %w", ns, err))
		} else {
			items = append(items, l.Items...)
		}
	}
	if node != "" {
		asked++
		sel := fields.Set{"involvedObject.kind": "Node", "involvedObject.name": node}.AsSelector().String()
		l, err := c.CoreV1().Events(metav1.NamespaceAll).List(ctx, metav1.ListOptions{FieldSelector: sel})
		if err != nil {
			errs = append(errs, fmt.Errorf("list events of node %s: %w", node, err))
		} else {
			items = append(items, l.Items...)
		}
	}
	if asked > 0 && len(errs) == asked {
		return fmt.Errorf("%s: %w", EventsText, errors.Join(errs...))
	}
	// A node event of the run's namespace would be listed twice.
	seen := map[string]bool{}
	items = slices.DeleteFunc(items, func(e corev1.Event) bool {
		k := e.Namespace + "/" + e.Name
		dup := seen[k]
		seen[k] = true
		return dup
	})
	slices.SortStableFunc(items, func(a, b corev1.Event) int { return eventTime(a).Compare(eventTime(b)) })
	list := corev1.EventList{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "EventList"}, Items: items}
	b, err := json.MarshalIndent(list, "", "  ")
	if err != nil {
		return fmt.Errorf("%s: %w", EventsJSON, err)
	}
	if err := os.WriteFile(filepath.Join(dir, EventsJSON), append(b, '\n'), 0o644); err != nil {
		return err
	}
	f, err := os.Create(filepath.Join(dir, EventsText))
	if err != nil {
		return err
	}
	err = writeEventsTable(f, items, errs)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("%s: %w", EventsText, err)
	}
	// One of the two lists failed: the files hold the other, and say so.
	return errors.Join(errs...)
}

// eventTime is when an event last happened, whichever field its reporter set.
func eventTime(e corev1.Event) time.Time {
	switch {
	case !e.LastTimestamp.IsZero():
		return e.LastTimestamp.Time
	case !e.EventTime.IsZero():
		return e.EventTime.Time
	case !e.FirstTimestamp.IsZero():
		return e.FirstTimestamp.Time
	}
	return e.CreationTimestamp.Time
}

// writeEventsTable writes events as `kubectl get events` shows them, with
// absolute UTC times.
func writeEventsTable(w io.Writer, items []corev1.Event, problems []error) error {
	for _, p := range problems {
		fmt.Fprintf(w, "# not listed: %v\n", p)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "LAST SEEN (UTC)\tTYPE\tREASON\tOBJECT\tCOUNT\tMESSAGE")
	for _, e := range items {
		obj := strings.ToLower(e.InvolvedObject.Kind) + "/" + e.InvolvedObject.Name
		if e.InvolvedObject.Namespace != "" {
			obj = e.InvolvedObject.Namespace + "/" + obj
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\n", eventTime(e).UTC().Format(time.RFC3339), e.Type, e.Reason, obj, max(e.Count, 1),
			strings.ReplaceAll(strings.TrimSpace(e.Message), "\n", " "))
	}
	if len(items) == 0 {
		fmt.Fprintln(tw, "(no events)")
	}
	return tw.Flush()
}

// nodeConditions is node-conditions.json: the node's conditions and what
// else says whether it can run pods, when they were read.
type nodeConditions struct {
	Node          string                 `json:"node"`
	At            time.Time              `json:"at"`
	BootID        string                 `json:"bootID,omitempty"`
	Unschedulable bool                   `json:"unschedulable,omitempty"`
	Taints        []corev1.Taint         `json:"taints,omitempty"`
	Conditions    []corev1.NodeCondition `json:"conditions"`
}

func saveNodeConditions(ctx context.Context, c kubernetes.Interface, node, dir string) error {
	n, err := c.CoreV1().Nodes().Get(ctx, node, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("%s: get node %s: %w", NodeConditionsJSON, node, err)
	}
	nc := nodeConditions{Node: n.Name, At: time.Now().UTC(), BootID: n.Status.NodeInfo.BootID, Unschedulable: n.Spec.Unschedulable,
		Taints: n.Spec.Taints, Conditions: n.Status.Conditions}
	b, err := json.MarshalIndent(nc, "", "  ")
	if err != nil {
		return fmt.Errorf("%s: %w", NodeConditionsJSON, err)
	}
	return os.WriteFile(filepath.Join(dir, NodeConditionsJSON), append(b, '\n'), 0o644)
}

// SetupFailure is the Result of a run that stopped before its first step:
// its cluster could not be made or reached, or the run was interrupted
// meanwhile. It has no node facts beyond the name the scenario gives, no
// phase and no verdict; Failure names the cluster-setup step.
func SetupFailure(s *scenario.Scenario, build report.Build, provider string, started time.Time, err error, interrupted bool) *report.Result {
	res := &report.Result{Schema: report.Schema, Scenario: s.Metadata.Name, StartedAt: started, FinishedAt: time.Now(),
		Cluster: report.ClusterFacts{Provider: provider}}
	if k := s.Spec.Cluster.Kind; k != nil && provider == "kind" {
		res.Cluster.Name = k.Name
	}
	if names := s.Spec.Cluster.Nodes.Names; len(names) > 0 {
		res.Node.Name = names[0]
	}
	for _, f := range s.Spec.Faults {
		res.Faults = append(res.Faults, f.Type)
	}
	msg := strings.TrimSpace(err.Error())
	res.Errors = []string{"cluster setup: " + msg}
	res.Failure = &report.Failure{Step: StepClusterSetup, Error: msg, Interrupted: interrupted}
	res.Provenance = &report.Provenance{Build: build, Host: hostFacts(), Scenario: s}
	return res
}

// SaveKindSetupLogs exports the logs of the scenario's kind cluster into
// dir/cluster-logs/ after its setup failed, when the cluster exists, and
// records it in res.Failure. A scenario without a kind cluster has none to
// export.
func SaveKindSetupLogs(ctx context.Context, s *scenario.Scenario, dir string, res *report.Result, log *slog.Logger) error {
	k := s.Spec.Cluster.Kind
	if k == nil {
		return nil
	}
	err := bounded(ctx, clusterLogsTimeout, func(ctx context.Context) error {
		c, err := kindprovider.New(log, nil).Get(ctx, k.Name)
		if err != nil {
			return fmt.Errorf("%s/: %w", ClusterLogsDir, err)
		}
		return exportLogs(ctx, c, filepath.Join(dir, ClusterLogsDir))
	})
	if f := res.Failure; f != nil {
		if someWritten(filepath.Join(dir, ClusterLogsDir)) {
			f.Artifacts = append(f.Artifacts, ClusterLogsDir+"/")
		}
		if err != nil {
			f.ArtifactErrors = append(f.ArtifactErrors, err.Error())
		}
	}
	return err
}

// someWritten reports whether dir exists and holds anything.
func someWritten(dir string) bool {
	entries, err := os.ReadDir(dir)
	return err == nil && len(entries) > 0
}
