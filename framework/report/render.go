package report

import (
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/pvreboot/pvreboot/framework/budget"
	"github.com/pvreboot/pvreboot/framework/probe"
)

// Formats Render knows.
var Formats = []string{"text", "markdown", "junit", "json", "html", "openmetrics"}

// Render writes r in format.
func Render(w io.Writer, r *Result, format string) error {
	switch format {
	case "text":
		return Text(w, r)
	case "markdown":
		return Markdown(w, r)
	case "junit":
		return JUnit(w, r)
	case "json":
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(r)
	case "html":
		return HTML(w, r)
	case "openmetrics":
		return OpenMetrics(w, r)
	}
	return fmt.Errorf("unknown format %q (want %s)", format, strings.Join(Formats, ", "))
}

type row struct {
	phase, calls, p50, p99, max, mbps, data, resident, volume, pod string
}

func rows(r *Result) []row {
	var out []row
	for _, p := range r.Phases {
		if p.Probe == nil {
			out = append(out, row{phase: p.Name, calls: "-", p50: "-", p99: "-", max: "-", mbps: "-", data: "-", resident: "-", volume: "-", pod: podLabel(p)})
			continue
		}
		s := p.Probe.Summary
		m := p.Probe.Env.Mount
		volume := strings.TrimSpace(m.MajorMinor + " " + m.FSType)
		if d := p.Probe.Env.Device; p.Probe.Device != "" && d != nil {
			volume = strings.TrimSpace(d.MajorMinor + " block " + d.Name)
		}
		out = append(out, row{
			phase: p.Name, calls: fmt.Sprint(s.Calls),
			p50: budget.FormatNs(float64(s.P50Ns)), p99: budget.FormatNs(float64(s.P99Ns)), max: budget.FormatNs(float64(s.MaxNs)),
			mbps:     fmt.Sprintf("%.1f", s.BytesPerSecond/1e6),
			data:     dataPathLabel(p.Probe),
			resident: residentLabel(p.Probe),
			volume:   volume,
			pod:      podLabel(p),
		})
	}
	return out
}

// dataPath is a report's data path verdict, from its summary or (a report
// summarised before it had one) its iterations; "" when not checked.
func dataPath(rep *probe.Report) (probe.DataPath, string) {
	if s := rep.Summary; s.DataPath != "" {
		return s.DataPath, s.DataPathNote
	}
	s := probe.Summarize(rep.Iterations)
	return s.DataPath, s.DataPathNote
}

func dataPathLabel(rep *probe.Report) string {
	if d, _ := dataPath(rep); d != "" {
		return string(d)
	}
	return "-"
}

// residentLabel is the share of the source in page cache before the first
// call, over the phase's copies: "0%", "0-100%", "-" when not measured.
func residentLabel(rep *probe.Report) string {
	if lo, hi, ok := rep.SourceResidency(); ok {
		return probe.FormatResidency(lo, hi)
	}
	return "-"
}

func anyResident(rs []row) bool {
	for _, x := range rs {
		if x.resident != "-" {
			return true
		}
	}
	return false
}

// warnings are what makes a phase's numbers mean less than they seem: a
// copy that moved no data, a cold cache that was not cold.
func warnings(r *Result) []string {
	var out []string
	for _, p := range r.Phases {
		if p.Probe == nil {
			continue
		}
		switch d, note := dataPath(p.Probe); d {
		case probe.DataPathSharedExtents:
			out = append(out, fmt.Sprintf("%s: %s shared extents (reflink): no data was read or written; latency budgets on this phase cannot see the data path",
				p.Name, p.Probe.Method))
		case probe.DataPathUnknown:
			out = append(out, fmt.Sprintf("%s: not known whether the copies moved data: %s", p.Name, note))
		}
		if lo, hi, ok := p.Probe.SourceResidency(); ok && p.Probe.Cache == probe.CacheCold && hi >= probe.ColdResidentWarning {
			out = append(out, fmt.Sprintf("%s: cache cold, yet %s of the source was in page cache before the first call: the eviction did not work, the copies read from memory",
				p.Name, probe.FormatResidency(lo, hi)))
		}
	}
	return out
}

func podLabel(p PhaseResult) string {
	if p.Pod.UID == "" {
		return "-"
	}
	uid := p.Pod.UID
	if len(uid) > 8 {
		uid = uid[:8]
	}
	return fmt.Sprintf("%s uid %s restarts %d", p.Pod.Name, uid, p.Pod.RestartCount)
}

func verdictWord(r *Result) string {
	switch {
	case len(r.Errors) > 0 || r.Failure != nil:
		return "ERROR"
	case len(r.Verdict.Results) == 0:
		return "NO BUDGETS"
	case r.Verdict.Pass:
		return "PASS"
	}
	return "FAIL"
}

