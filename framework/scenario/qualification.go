package scenario

import (
	"bytes"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// KindQualification is the kind of a qualification plan.
const KindQualification = "Qualification"

// Limits of a qualification plan.
const (
	MaxCases          = 256
	MaxCycles         = 100
	MaxParallel       = 64
	MaxAxisValues     = 32
	MaxTrendPerCycle  = 100.0
	MinCyclesForTrend = 3
)

// Qualification is a storage vendor's qualification plan: one base scenario
// run over a matrix of cases, each rebooted for some cycles, on a pool of
// nodes.
type Qualification struct {
	APIVersion string            `json:"apiVersion"`
	Kind       string            `json:"kind"`
	Metadata   Metadata          `json:"metadata"`
	Spec       QualificationSpec `json:"spec"`
}

// QualificationSpec is what a qualification runs.
type QualificationSpec struct {
	// Base is the scenario every case starts from.
	Base   Base   `json:"base"`
	Matrix Matrix `json:"matrix,omitempty"`
	// Cycles is how many times each case reboots its node and measures in
	// the same pod before the pod is recreated (default 1).
	Cycles *int `json:"cycles,omitempty"`
	// Nodes is the pool cases run on (default: the base scenario's nodes).
	Nodes NodeSelection `json:"nodes,omitempty"`
	// Parallel is how many cases run at once, each on its own node
	// (default 1).
	Parallel *int `json:"parallel,omitempty"`
	// MaxUnavailable is how many nodes of the pool may be down at once,
	// for a reboot or otherwise (default 1).
	MaxUnavailable *int `json:"maxUnavailable,omitempty"`
	// FailFast starts no case after one failed.
	FailFast bool `json:"failFast,omitempty"`
	// MeasureOneAtATime makes cases running at once take turns to measure:
	// nodes that share one disk (kind's, all on the host's) would slow each
	// other's copies and blur the comparison of a case's phases. Default:
	// true on kind, false elsewhere.
	MeasureOneAtATime *bool `json:"measureOneAtATime,omitempty"`
	// Trend is a budget on the slope of each case's after-reboot figures
	// over its cycles.
	Trend *Trend `json:"trend,omitempty"`
}

// Base is a scenario file (a path relative to the plan, or a shipped
// scenario's name) or a scenario written inline.
type Base struct {
	File     string    `json:"file,omitempty"`
	Scenario *Scenario `json:"scenario,omitempty"`
}

// Trend metrics.
const (
	TrendP50        = MetricP50
	TrendThroughput = MetricThroughput
)

// Trend limits how fast a case gets worse from one reboot cycle to the
// next: the slope of the cycles' p50 (or throughput) by least squares, as a
// fraction of the baseline's, fails the case when its whole confidence
// interval is past MaxTrendPerCycle (0.1: 10% of the baseline worse each
// cycle).
type Trend struct {
	Metric           string  `json:"metric,omitempty"`
	MaxTrendPerCycle float64 `json:"maxTrendPerCycle"`
}

// Matrix lists the values of each axis; the cases are every combination,
// less those an exclude entry matches, plus one case per include entry.
type Matrix struct {
	FSType       []string      `json:"fsType,omitempty"`
	Backing      []string      `json:"backing,omitempty"`
	MountOptions []string      `json:"mountOptions,omitempty"` // each a comma-separated list; "" for none
	Size         []string      `json:"size,omitempty"`
	Method       []string      `json:"method,omitempty"`
	FileSize     []string      `json:"fileSize,omitempty"`
	ChunkSize    []string      `json:"chunkSize,omitempty"`
	Cache        []string      `json:"cache,omitempty"`
	RebootMethod []string      `json:"rebootMethod,omitempty"`
	Fault        []string      `json:"fault,omitempty"` // a fault type, or "none"
	Node         []string      `json:"node,omitempty"`  // pins the case to a node of the pool
	Include      []MatrixEntry `json:"include,omitempty"`
	Exclude      []MatrixEntry `json:"exclude,omitempty"`
}

// MatrixEntry names a value for some axes.
type MatrixEntry struct {
	FSType       *string `json:"fsType,omitempty"`
	Backing      *string `json:"backing,omitempty"`
	MountOptions *string `json:"mountOptions,omitempty"`
	Size         *string `json:"size,omitempty"`
	Method       *string `json:"method,omitempty"`
	FileSize     *string `json:"fileSize,omitempty"`
	ChunkSize    *string `json:"chunkSize,omitempty"`
	Cache        *string `json:"cache,omitempty"`
	RebootMethod *string `json:"rebootMethod,omitempty"`
	Fault        *string `json:"fault,omitempty"`
	Node         *string `json:"node,omitempty"`
}

// NoFault is the fault axis' value for "no fault injected".
const NoFault = "none"

// NotApplicable is a case's value of an axis that does not apply to it
// (fsType and mountOptions of a block or directory volume).
const NotApplicable = "n/a"

// axis is one dimension of the matrix: its values, an entry's value, and
// how a value changes the base scenario (before defaults).
type axis struct {
	name   string
	values func(*Matrix) []string
	entry  func(*MatrixEntry) *string
	apply  func(*Spec, string)
}

// axes in the order cases are named and expanded. backing comes first: the
// filesystem axes apply only to filesystem volumes.
var axes = []axis{
	{"backing", func(m *Matrix) []string { return m.Backing }, func(e *MatrixEntry) *string { return e.Backing },
		func(s *Spec, v string) {
			for i := range s.Volumes {
				s.Volumes[i].Backing = v
			}
		}},
	{"fsType", func(m *Matrix) []string { return m.FSType }, func(e *MatrixEntry) *string { return e.FSType },
		func(s *Spec, v string) {
			for i := range s.Volumes {
				s.Volumes[i].FSType = v
			}
		}},
	{"mountOptions", func(m *Matrix) []string { return m.MountOptions }, func(e *MatrixEntry) *string { return e.MountOptions },
		func(s *Spec, v string) {
			var opts []string
			if v != "" {
				opts = strings.Split(v, ",")
			}
			for i := range s.Volumes {
				s.Volumes[i].MountOptions = opts
			}
		}},
	{"size", func(m *Matrix) []string { return m.Size }, func(e *MatrixEntry) *string { return e.Size },
		func(s *Spec, v string) {
			for i := range s.Volumes {
				s.Volumes[i].Size = v
			}
		}},
	{"method", func(m *Matrix) []string { return m.Method }, func(e *MatrixEntry) *string { return e.Method },
		func(s *Spec, v string) { s.Workload.Method = v }},
	{"fileSize", func(m *Matrix) []string { return m.FileSize }, func(e *MatrixEntry) *string { return e.FileSize },
		func(s *Spec, v string) { s.Workload.FileSize = v }},
	{"chunkSize", func(m *Matrix) []string { return m.ChunkSize }, func(e *MatrixEntry) *string { return e.ChunkSize },
		func(s *Spec, v string) { s.Workload.ChunkSize = v }},
	{"cache", func(m *Matrix) []string { return m.Cache }, func(e *MatrixEntry) *string { return e.Cache },
		func(s *Spec, v string) { s.Workload.Cache = v }},
	{"rebootMethod", func(m *Matrix) []string { return m.RebootMethod }, func(e *MatrixEntry) *string { return e.RebootMethod },
		func(s *Spec, v string) { s.Reboot.Method = v }},
	{"fault", func(m *Matrix) []string { return m.Fault }, func(e *MatrixEntry) *string { return e.Fault },
		func(s *Spec, v string) {
			if v != NoFault && !slices.ContainsFunc(s.Faults, func(f Fault) bool { return f.Type == v }) {
				s.Faults = append(s.Faults, Fault{Type: v})
			}
		}},
	{"node", func(m *Matrix) []string { return m.Node }, func(e *MatrixEntry) *string { return e.Node },
		func(*Spec, string) {}}, // the scheduler pins the case
}

// AxisNames returns the matrix axes in order, in a fresh slice.
func AxisNames() []string {
	out := make([]string, len(axes))
	for i, a := range axes {
		out[i] = a.name
	}
	return out
}

// Param is a case's value of one axis.
type Param struct {
	Axis  string `json:"axis"`
	Value string `json:"value"`
}

// Case is one combination of the matrix: the base scenario with the
// case's values, defaulted and valid.
type Case struct {
	// ID names the case's directory: its values, made safe ("ext4-filesystem-sendfile").
	ID string `json:"id"`
	// Name says the case's values ("backing=filesystem fsType=ext4 method=sendfile").
	Name   string  `json:"name"`
	Params []Param `json:"params"`
	// Node is the node the case is pinned to (the node axis), or "".
	Node     string    `json:"node,omitempty"`
	Scenario *Scenario `json:"scenario"`
}

// Param returns the case's value of an axis, or "".
func (c Case) Param(name string) string {
	for _, p := range c.Params {
		if p.Axis == name {
			return p.Value
		}
	}
	return ""
}

// Plan is a loaded qualification: the plan, its base scenario and the
// cases it expands to.
type Plan struct {
	Qualification *Qualification
	// Base is the base scenario, defaulted and valid.
	Base  *Scenario
	Cases []Case
	// Collapsed counts combinations that became the same case once axes
	// that do not apply were dropped (fsType of a block volume).
	Collapsed int
}

// CyclesOrDefault is the plan's reboot cycles per case.
func (q *QualificationSpec) CyclesOrDefault() int { return deref(q.Cycles) }

// MeasuresOneAtATime reports whether cases take turns to measure (see
// MeasureOneAtATime) for a plan on base's cluster.
func (q *QualificationSpec) MeasuresOneAtATime(base *Scenario) bool {
	if q.MeasureOneAtATime != nil {
		return *q.MeasureOneAtATime
	}
	return base != nil && base.Spec.Cluster.Kind != nil
}

// ParallelOrDefault is how many cases run at once.
func (q *QualificationSpec) ParallelOrDefault() int { return deref(q.Parallel) }

// MaxUnavailableOrDefault is how many nodes may be down at once.
func (q *QualificationSpec) MaxUnavailableOrDefault() int { return deref(q.MaxUnavailable) }

// ReadFunc reads a base scenario file named by a plan: a path relative to
// the plan, or a shipped scenario's name. It returns the bytes and where
// they came from, for errors.
type ReadFunc func(name string) (b []byte, from string, err error)

// ParseQualification strictly decodes a plan, loads its base scenario
// (through read when it names a file), expands the matrix and validates the
// plan and every case. Every problem is returned at once (Errors), each with
// its path: "spec.matrix.fsType[1]", or for a case "case backing=block
// method=sendfile: spec.volumes[0].size".
func ParseQualification(b []byte, read ReadFunc) (*Plan, error) {
	var q Qualification
	errs, fatal := decodeInto(b, &q)
	if fatal {
		return nil, Errors(errs)
	}
	q.Default()
	shape := errs
	for _, e := range q.validate() {
		if !reported(shape, e.Field) {
			errs = append(errs, e)
		}
	}
	// The base: its own bytes, decoded afresh for every case (a case must
	// not share slices with another).
	var baseBytes []byte
	basePath := field.NewPath("spec", "base")
	switch {
	case q.Spec.Base.File != "" && q.Spec.Base.Scenario != nil:
		errs = append(errs, field.Forbidden(basePath, "set either file or scenario, not both"))
	case q.Spec.Base.File != "":
		if read == nil {
			errs = append(errs, field.Invalid(basePath.Child("file"), q.Spec.Base.File, "no reader of scenario files"))
			break
		}
		raw, from, err := read(q.Spec.Base.File)
		if err != nil {
			errs = append(errs, field.Invalid(basePath.Child("file"), q.Spec.Base.File, err.Error()))
			break
		}
		baseBytes = raw
		basePath = field.NewPath("spec", "base", "file("+from+")")
	case q.Spec.Base.Scenario != nil:
		raw, err := inlineBase(b)
		if err != nil {
			errs = append(errs, field.Invalid(basePath.Child("scenario"), nil, err.Error()))
			break
		}
		baseBytes = raw
		basePath = basePath.Child("scenario")
	default:
		errs = append(errs, field.Required(basePath, "name a scenario file or write one inline"))
	}
	if baseBytes == nil {
		return nil, Errors(errs)
	}
	base, err := Parse(baseBytes)
	if err != nil {
		if bes, ok := AsInvalid(err); ok {
			errs = append(errs, prefixed(bes, basePath.String()+".")...)
		} else {
			errs = append(errs, field.Invalid(basePath, nil, err.Error()))
		}
		return nil, Errors(errs)
	}
	if len(q.Spec.Nodes.Names) == 0 && q.Spec.Nodes.Selector == nil {
		q.Spec.Nodes = base.Spec.Cluster.Nodes
	}
	errs = append(errs, q.validateAgainst(base)...)
	if len(errs) > 0 {
		return nil, Errors(errs)
	}
	plan := &Plan{Qualification: &q, Base: base}
	combos := q.Spec.Matrix.combinations()
	if len(combos) > MaxCases {
		return nil, Errors{field.TooMany(field.NewPath("spec", "matrix"), len(combos), MaxCases)}
	}
	seen := map[string]bool{}
	ids := map[string]int{}
	for _, combo := range combos {
		c, cerrs := makeCase(baseBytes, combo)
		if len(cerrs) > 0 {
			errs = append(errs, cerrs...)
			continue
		}
		if seen[c.Name] {
			plan.Collapsed++
			continue
		}
		seen[c.Name] = true
		if n := ids[c.ID]; n > 0 {
			c.ID = fmt.Sprintf("%s-%d", c.ID, n+1)
		}
		ids[c.ID]++
		plan.Cases = append(plan.Cases, c)
	}
	if len(errs) > 0 {
		return nil, Errors(errs)
	}
	if len(plan.Cases) == 0 {
		return nil, Errors{field.Required(field.NewPath("spec", "matrix"), "every combination is excluded: no case to run")}
	}
	return plan, nil
}

// prefixed puts prefix before every error's field path.
func prefixed(es Errors, prefix string) field.ErrorList {
	out := make(field.ErrorList, len(es))
	for i, e := range es {
		c := *e
		c.Field = prefix + c.Field
		out[i] = &c
	}
	return out
}

// inlineBase returns the YAML of spec.base.scenario, for decoding on its own.
func inlineBase(plan []byte) ([]byte, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(plan, &doc); err != nil {
		return nil, err
	}
	n := &doc
	for _, key := range []string{"spec", "base", "scenario"} {
		if n.Kind == yaml.DocumentNode && len(n.Content) == 1 {
			n = n.Content[0]
		}
		var next *yaml.Node
		for i := 0; n.Kind == yaml.MappingNode && i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == key {
				next = n.Content[i+1]
			}
		}
		if next == nil {
			return nil, fmt.Errorf("no %s", key)
		}
		n = next
	}
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	if err := enc.Encode(n); err != nil {
		return nil, err
	}
	return buf.Bytes(), enc.Close()
}

