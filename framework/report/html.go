package report

import (
	"fmt"
	"html/template"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/pvreboot/pvreboot/framework/budget"
	"github.com/pvreboot/pvreboot/framework/calibrate"
	"github.com/pvreboot/pvreboot/framework/probe"
	"github.com/pvreboot/pvreboot/framework/scenario"
)

// HTML writes the report as one self-contained page: no script, no external
// style sheet, font or image (a Content-Security-Policy forbids fetching
// any), the plots inline SVG. Every value from the Result is escaped by
// html/template.
func HTML(w io.Writer, r *Result) error {
	tmpl, err := template.New("report").Funcs(template.FuncMap{"join": strings.Join, "inc": func(n int) int { return n + 1 },
		"none": func(s string) string {
			if s == "" {
				return "(none)"
			}
			return s
		}}).Parse(htmlTemplate)
	if err != nil {
		return fmt.Errorf("html template: %w", err)
	}
	return tmpl.Execute(w, newHTMLView(r))
}

// htmlView is what the template shows, computed from a Result.
type htmlView struct {
	Scenario, Verdict, VerdictClass, Headline string
	Cause                                     *Change
	Node, Cluster, When                       string
	Errors, Warnings, Faults                  []string
	Failure                                   *Failure
	Glance                                    []glanceItem
	Phases                                    []phaseRow
	AnyResident                               bool
	Figures                                   []figure
	Budgets                                   []budgetRow
	DiagnosisTitle, CauseLabel                string
	Diagnosis                                 []diagnosisGroup
	Checks                                    []checkRow
	EnvPhases                                 []phaseName
	Env                                       []envGroup
	Reboots                                   []rebootView
	Calibration                               *calibrationView
	Timings                                   []timingRow
}

type phaseName struct {
	Name  string
	Color template.CSS
}

// glanceItem is one phase against the baseline, in the banner: its median
// call as a multiple of the baseline's, and whether its budgets passed.
type glanceItem struct {
	phaseName
	Ratio, Detail, Class string
}

type phaseRow struct {
	phaseName
	Calls, P50, P90, P99, Max, Rate, VsBaseline, DataPath, DataNote, Resident, Volume, Pod, Method, Error string
}

type budgetRow struct {
	Status, Class, Name, Kind, Phase, Measured, Limit, Detail string
	Warnings                                                  []string
}

type diagnosisGroup struct {
	From, To phaseName
	Changes  []Change
}

type checkRow struct {
	phaseName
	Path, Want, Got, Detail string
	OK                      bool
}

type envGroup struct {
	Name string
	Rows []envRow
}

type envRow struct {
	Fact  string
	Cells []envCell
}

type envCell struct {
	Value   string
	Changed bool
}

type rebootView struct {
	Method, Node, Issued, Pod, BootID string
	Steps                             []milestoneRow
	Notes                             []string
}

type milestoneRow struct{ Name, At string }

type calibrationView struct {
	Scenario, Phase, Node, At string
	Repeats                   int
	Noise                     []noiseRow
	Budgets                   []noiseBudgetRow
	Suggested, Notes          []string
}

type noiseRow struct{ Metric, Mean, Min, Max, CV, MaxRatio string }

type noiseBudgetRow struct {
	Name, Rate, Worst, Limit, MinP string
	Trials, Alarms                 int
	Class                          string
}

type timingRow struct {
	Step, Elapsed string
	Percent       int
}

