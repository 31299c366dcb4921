package scenario

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/validation/field"

	"k8s.io/utils/ptr"
)

// ErrInvalid wraps every validation failure.
var ErrInvalid = errors.New("invalid scenario")

// Load reads, strictly decodes, defaults and validates a scenario file.
func Load(path string) (*Scenario, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("load scenario: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, MaxFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("load scenario %s: %w", path, err)
	}
	s, err := Parse(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return s, nil
}

// Parse strictly decodes YAML, applies defaults and validates, and returns
// every problem at once (Errors): unknown, duplicate and mistyped fields
// in the same list as every validation error, each with its field path.
func Parse(b []byte) (*Scenario, error) {
	var s Scenario
	errs, fatal := decode(b, &s)
	if fatal {
		return nil, Errors(errs)
	}
	s.Default()
	// A field already reported for its shape (a string where a number goes)
	// was not decoded: what validation says of its zero value is noise.
	shape := errs
	for _, e := range s.validate() {
		if !reported(shape, e.Field) {
			errs = append(errs, e)
		}
	}
	if len(errs) > 0 {
		return nil, Errors(errs)
	}
	return &s, nil
}

// reported reports whether a decoding error covers the field or a parent.
func reported(errs field.ErrorList, f string) bool {
	for _, e := range errs {
		if f == e.Field || strings.HasPrefix(f, e.Field+".") || strings.HasPrefix(f, e.Field+"[") {
			return true
		}
	}
	return false
}

// Default fills every unset field with its documented default.
func (s *Scenario) Default() {
	sp := &s.Spec
	if sp.Cluster.Kind == nil && sp.Cluster.Existing == nil {
		sp.Cluster.Kind = &KindCluster{}
	}
	if k := sp.Cluster.Kind; k != nil {
		if k.Name == "" {
			k.Name = "pvreboot"
		}
		if k.Config == "" {
			k.Config = "kind-config/two-workers.yaml"
		}
	}
	if len(sp.Cluster.Nodes.Names) == 0 && sp.Cluster.Nodes.Selector == nil && sp.Cluster.Kind != nil {
		sp.Cluster.Nodes.Names = []string{sp.Cluster.Kind.Name + "-worker"}
	}
	if len(sp.Volumes) == 0 {
		sp.Volumes = []Volume{{Name: "data"}}
	}
	for i := range sp.Volumes {
		v := &sp.Volumes[i]
		if v.Count == nil {
			v.Count = ptr.To(1)
		}
		if v.Backing == "" {
			v.Backing = BackingDirectory
		}
		if v.Backing == BackingFilesystem && v.FSType == "" {
			v.FSType = "ext4"
		}
		if v.Size == "" {
			v.Size = "2Gi"
		}
		if v.StorageClass == "" {
			v.StorageClass = "pvreboot-local"
		}
	}
	w := &sp.Workload
	if w.Method == "" {
		w.Method = "sendfile"
		if w.ExecCommand != "" {
			w.Method = "exec"
		}
	}
	if w.FileSize == "" {
		w.FileSize = "256Mi"
	}
	if w.ChunkSize == "" {
		w.ChunkSize = "16Mi"
	}
	if w.Iterations == nil {
		w.Iterations = ptr.To(5)
	}
	if w.Cache == "" {
		w.Cache = "cold"
	}
	r := &sp.Reboot
	if r.Method == "" {
		r.Method = RebootKindRestart
	}
	if r.Count == nil {
		r.Count = ptr.To(1)
	}
	if !r.Timeout.Given() {
		r.Timeout.Duration = 5 * time.Minute
	}
	if r.SSH != nil {
		if r.SSH.Port == nil {
			r.SSH.Port = ptr.To(22)
		}
		if r.SSH.User == "" {
			r.SSH.User = "root"
		}
		if r.SSH.Mode == "" {
			r.SSH.Mode = "reboot"
		}
	}
	if len(sp.Phases) == 0 {
		sp.Phases = Phases()
	}
	for i := range sp.Budgets {
		b := &sp.Budgets[i]
		if b.Statistical != nil && b.Statistical.Alpha == 0 {
			b.Statistical.Alpha = 0.01
		}
		if b.Metric == "" && b.Statistical == nil {
			if b.Min != nil {
				b.Metric = MetricThroughput
			} else {
				b.Metric = MetricP50
			}
		}
	}
	for i := range sp.Faults {
		f := &sp.Faults[i]
		if f.Phase == "" {
			f.Phase = PhaseAfterReboot
		}
		if f.Type == FaultIOThrottle && f.ReadBPS == nil {
			f.ReadBPS = &Throughput{BytesPerSecond: 20 * 1024 * 1024}
		}
	}
}
