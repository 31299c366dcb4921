package runner

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"

	"github.com/pvreboot/pvreboot/framework/localpv"
	"github.com/pvreboot/pvreboot/framework/qualify"
	"github.com/pvreboot/pvreboot/framework/report"
	"github.com/pvreboot/pvreboot/framework/scenario"
)

// CaseRunner runs a qualification's cases on one cluster: each case is a
// Run of the case's scenario on the node the qualification gave it, with
// the plan's cycles and its reboot gate (qualify.CaseRunner).
type CaseRunner struct {
	// Setup returns the run configuration of a scenario on the cluster
	// (Kind or Existing). It is called once per reboot method, with a
	// scenario whose nodes are the whole pool, and its Close is called by
	// Close.
	Setup func(ctx context.Context, s *scenario.Scenario) (Config, error)
	// Base is the plan's base scenario (for Sweep's configuration).
	Base *scenario.Scenario
	// Pool is the qualification's nodes.
	Pool []string
	// Template carries what every run shares: Build, AllowReboot,
	// StateDir, Holder, Keep, Log.
	Template Config
	// Progress receives every case's progress lines, each prefixed with
	// the case's ID.
	Progress io.Writer

	mu        sync.Mutex // serialises Setup and guards configs and classes
	configs   map[string]Config
	classes   []string
	classProv *localpv.Provisioner
	outMu     sync.Mutex // one line at a time to Progress
}

var _ qualify.CaseRunner = (*CaseRunner)(nil)

// config returns the configuration for a scenario's reboot method.
func (c *CaseRunner) config(ctx context.Context, s *scenario.Scenario) (Config, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	key := s.Spec.Reboot.Method
	if cfg, ok := c.configs[key]; ok {
		return cfg, nil
	}
	pool := *s
	if len(c.Pool) > 0 {
		pool.Spec.Cluster.Nodes = scenario.NodeSelection{Names: c.Pool}
	}
	cfg, err := c.Setup(ctx, &pool)
	if err != nil {
		return Config{}, err
	}
	if c.configs == nil {
		c.configs = map[string]Config{}
	}
	c.configs[key] = cfg
	return cfg, nil
}

// RunCase runs one case and writes its outputs into cr.Dir.
func (c *CaseRunner) RunCase(ctx context.Context, cr qualify.CaseRun) (*report.Result, error) {
	cfg, err := c.config(ctx, cr.Case.Scenario)
	if err != nil {
		return nil, fmt.Errorf("set up the cluster for case %s: %w", cr.Case.Name, err)
	}
	s := *cr.Case.Scenario
	s.Spec.Cluster.Nodes = scenario.NodeSelection{Names: []string{cr.Node}}
	t := c.Template
	cfg.Scenario, cfg.Cycles, cfg.RebootGate = &s, cr.Cycles, cr.Gate
	if cr.MeasureGate != nil {
		cfg.MeasureGate = cr.MeasureGate
	}
	cfg.Build, cfg.AllowReboot, cfg.StateDir, cfg.Holder, cfg.Keep, cfg.Events = t.Build, t.AllowReboot, t.StateDir, t.Holder, t.Keep, t.Events
	if t.Log != nil {
		cfg.Log = t.Log.With("case", cr.Case.ID)
	}
	cfg.Close = nil // the cluster setup is shared: Close releases it at the end
	cfg.SharedStorageClasses = true
	c.noteClasses(cfg, &s)
	pw := &prefixWriter{prefix: "[" + cr.Case.ID + "] ", w: c.Progress, mu: &c.outMu}
	cfg.Progress = pw
	run, err := New(cfg)
	if err != nil {
		return nil, err
	}
	if cr.Started != nil {
		cr.Started(run.ID())
	}
	runErr := run.Execute(ctx)
	pw.Flush()
	if err := WriteOutputs(cr.Dir, run.Result); err != nil {
		runErr = errors.Join(runErr, err)
	}
	return run.Result, runErr
}

// Cluster returns the configuration of the base scenario: its client
// reaches the cluster before the pool is known.
func (c *CaseRunner) Cluster(ctx context.Context) (Config, error) { return c.config(ctx, c.Base) }

// SetPool sets the qualification's nodes; configurations made for another
// pool are released and made again for this one (the probe image is
// loaded into the pool's nodes).
func (c *CaseRunner) SetPool(ctx context.Context, pool []string) error {
	err := c.Close(ctx)
	c.mu.Lock()
	c.Pool = slices.Clone(pool)
	c.mu.Unlock()
	return err
}

// Sweep removes what a dead run left (an earlier invocation killed
// mid-case).
func (c *CaseRunner) Sweep(ctx context.Context, runID string) error {
	cfg, err := c.config(ctx, c.Base)
	if err != nil {
		return err
	}
	_, err = Sweep(ctx, SweepOptions{Client: cfg.Client, Nodes: cfg.Nodes, NodeNames: c.Pool, Run: runID, StateDir: c.Template.StateDir,
		KeepNamespaces: keepNamespaces(cfg), Recover: recoverer(cfg)})
	return err
}

func keepNamespaces(cfg Config) []string {
	if cfg.HelperNamespace == "" {
		return nil
	}
	return []string{cfg.HelperNamespace}
}

// noteClasses remembers the StorageClasses a case's volumes name, for
// Close to remove once no run uses them.
func (c *CaseRunner) noteClasses(cfg Config, s *scenario.Scenario) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, v := range s.Spec.Volumes {
		if !slices.Contains(c.classes, v.StorageClass) {
			c.classes = append(c.classes, v.StorageClass)
		}
	}
	c.classProv = localpv.New(cfg.Client, cfg.Nodes, cfg.Log)
}

// Close removes the StorageClasses the cases made that no PV uses any more
// and releases what the cluster setups made (node helpers).
func (c *CaseRunner) Close(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	var errs []error
	if c.classProv != nil {
		for _, sc := range c.classes {
			cctx, cancel := context.WithTimeout(ctx, cleanupClassTimeout)
			errs = append(errs, c.classProv.DeleteStorageClassIfUnused(cctx, sc))
			cancel()
		}
	}
	for _, cfg := range c.configs {
		if cfg.Close != nil {
			errs = append(errs, cfg.Close(ctx))
		}
	}
	c.configs = nil
	return errors.Join(errs...)
}

// prefixWriter writes whole lines, each with a prefix, one writer at a
// time: cases running at once interleave lines, not characters.
type prefixWriter struct {
	prefix string
	w      io.Writer
	mu     *sync.Mutex // shared by the cases' writers
	bmu    sync.Mutex  // guards buf
	buf    bytes.Buffer
}

func (p *prefixWriter) Write(b []byte) (int, error) {
	p.bmu.Lock()
	defer p.bmu.Unlock()
	p.buf.Write(b)
	for {
		i := bytes.IndexByte(p.buf.Bytes(), '\n')
		if i < 0 {
			return len(b), nil
		}
		line := p.buf.Next(i + 1)
		if p.w != nil {
			p.mu.Lock()
			_, _ = io.WriteString(p.w, p.prefix)
			_, _ = p.w.Write(line)
			p.mu.Unlock()
		}
	}
}

// Flush writes a last line without its newline.
func (p *prefixWriter) Flush() {
	p.bmu.Lock()
	n := p.buf.Len()
	p.bmu.Unlock()
	if n > 0 {
		_, _ = p.Write([]byte("\n"))
	}
}