func newHTMLView(r *Result) htmlView {
	pal := newPalette(r)
	name := func(n string) phaseName { return phaseName{Name: n, Color: pal.hex(n)} }
	v := htmlView{
		Scenario: r.Scenario, Verdict: verdictWord(r), Warnings: warnings(r), Faults: r.Faults,
		Node: r.Node.Name, Failure: r.Failure,
	}
	for _, e := range r.Errors {
		if !isFailure(r, e) {
			v.Errors = append(v.Errors, e)
		}
	}
	v.VerdictClass = map[string]string{"PASS": "pass", "FAIL": "fail", "ERROR": "error"}[v.Verdict]
	if v.VerdictClass == "" {
		v.VerdictClass = "none"
	}
	if r.Node.InternalIP != "" {
		v.Node += " (" + r.Node.InternalIP + ")"
	}
	v.Cluster = strings.TrimSpace(strings.Join([]string{r.Cluster.Provider, "cluster", r.Cluster.Name, r.Cluster.KubernetesVersion}, " "))
	if r.Cluster.Name == "" && r.Cluster.Provider == "" {
		v.Cluster = "-"
	}
	if !r.StartedAt.IsZero() {
		v.When = r.StartedAt.UTC().Format(time.RFC3339)
		if r.FinishedAt.After(r.StartedAt) {
			v.When += fmt.Sprintf(", %s long", r.FinishedAt.Sub(r.StartedAt).Round(time.Second))
		}
	}
	v.Headline = headline(r)
	if n := len(v.Warnings); n > 0 {
		v.Headline += fmt.Sprintf("; %d warning(s) below: these numbers may not mean what they seem", n)
		v.VerdictClass += " warned"
	}
	v.CauseLabel = "most likely cause"
	if r.Verdict.Pass {
		v.CauseLabel = "ranked first"
	}
	if !r.Verdict.Pass && len(r.Diagnosis) > 0 {
		v.Cause = &r.Diagnosis[0]
	}
	v.Phases, v.AnyResident = phaseRows(r, name)
	v.Glance = glance(r, name)
	v.Figures = figures(r, pal)
	for _, res := range r.Verdict.Results {
		v.Budgets = append(v.Budgets, budgetRow{Status: status(res), Class: passClass(res.Pass), Name: res.Name, Kind: string(res.Kind), Phase: res.Phase,
			Measured: measuredString(res), Limit: limitString(res), Detail: res.Detail, Warnings: res.Warnings})
	}
	v.DiagnosisTitle = "Diagnosis: what changed, most likely cause first"
	if r.Verdict.Pass {
		v.DiagnosisTitle = "Environment changes (no budget failed)"
	}
	for _, c := range r.Diagnosis {
		if n := len(v.Diagnosis); n == 0 || v.Diagnosis[n-1].From.Name != c.From || v.Diagnosis[n-1].To.Name != c.To {
			v.Diagnosis = append(v.Diagnosis, diagnosisGroup{From: name(c.From), To: name(c.To)})
		}
		g := &v.Diagnosis[len(v.Diagnosis)-1]
		g.Changes = append(g.Changes, c)
	}
	for _, p := range r.Phases {
		if p.Data != nil {
			v.Checks = append(v.Checks, checkRow{phaseName: name(p.Name), Path: p.Data.Path, Want: p.Data.Want, Got: p.Data.Got, Detail: p.Data.Detail, OK: p.Data.OK})
		}
	}
	v.EnvPhases, v.Env = envTable(r, name)
	for _, rb := range r.Reboots {
		rv := rebootView{Method: rb.Method, Node: rb.Node, Issued: rb.Issued.UTC().Format(time.RFC3339), BootID: bootIDLine(rb), Notes: rb.Notes}
		switch {
		case rb.PodReady == nil:
			rv.Pod = fmt.Sprintf("pod not seen back (restarts before %d)", rb.RestartsBefore)
		case rb.SamePod:
			rv.Pod = fmt.Sprintf("same pod, containers restarted (restarts %d → %d)", rb.RestartsBefore, rb.RestartsAfter)
		default:
			rv.Pod = fmt.Sprintf("pod recreated (restarts %d → %d)", rb.RestartsBefore, rb.RestartsAfter)
		}
		for _, m := range milestones(rb) {
			at := "not seen"
			if m.seen {
				at = fmt.Sprintf("+%.1fs", m.at)
			}
			rv.Steps = append(rv.Steps, milestoneRow{m.name, at})
		}
		v.Reboots = append(v.Reboots, rv)
	}
	if r.Calibration != nil {
		v.Calibration = calibrationRows(r.Calibration)
	}
	var total time.Duration
	for _, t := range r.Timings {
		total += t.Elapsed
	}
	for _, t := range r.Timings {
		pct := 0
		if total > 0 {
			pct = int(100 * t.Elapsed / total)
		}
		v.Timings = append(v.Timings, timingRow{Step: t.Step, Elapsed: t.Elapsed.Round(time.Millisecond).String(), Percent: pct})
	}
	return v
}

func passClass(pass bool) string {
	if pass {
		return "pass"
	}
	return "fail"
}

// headline is the banner's one line: how many budgets failed and which
// first, or the first error.
func headline(r *Result) string {
	n := len(r.Verdict.Results)
	bad := 0
	for _, c := range r.Phases {
		if c.Data != nil && !c.Data.OK {
			bad++
		}
	}
	var s string
	switch {
	case r.Failure != nil:
		s = "the run " + r.Failure.String()
	case len(r.Errors) > 0:
		s = "the run failed: " + r.Errors[0]
	case n == 0:
		s = "no budgets were judged"
	case r.Verdict.Pass:
		s = fmt.Sprintf("all %d budgets passed", n)
	default:
		f := r.Verdict.Failures()
		s = fmt.Sprintf("%d of %d budgets failed, first: %s", len(f), n, f[0].Detail)
	}
	if bad > 0 {
		s += fmt.Sprintf("; the data written before the reboot is not intact in %d phase(s)", bad)
	}
	return s
}