// Default fills the plan's unset fields.
func (q *Qualification) Default() {
	if q.Spec.Cycles == nil {
		q.Spec.Cycles = intPtr(1)
	}
	if q.Spec.Parallel == nil {
		q.Spec.Parallel = intPtr(1)
	}
	if q.Spec.MaxUnavailable == nil {
		q.Spec.MaxUnavailable = intPtr(1)
	}
	if t := q.Spec.Trend; t != nil && t.Metric == "" {
		t.Metric = TrendP50
	}
}

func intPtr(v int) *int { return &v }

var safeIDRE = regexp.MustCompile(`[^a-z0-9._-]+`)

// makeCase applies one combination to a fresh copy of the base.
func makeCase(baseBytes []byte, combo []Param) (Case, field.ErrorList) {
	var s Scenario
	if errs, fatal := decode(baseBytes, &s); fatal || len(errs) > 0 {
		return Case{}, errs // the base parsed before: not reached
	}
	c := Case{}
	for _, p := range combo {
		for _, a := range axes {
			if a.name == p.Axis {
				a.apply(&s.Spec, p.Value)
			}
		}
	}
	// The filesystem axes do not apply to block or directory volumes: the
	// case says n/a, and two combinations that differ only there are one.
	fsVolumes := false
	for _, v := range s.Spec.Volumes {
		fsVolumes = fsVolumes || v.Backing == BackingFilesystem || (v.Backing == "" && v.FSType != "")
	}
	for i := range s.Spec.Volumes {
		if v := &s.Spec.Volumes[i]; v.Backing != "" && v.Backing != BackingFilesystem {
			v.FSType, v.MountOptions = "", nil
		}
	}
	var words, idParts []string
	for _, p := range combo {
		if !fsVolumes && (p.Axis == "fsType" || p.Axis == "mountOptions") {
			p.Value = NotApplicable
		}
		if p.Axis == "node" {
			c.Node = p.Value
		}
		c.Params = append(c.Params, p)
		shown := p.Value
		if shown == "" {
			shown = `""`
		}
		words = append(words, p.Axis+"="+shown)
		if p.Value != NotApplicable {
			idParts = append(idParts, strings.Trim(safeIDRE.ReplaceAllString(strings.ToLower(p.Value), "_"), "_"))
		}
	}
	c.Name = strings.Join(words, " ")
	c.ID = strings.Join(slices.DeleteFunc(idParts, func(s string) bool { return s == "" }), "-")
	if c.ID == "" {
		c.ID = "base"
	}
	if c.Name == "" {
		c.Name = "base"
	}
	if d := s.Metadata.Description; d != "" {
		s.Metadata.Description = d + "\n"
	}
	s.Metadata.Description += "qualification case " + c.Name
	s.Default()
	if errs := s.validate(); len(errs) > 0 {
		return c, prefixed(Errors(errs), "case "+c.Name+": ")
	}
	c.Scenario = &s
	return c, nil
}