func status(res budget.Result) string {
	switch {
	case res.Skipped:
		return "SKIP(FAIL)"
	case res.Pass:
		return "PASS"
	}
	return "FAIL"
}

func limitString(res budget.Result) string {
	switch res.Unit {
	case "ns":
		return budget.FormatNs(res.Limit)
	case "B/s":
		return budget.FormatRate(res.Limit)
	}
	return fmt.Sprintf("x%g", res.Limit)
}

func measuredString(res budget.Result) string {
	if res.Skipped {
		return "-"
	}
	switch res.Unit {
	case "ns":
		return budget.FormatNs(res.Measured)
	case "B/s":
		return budget.FormatRate(res.Measured)
	}
	return fmt.Sprintf("x%.2f", res.Measured)
}

func ts(t *time.Time, from time.Time) string {
	if t == nil {
		return "not seen"
	}
	return fmt.Sprintf("+%.1fs", t.Sub(from).Seconds())
}

// Text is the terminal summary: verdict, diagnosis first when a budget
// fails, the side-by-side phase table, budgets, reboot timeline, data checks.
func Text(w io.Writer, r *Result) error {
	where := ""
	if r.Cluster.Provider != "" {
		where = fmt.Sprintf(" (%s cluster %s)", r.Cluster.Provider, r.Cluster.Name)
	}
	fmt.Fprintf(w, "pvreboot %s: %s on node %s%s\n", r.Scenario, verdictWord(r), r.Node.Name, where)
	if p := r.Provenance; p != nil {
		fmt.Fprintf(w, "run %s by pvreboot %s (%s) on %s %s/%s\n", p.RunID, p.Build.Version, p.Build.Revision, p.Host.Hostname, p.Host.OS, p.Host.Arch)
	}
	if f := r.Failure; f != nil {
		fmt.Fprintf(w, "%s\n", f)
		if len(f.Artifacts) > 0 {
			fmt.Fprintf(w, "saved to explain it: %s\n", strings.Join(f.Artifacts, ", "))
		}
		for _, e := range f.ArtifactErrors {
			fmt.Fprintf(w, "not saved: %s\n", e)
		}
	}
	for _, e := range r.Errors {
		if !isFailure(r, e) {
			fmt.Fprintf(w, "error: %s\n", e)
		}
	}
	for _, x := range warnings(r) {
		fmt.Fprintf(w, "WARNING: %s\n", x)
	}
	if !r.Verdict.Pass && len(r.Diagnosis) > 0 {
		fmt.Fprintln(w, "\nDiagnosis (what changed):")
		for _, c := range r.Diagnosis {
			fmt.Fprintf(w, "  %s\n", c)
		}
	}
	rs := rows(r)
	if len(rs) == 0 {
		fmt.Fprintln(w, "\nNo phase was measured.")
	} else {
		fmt.Fprintln(w, "\nPer-call copy latency:")
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "  PHASE\tCALLS\tP50\tP99\tMAX\tMB/s\tDATA PATH\tCACHED\tVOLUME\tPOD")
		for _, x := range rs {
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", x.phase, x.calls, x.p50, x.p99, x.max, x.mbps, x.data, x.resident, x.volume, x.pod)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	if anyResident(rs) {
		fmt.Fprintln(w, "  CACHED: share of the source in page cache before each copy's first call (mincore)")
	}
	if len(r.Verdict.Results) > 0 {
		fmt.Fprintln(w, "\nBudgets:")
		for _, res := range r.Verdict.Results {
			fmt.Fprintf(w, "  %-10s %s: %s\n", status(res), res.Name, res.Detail)
		}
	}
	for _, rb := range r.Reboots {
		fmt.Fprintf(w, "\nReboot (%s of %s) at %s:\n", rb.Method, rb.Node, rb.Issued.UTC().Format(time.RFC3339))
		fmt.Fprintf(w, "  command returned %s, NotReady %s, kubelet back %s, node Ready %s, pod Ready %s\n",
			ts(&rb.Returned, rb.Issued), ts(rb.NotReadySeen, rb.Issued), ts(rb.KubeletBack, rb.Issued), ts(rb.NodeReady, rb.Issued), ts(rb.PodReady, rb.Issued))
		switch {
		case rb.PodReady == nil:
			// Nothing was observed: the wait failed or was interrupted.
			fmt.Fprintf(w, "  pod not seen back (restarts before %d); bootID %s\n", rb.RestartsBefore, bootIDLine(rb))
		case rb.SamePod:
			fmt.Fprintf(w, "  same pod, containers restarted (restarts %d -> %d); bootID %s\n", rb.RestartsBefore, rb.RestartsAfter, bootIDLine(rb))
		default:
			fmt.Fprintf(w, "  pod recreated (restarts %d -> %d); bootID %s\n", rb.RestartsBefore, rb.RestartsAfter, bootIDLine(rb))
		}
		for _, n := range rb.Notes {
			fmt.Fprintf(w, "  note: %s\n", n)
		}
	}
	var checks []string
	for _, p := range r.Phases {
		if p.Data != nil {
			s := "intact"
			if !p.Data.OK {
				s = "NOT INTACT: " + p.Data.Detail
			}
			checks = append(checks, fmt.Sprintf("  %s: %s %s", p.Name, p.Data.Path, s))
		}
	}
	if len(checks) > 0 {
		fmt.Fprintln(w, "\nData written before the reboot:")
		fmt.Fprintln(w, strings.Join(checks, "\n"))
	}
	if r.Verdict.Pass && len(r.Diagnosis) > 0 {
		fmt.Fprintln(w, "\nEnvironment changes (no budget failed):")
		for _, c := range r.Diagnosis {
			fmt.Fprintf(w, "  %s\n", c)
		}
	}
	return nil
}