// phaseRows is the side-by-side phase table.
func phaseRows(r *Result, name func(string) phaseName) ([]phaseRow, bool) {
	var out []phaseRow
	base := r.BudgetPhases()[baselineName(r)]
	baseP50, baseErr := budget.Metric(base, "p50")
	tr := rows(r)
	anyRes := anyResident(tr)
	for i, p := range r.Phases {
		x := tr[i]
		row := phaseRow{phaseName: name(p.Name), Calls: x.calls, P50: x.p50, P90: "-", P99: x.p99, Max: x.max, Rate: x.mbps,
			VsBaseline: "-", DataPath: x.data, Resident: x.resident, Volume: x.volume, Pod: x.pod, Error: p.Error}
		if p.Probe != nil {
			row.P90 = budget.FormatNs(float64(p.Probe.Summary.P90Ns))
			row.Method = string(p.Probe.Method)
			_, row.DataNote = dataPath(p.Probe)
			if p50, err := budget.Metric(PhaseFromProbe(p.Probe), "p50"); err == nil && baseErr == nil && baseP50 > 0 {
				row.VsBaseline = fmt.Sprintf("×%.2f", p50/baseP50)
			}
		}
		out = append(out, row)
	}
	return out, anyRes
}

// baselineName is the phase the others are compared with: the baseline, or
// the first phase.
func baselineName(r *Result) string {
	if r.Phase(scenario.PhaseBaseline) != nil || len(r.Phases) == 0 {
		return scenario.PhaseBaseline
	}
	return r.Phases[0].Name
}

// glance puts each phase after the baseline in the banner: its median call
// as a multiple of the baseline's, red when a budget on it failed.
func glance(r *Result, name func(string) phaseName) []glanceItem {
	phases := r.BudgetPhases()
	baseName := baselineName(r)
	base, err := budget.Metric(phases[baseName], "p50")
	if err != nil || !(base > 0) {
		return nil
	}
	var out []glanceItem
	for _, p := range r.Phases {
		if p.Name == baseName || p.Probe == nil {
			continue
		}
		p50, err := budget.Metric(phases[p.Name], "p50")
		if err != nil {
			continue
		}
		g := glanceItem{phaseName: name(p.Name), Ratio: fmt.Sprintf("×%.1f", p50/base),
			Detail: fmt.Sprintf("p50 %s vs %s %s", budget.FormatNs(p50), baseName, budget.FormatNs(base)), Class: "none"}
		for _, res := range r.Verdict.Results {
			if res.Phase != p.Name {
				continue
			}
			if !res.Pass {
				g.Class = "fail"
				break
			}
			g.Class = "pass"
		}
		out = append(out, g)
	}
	return out
}