// combinations lists the matrix's combinations: the product of the axes
// given, less the excluded, plus the included.
func (m *Matrix) combinations() [][]Param {
	combos := [][]Param{nil}
	for _, a := range axes {
		vals := a.values(m)
		if len(vals) == 0 {
			continue
		}
		var next [][]Param
		for _, c := range combos {
			for _, v := range vals {
				next = append(next, append(slices.Clone(c), Param{a.name, v}))
			}
		}
		combos = next
	}
	combos = slices.DeleteFunc(combos, func(c []Param) bool {
		for _, e := range m.Exclude {
			if e.matches(c) {
				return true
			}
		}
		return false
	})
	if len(m.Include) > 0 && len(combos) == 1 && len(combos[0]) == 0 {
		combos = nil // only includes: no base case
	}
	for _, e := range m.Include {
		var c []Param
		for _, a := range axes {
			if v := a.entry(&e); v != nil {
				c = append(c, Param{a.name, *v})
			}
		}
		combos = append(combos, c)
	}
	return combos
}

// matches reports whether every axis the entry names has its value in c.
func (e *MatrixEntry) matches(c []Param) bool {
	named := 0
	for _, a := range axes {
		v := a.entry(e)
		if v == nil {
			continue
		}
		named++
		if !slices.Contains(c, Param{a.name, *v}) {
			return false
		}
	}
	return named > 0
}