func bootIDLine(rb Reboot) string {
	switch {
	case rb.BootIDBefore == "" || rb.BootIDAfter == "":
		return "not reported"
	case rb.BootIDBefore == rb.BootIDAfter:
		return "unchanged (a kind node restart is not a kernel reboot)"
	}
	return "changed (kernel rebooted)"
}

// Markdown fits a GitHub step summary or a PR comment.
func Markdown(w io.Writer, r *Result) error {
	fmt.Fprintf(w, "## pvreboot `%s`: **%s**\n\n", r.Scenario, verdictWord(r))
	fmt.Fprintf(w, "Node `%s` on %s cluster `%s`.\n\n", r.Node.Name, r.Cluster.Provider, r.Cluster.Name)
	if f := r.Failure; f != nil {
		how := "failed"
		if f.Interrupted {
			how = "interrupted"
		}
		fmt.Fprintf(w, "> **%s in step `%s`:** %s\n", how, f.Step, mdCell(f.Error))
		if len(f.Artifacts) > 0 {
			fmt.Fprintf(w, ">\n> saved to explain it: `%s`\n", strings.Join(f.Artifacts, "`, `"))
		}
		for _, e := range f.ArtifactErrors {
			fmt.Fprintf(w, ">\n> not saved: %s\n", mdCell(e))
		}
		fmt.Fprintln(w)
	}
	for _, e := range r.Errors {
		if !isFailure(r, e) {
			fmt.Fprintf(w, "> **error:** %s\n\n", mdCell(e))
		}
	}
	for _, x := range warnings(r) {
		fmt.Fprintf(w, "> ⚠️ **warning:** %s\n\n", mdCell(x))
	}
	if !r.Verdict.Pass && len(r.Diagnosis) > 0 {
		fmt.Fprintln(w, "### Diagnosis")
		fmt.Fprintln(w)
		fmt.Fprintln(w, "| change | field | before | after | meaning |")
		fmt.Fprintln(w, "|---|---|---|---|---|")
		for _, c := range r.Diagnosis {
			fmt.Fprintf(w, "| %s → %s | `%s` | `%s` | `%s` | %s |\n", c.From, c.To, c.Field, mdCell(c.Before), mdCell(c.After), c.Meaning)
		}
		fmt.Fprintln(w)
	}
	rs := rows(r)
	if len(rs) > 0 {
		fmt.Fprintln(w, "### Per-call copy latency")
		fmt.Fprintln(w)
		fmt.Fprintln(w, "| phase | calls | p50 | p99 | max | MB/s | data path | cached | volume | pod |")
		fmt.Fprintln(w, "|---|---:|---:|---:|---:|---:|---|---:|---|---|")
		for _, x := range rs {
			fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", x.phase, x.calls, x.p50, x.p99, x.max, x.mbps, x.data, x.resident, x.volume, x.pod)
		}
		fmt.Fprintln(w)
	} else {
		fmt.Fprintln(w, "No phase was measured.")
		fmt.Fprintln(w)
	}
	if anyResident(rs) {
		fmt.Fprintln(w, "*cached*: share of the source in page cache before each copy's first call (mincore).")
		fmt.Fprintln(w)
	}
	if len(r.Verdict.Results) > 0 {
		fmt.Fprintln(w, "### Budgets")
		fmt.Fprintln(w)
		fmt.Fprintln(w, "| status | budget | measured | limit | detail |")
		fmt.Fprintln(w, "|---|---|---:|---:|---|")
		for _, res := range r.Verdict.Results {
			icon := "✅"
			if !res.Pass {
				icon = "❌"
			}
			fmt.Fprintf(w, "| %s %s | %s | %s | %s | %s |\n", icon, status(res), res.Name, measuredString(res), limitString(res), mdCell(res.Detail))
		}
		fmt.Fprintln(w)
	}
	for _, rb := range r.Reboots {
		fmt.Fprintf(w, "### Reboot timeline (%s of `%s`)\n\n", rb.Method, rb.Node)
		fmt.Fprintln(w, "| event | at |")
		fmt.Fprintln(w, "|---|---:|")
		fmt.Fprintf(w, "| reboot issued | %s |\n", rb.Issued.UTC().Format(time.RFC3339))
		fmt.Fprintf(w, "| command returned | %s |\n| node NotReady | %s |\n| kubelet back | %s |\n| node Ready | %s |\n| pod Ready | %s |\n\n",
			ts(&rb.Returned, rb.Issued), ts(rb.NotReadySeen, rb.Issued), ts(rb.KubeletBack, rb.Issued), ts(rb.NodeReady, rb.Issued), ts(rb.PodReady, rb.Issued))
	}
	return nil
}