// envTable lays out every phase's environment side by side: what a
// diagnosis compares, each value that differs from the first phase's marked.
func envTable(r *Result, name func(string) phaseName) ([]phaseName, []envGroup) {
	var phases []PhaseResult
	var names []phaseName
	for _, p := range r.Phases {
		if p.Probe != nil {
			phases = append(phases, p)
			names = append(names, name(p.Name))
		}
	}
	if len(phases) == 0 {
		return nil, nil
	}
	var groups []envGroup
	group := func(title string, facts []string, value func(rep *probe.Report, fact string) string) {
		g := envGroup{Name: title}
		for _, f := range facts {
			row := envRow{Fact: f}
			first, some := value(phases[0].Probe, f), false
			for i, p := range phases {
				val := value(p.Probe, f)
				some = some || val != ""
				row.Cells = append(row.Cells, envCell{Value: orDash(val), Changed: i > 0 && val != first})
			}
			if some {
				g.Rows = append(g.Rows, row)
			}
		}
		if len(g.Rows) > 0 {
			groups = append(groups, g)
		}
	}
	group("copy", []string{"method", "cache", "file size", "chunk size", "directory", "device", "data path", "source cached before the first call"},
		func(rep *probe.Report, f string) string {
			switch f {
			case "method":
				if len(rep.ExecCommand) > 0 {
					return string(rep.Method) + ": " + strings.Join(rep.ExecCommand, " ")
				}
				return string(rep.Method)
			case "cache":
				return string(rep.Cache)
			case "file size":
				return probe.FormatSize(rep.FileBytes)
			case "chunk size":
				return probe.FormatSize(rep.ChunkBytes)
			case "directory":
				return rep.Dir
			case "device":
				return rep.Device
			case "data path":
				d, note := dataPath(rep)
				return strings.TrimSuffix(string(d)+": "+note, ": ")
			}
			return strings.Trim(residentLabel(rep), "-")
		})
	group("mount", []string{"majorMinor", "fsType", "source", "root", "mountPoint", "mountOptions", "superOptions", "statfsType"},
		func(rep *probe.Report, f string) string {
			m := rep.Env.Mount
			return map[string]string{"majorMinor": m.MajorMinor, "fsType": m.FSType, "source": m.Source, "root": m.Root, "mountPoint": m.MountPoint,
				"mountOptions": m.MountOptions, "superOptions": m.SuperOptions, "statfsType": rep.Env.StatfsType}[f]
		})
	group("block device", []string{"name", "majorMinor", "size", "readAheadKB", "directIO", "rotational", "scheduler", "backingFile"},
		func(rep *probe.Report, f string) string {
			d := rep.Env.Device
			if d == nil {
				return ""
			}
			size := ""
			if d.SizeBytes > 0 {
				size = probe.FormatSize(d.SizeBytes)
			}
			return map[string]string{"name": d.Name, "majorMinor": d.MajorMinor, "size": size, "readAheadKB": strconv.FormatInt(d.ReadAheadKB, 10),
				"directIO": boolFact(d.DirectIO), "rotational": boolFact(d.Rotational), "scheduler": d.Scheduler, "backingFile": d.BackingFile}[f]
		})
	keys := func(get func(e probe.Env) map[string]string, prefix string) []string {
		set := map[string]bool{}
		for _, p := range phases {
			for k := range get(p.Probe.Env) {
				set[prefix+k] = true
			}
		}
		return slices.Sorted(maps.Keys(set))
	}
	paths := func(e probe.Env) map[string]string { return e.Cgroup.Paths }
	limits := func(e probe.Env) map[string]string { return e.Cgroup.Limits }
	memory := func(e probe.Env) map[string]string { return e.Cgroup.Memory }
	cg := []string{"version"}
	cg = append(cg, keys(paths, "path ")...)
	cg = append(cg, keys(limits, "limit ")...)
	cg = append(cg, keys(memory, "memory.")...)
	group("cgroup", cg, func(rep *probe.Report, f string) string {
		c := rep.Env.Cgroup
		switch {
		case f == "version":
			return c.Version
		case strings.HasPrefix(f, "path "):
			return c.Paths[strings.TrimPrefix(f, "path ")]
		case strings.HasPrefix(f, "limit "):
			return c.Limits[strings.TrimPrefix(f, "limit ")]
		}
		return c.Memory[strings.TrimPrefix(f, "memory.")]
	})
	group("sysctl", keys(func(e probe.Env) map[string]string { return e.Sysctls }, ""), func(rep *probe.Report, f string) string {
		return rep.Env.Sysctls[f]
	})
	group("node", []string{"kernelRelease", "bootID", "hostname", "notes"}, func(rep *probe.Report, f string) string {
		e := rep.Env
		return map[string]string{"kernelRelease": e.KernelRelease, "bootID": e.BootID, "hostname": e.Hostname, "notes": strings.Join(e.Notes, "; ")}[f]
	})
	return names, groups
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func calibrationRows(c *calibrate.Calibration) *calibrationView {
	v := &calibrationView{Scenario: c.Scenario, Phase: c.Phase, Node: c.Node, Repeats: c.Repeats, Notes: c.Notes}
	if !c.At.IsZero() {
		v.At = c.At.UTC().Format(time.RFC3339)
	}
	value := func(unit string, x float64) string {
		switch unit {
		case "ns":
			return budget.FormatNs(x)
		case "B/s":
			return budget.FormatRate(x)
		}
		return fmt.Sprintf("×%.2f", x)
	}
	for _, n := range c.Noise {
		v.Noise = append(v.Noise, noiseRow{Metric: n.Metric, Mean: value(n.Unit, n.Mean), Min: value(n.Unit, n.Min), Max: value(n.Unit, n.Max),
			CV: fmt.Sprintf("%.1f%%", 100*n.CV), MaxRatio: fmt.Sprintf("×%.2f", n.MaxRatio)})
	}
	for _, b := range c.Budgets {
		row := noiseBudgetRow{Name: b.Name, Trials: b.Trials, Alarms: b.Alarms, Rate: fmt.Sprintf("%.0f%% (≤ %.0f%% at %.0f%%)", 100*b.Rate, 100*b.RateHi, 100*calibrate.Confidence),
			Worst: value(b.Unit, b.Worst), Limit: value(b.Unit, b.Limit), MinP: "-", Class: "pass"}
		if b.MinPValue > 0 {
			row.MinP = fmt.Sprintf("%.3g", b.MinPValue)
		}
		if b.Alarms > 0 {
			row.Class = "fail"
		}
		v.Budgets = append(v.Budgets, row)
	}
	for _, s := range c.Suggested {
		v.Suggested = append(v.Suggested, calibrate.Describe(s))
	}
	return v
}