// validate checks the plan on its own (the base and the cases come after).
func (q *Qualification) validate() field.ErrorList {
	errs := validateHead(q.APIVersion, q.Kind, KindQualification, q.Metadata, "the qualification's name")
	sp := field.NewPath("spec")
	errs = append(errs, hostPath(sp.Child("base", "file"), q.Spec.Base.File)...)
	bounded := func(p *field.Path, v *int, hi int) {
		if *v < 1 || *v > hi {
			errs = append(errs, field.Invalid(p, *v, fmt.Sprintf("must be 1 to %d", hi)))
		}
	}
	bounded(sp.Child("cycles"), q.Spec.Cycles, MaxCycles)
	bounded(sp.Child("parallel"), q.Spec.Parallel, MaxParallel)
	bounded(sp.Child("maxUnavailable"), q.Spec.MaxUnavailable, MaxParallel)
	if t := q.Spec.Trend; t != nil {
		tp := sp.Child("trend")
		if t.Metric != TrendP50 && t.Metric != TrendThroughput {
			errs = append(errs, field.NotSupported(tp.Child("metric"), t.Metric, []string{TrendP50, TrendThroughput}))
		}
		if !finite(t.MaxTrendPerCycle) || t.MaxTrendPerCycle <= 0 || t.MaxTrendPerCycle > MaxTrendPerCycle {
			errs = append(errs, field.Invalid(tp.Child("maxTrendPerCycle"), t.MaxTrendPerCycle,
				fmt.Sprintf("must be a fraction of the baseline per cycle, > 0 and at most %g (0.1 is 10%%)", MaxTrendPerCycle)))
		}
		if *q.Spec.Cycles < MinCyclesForTrend {
			errs = append(errs, field.Invalid(tp, "", fmt.Sprintf("a trend needs at least %d cycles for an interval of its slope (spec.cycles is %d)", MinCyclesForTrend, *q.Spec.Cycles)))
		}
	}
	mp := sp.Child("matrix")
	for _, a := range axes {
		vals := a.values(&q.Spec.Matrix)
		ap := mp.Child(a.name)
		if len(vals) > MaxAxisValues {
			errs = append(errs, field.TooMany(ap, len(vals), MaxAxisValues))
		}
		seen := map[string]bool{}
		for i, v := range vals {
			if seen[v] {
				errs = append(errs, field.Duplicate(ap.Index(i), v))
			}
			seen[v] = true
			errs = append(errs, axisValue(ap.Index(i), a.name, v)...)
		}
	}
	for _, list := range []struct {
		name    string
		entries []MatrixEntry
	}{{"include", q.Spec.Matrix.Include}, {"exclude", q.Spec.Matrix.Exclude}} {
		for i, e := range list.entries {
			ep := mp.Child(list.name).Index(i)
			named := 0
			for _, a := range axes {
				v := a.entry(&e)
				if v == nil {
					continue
				}
				named++
				errs = append(errs, axisValue(ep.Child(a.name), a.name, *v)...)
				if vals := a.values(&q.Spec.Matrix); list.name == "exclude" && !slices.Contains(vals, *v) {
					errs = append(errs, field.NotFound(ep.Child(a.name), *v))
				}
			}
			if named == 0 {
				errs = append(errs, field.Required(ep, "name at least one axis: "+strings.Join(AxisNames(), ", ")))
			}
		}
	}
	return errs
}