func mdCell(s string) string { return strings.ReplaceAll(strings.ReplaceAll(s, "|", "\\|"), "\n", " ") }

type junitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Name     string       `xml:"name,attr"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Errors   int          `xml:"errors,attr"`
	Suites   []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name       string          `xml:"name,attr"`
	Tests      int             `xml:"tests,attr"`
	Failures   int             `xml:"failures,attr"`
	Errors     int             `xml:"errors,attr"`
	Time       string          `xml:"time,attr"`
	Properties []junitProperty `xml:"properties>property,omitempty"`
	Cases      []junitCase     `xml:"testcase"`
}

type junitProperty struct {
	Name  string `xml:"name,attr"`
	Value string `xml:"value,attr"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	Classname string        `xml:"classname,attr"`
	Failure   *junitFailure `xml:"failure,omitempty"`
	Error     *junitFailure `xml:"error,omitempty"`
	SystemOut string        `xml:"system-out,omitempty"`
}

type junitFailure struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr"`
	Body    string `xml:",chardata"`
}

// JUnit renders one testcase per budget (failure message = explanation),
// plus one errored testcase per run error.
func JUnit(w io.Writer, r *Result) error {
	s := junitSuite{Name: "pvreboot " + r.Scenario, Time: fmt.Sprintf("%.3f", r.FinishedAt.Sub(r.StartedAt).Seconds()),
		Properties: []junitProperty{{"node", r.Node.Name}, {"cluster", r.Cluster.Name}}}
	for _, x := range warnings(r) {
		s.Properties = append(s.Properties, junitProperty{"warning", x})
	}
	var diag []string
	for _, c := range r.Diagnosis {
		diag = append(diag, c.String())
	}
	for _, res := range r.Verdict.Results {
		c := junitCase{Name: res.Name, Classname: "pvreboot." + res.Phase, SystemOut: res.Detail}
		if !res.Pass {
			body := res.Detail
			if len(diag) > 0 {
				body += "\n\nDiagnosis:\n" + strings.Join(diag, "\n")
			}
			c.Failure = &junitFailure{Message: res.Detail, Type: string(res.Kind), Body: body}
			s.Failures++
		}
		s.Cases = append(s.Cases, c)
	}
	if f := r.Failure; f != nil {
		// The step the run stopped in, as an errored testcase of its own.
		typ, body := "error", f.String()
		if f.Interrupted {
			typ = "interrupted"
		}
		if len(f.Artifacts) > 0 {
			body += "\n\nsaved to explain it: " + strings.Join(f.Artifacts, ", ")
		}
		if len(f.ArtifactErrors) > 0 {
			body += "\n\nnot saved: " + strings.Join(f.ArtifactErrors, "\n")
		}
		s.Cases = append(s.Cases, junitCase{Name: "step " + f.Step, Classname: "pvreboot.run." + f.Step,
			Error: &junitFailure{Message: f.String(), Type: typ, Body: body}})
		s.Errors++
	}
	n := 0
	for _, e := range r.Errors {
		if isFailure(r, e) {
			continue
		}
		n++
		s.Cases = append(s.Cases, junitCase{Name: fmt.Sprintf("run error %d", n), Classname: "pvreboot.run", Error: &junitFailure{Message: e, Type: "error", Body: e}})
		s.Errors++
	}
	s.Tests = len(s.Cases)
	doc := junitSuites{Name: "pvreboot", Tests: s.Tests, Failures: s.Failures, Errors: s.Errors, Suites: []junitSuite{s}}
	return encodeJUnit(w, doc)
}

// encodeJUnit writes a JUnit document, indented, with its XML header.
func encodeJUnit(w io.Writer, doc junitSuites) error {
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return err
	}
	_, err := io.WriteString(w, "\n")
	return err
}