// axisValue checks a value's form; what it means for the scenario is
// checked on each case.
func axisValue(p *field.Path, axis, v string) field.ErrorList {
	switch axis {
	case "mountOptions":
		var errs field.ErrorList
		if v == "" {
			return nil
		}
		for _, o := range strings.Split(v, ",") {
			if !mountOptionRE.MatchString(o) {
				errs = append(errs, field.Invalid(p, v, fmt.Sprintf("mount option %q: want letters, digits and _.:=+/- (options are separated by commas)", o)))
			}
		}
		return errs
	case "fault":
		if v != NoFault && !slices.Contains(FaultTypes(), v) {
			return field.ErrorList{field.NotSupported(p, v, append([]string{NoFault}, FaultTypes()...))}
		}
		return nil
	case "node":
		return dnsSubdomain(p, v, "a node name")
	}
	if v == "" {
		return field.ErrorList{field.Required(p, "an empty value")}
	}
	return text(p, v, false)
}

// validateAgainst checks what depends on the base scenario: the node pool
// and how many nodes may go down at once.
func (q *Qualification) validateAgainst(base *Scenario) field.ErrorList {
	var errs field.ErrorList
	sp := field.NewPath("spec")
	errs = append(errs, validateCluster(sp, Cluster{Nodes: q.Spec.Nodes})...)
	if names := q.Spec.Nodes.Names; len(names) > 0 {
		for i, n := range q.Spec.Matrix.Node {
			if !slices.Contains(names, n) {
				errs = append(errs, field.Invalid(sp.Child("matrix", "node").Index(i), n, "not a node of spec.nodes.names"))
			}
		}
		if p := *q.Spec.Parallel; p > len(names) {
			errs = append(errs, field.Invalid(sp.Child("parallel"), p, fmt.Sprintf("more than the %d node(s) of the pool: each case at once needs its own node", len(names))))
		}
	}
	methods := q.Spec.Matrix.RebootMethod
	if len(methods) == 0 {
		methods = []string{base.Spec.Reboot.Method}
	}
	for _, e := range q.Spec.Matrix.Include {
		if e.RebootMethod != nil {
			methods = append(methods, *e.RebootMethod)
		}
	}
	kindNode := slices.ContainsFunc(methods, func(m string) bool { return m == RebootKindRestart || m == RebootKindKill })
	if mu := *q.Spec.MaxUnavailable; mu > 1 && kindNode {
		errs = append(errs, field.Invalid(sp.Child("maxUnavailable"), mu,
			"must be 1 with kind-restart or kind-kill: Docker gives a restarted container the lowest free address, so two kind nodes down at once can come back with each other's InternalIP"))
	}
	return errs
}

// Exceeded reports whether an interval [lo, hi] of a slope (a fraction of
// the baseline per cycle) is wholly past the limit for the metric (p50
// growing, throughput falling).
func (t Trend) Exceeded(lo, hi float64) bool {
	if t.Metric == TrendThroughput {
		return hi < -t.MaxTrendPerCycle
	}
	return lo > t.MaxTrendPerCycle
}

// KindOf returns the kind a YAML document declares ("Scenario",
// "Qualification"), or "" when it declares none or is not YAML.
func KindOf(b []byte) string {
	var head struct {
		Kind string `yaml:"kind"`
	}
	if len(b) > MaxFileBytes || yaml.Unmarshal(b, &head) != nil {
		return ""
	}
	return head.Kind
}
