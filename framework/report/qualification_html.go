package report

import (
	"fmt"
	"html/template"
	"io"
	"path"
	"strings"
	"time"
)

// QualificationHTML renders a qualification as one self-contained page: the
// matrix of cases x metrics, each cell coloured by its verdict or by how
// much slower the case got after the reboot, and a link to every case's own
// report.
func QualificationHTML(w io.Writer, q *Qualification) error {
	return qualificationTemplate.Execute(w, newQualificationView(q))
}

type qualificationView struct {
	Name, Verdict, VerdictClass, Wall, Started string
	Counts                                     Counts
	Total, Cycles, Parallel, MaxUnavailable    int
	Nodes                                      string
	Axes                                       []string
	Rows                                       []qualificationRow
	Problems                                   []qualificationProblem
	Warnings, Notes                            []string
}

type qualificationRow struct {
	ID, Name, Link, Node           string
	Params                         []string
	Baseline, AfterRecreate, Ratio string
	RatioClass                     string
	Cycles                         []qualificationCycle
	Flake, FlakeClass              string
	Trend, TrendClass              string
	Elapsed, Outcome, OutcomeClass string
}

type qualificationCycle struct{ Text, Class string }

type qualificationProblem struct{ Name, Outcome, What, Cause string }

// ratioClass colours a slowdown: within 1.5x is fine, to 3x a warning,
// beyond it bad.
func ratioClass(r float64) string {
	switch {
	case r == 0:
		return ""
	case r <= 1.5:
		return "good"
	case r <= 3:
		return "warn"
	}
	return "bad"
}

func outcomeClass(o string) string {
	switch o {
	case OutcomePassed:
		return "pass"
	case OutcomeFailed:
		return "fail"
	case OutcomeError:
		return "error"
	}
	return "none"
}

func newQualificationView(q *Qualification) qualificationView {
	v := qualificationView{Name: q.Name, Verdict: "PASS", VerdictClass: "pass", Counts: q.Counts, Total: len(q.Cases), Cycles: q.Cycles,
		Parallel: q.Parallel, MaxUnavailable: q.MaxUnavailable, Nodes: strings.Join(q.Nodes, ", "), Axes: q.Axes, Notes: q.Notes,
		Wall: q.FinishedAt.Sub(q.StartedAt).Round(time.Second).String(), Started: q.StartedAt.UTC().Format(time.RFC3339)}
	if !q.Pass {
		v.Verdict, v.VerdictClass = "FAIL", "fail"
	}
	for _, c := range q.Cases {
		row := qualificationRow{ID: c.ID, Name: c.Name, Node: orDash(c.Node), Ratio: ratioCell(c), RatioClass: ratioClass(c.Ratio),
			Flake: fmt.Sprintf("%.0f%%", 100*c.FlakeRate), Trend: trendCell(c), Elapsed: c.Elapsed.Round(time.Second).String(),
			Outcome: outcomeWord(c), OutcomeClass: outcomeClass(c.Outcome), Baseline: "-", AfterRecreate: "-"}
		if c.Dir != "" && c.Outcome != OutcomeSkipped {
			row.Link = path.Join(c.Dir, "report.html")
		}
		for _, a := range q.Axes {
			row.Params = append(row.Params, paramValue(c, a))
		}
		if c.Baseline != nil {
			row.Baseline = fmtNs(c.Baseline.P50Ns)
		}
		if c.AfterRecreate != nil {
			row.AfterRecreate = fmtNs(c.AfterRecreate.P50Ns)
		}
		for _, cy := range c.Cycles {
			cc := qualificationCycle{Text: fmtNs(cy.P50Ns), Class: "pass"}
			if !cy.Pass {
				cc.Class = "fail"
			}
			row.Cycles = append(row.Cycles, cc)
		}
		if c.FlakeRate > 0 {
			row.FlakeClass = "fail"
		}
		if c.Trend != nil && c.Trend.Judged {
			row.TrendClass = outcomeClass(map[bool]string{true: OutcomePassed, false: OutcomeFailed}[c.Trend.Pass])
		}
		v.Rows = append(v.Rows, row)
		if c.Outcome == OutcomeFailed || c.Outcome == OutcomeError {
			p := qualificationProblem{Name: c.Name, Outcome: c.Outcome, What: strings.Join(c.Failed, "; ")}
			if c.Error != "" {
				p.What = c.Error
			}
			if len(c.Diagnosis) > 0 {
				p.Cause = c.Diagnosis[0].String()
			}
			v.Problems = append(v.Problems, p)
		}
		for _, x := range c.Warnings {
			v.Warnings = append(v.Warnings, c.Name+": "+x)
		}
	}
	return v
}

var qualificationTemplate = template.Must(template.New("qualification").Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="pvreboot">
<title>pvreboot qualification {{.Name}}: {{.Verdict}}</title>
<style>
body { margin: 0; background: #f4f5f7; color: #1c1f23; font: 14px/1.45 "Liberation Sans", "DejaVu Sans", Arial, sans-serif; }
main { max-width: 1280px; margin: 0 auto; padding: 16px 20px 40px; }
h2 { font-size: 17px; margin: 24px 0 8px; }
.verdict { color: #fff; border-radius: 8px; padding: 14px 20px; }
.verdict.pass { background: #1e7d32; } .verdict.fail { background: #b3261e; }
.verdict .word { font-size: 30px; font-weight: 700; margin-right: 12px; }
.verdict .name { font-size: 20px; font-weight: 600; }
.verdict .facts span { margin-right: 16px; }
table { border-collapse: collapse; width: 100%; background: #fff; }
th, td { border: 1px solid #d9dde3; padding: 4px 8px; text-align: left; white-space: nowrap; }
th { background: #eceff3; }
td.num { text-align: right; }
td.pass { background: #dff3e2; } td.fail { background: #fbd9d5; font-weight: 600; }
td.error { background: #ffe8c2; } td.none { background: #eceff3; color: #5f6b7a; }
td.good { background: #dff3e2; } td.warn { background: #fff1c2; } td.bad { background: #fbd9d5; font-weight: 600; }
.muted { color: #5f6b7a; }
li { margin: 4px 0; }
</style>
</head>
<body>
<main>
<section class="verdict {{.VerdictClass}}" id="verdict">
<div><span class="word">{{.Verdict}}</span><span class="name">qualification {{.Name}}</span></div>
<div class="facts"><span>{{.Total}} cases: {{.Counts.Passed}} passed, {{.Counts.Failed}} failed, {{.Counts.Errored}} errored, {{.Counts.Skipped}} skipped ({{.Counts.Resumed}} resumed)</span>
<span>{{.Cycles}} cycle(s) per case</span><span>nodes {{.Nodes}}</span><span>parallel {{.Parallel}}, maxUnavailable {{.MaxUnavailable}}</span>
<span>started {{.Started}}, {{.Wall}}</span></div>
</section>
<h2>Matrix</h2>
<table id="matrix">
<thead><tr>{{range .Axes}}<th>{{.}}</th>{{end}}<th>node</th><th>baseline p50</th><th>after-reboot p50, cycle by cycle</th><th>worst ratio</th><th>after-recreate p50</th><th>flake rate</th><th>trend</th><th>time</th><th>outcome</th></tr></thead>
<tbody>
{{range .Rows}}<tr data-case="{{.ID}}">{{range .Params}}<td>{{.}}</td>{{end}}<td>{{.Node}}</td><td class="num">{{.Baseline}}</td>
<td class="num">{{range $i, $c := .Cycles}}{{if $i}} · {{end}}<span class="cycle {{$c.Class}}">{{$c.Text}}</span>{{else}}-{{end}}</td>
<td class="num ratio {{.RatioClass}}">{{.Ratio}}</td><td class="num">{{.AfterRecreate}}</td><td class="num {{.FlakeClass}}">{{.Flake}}</td>
<td class="num {{.TrendClass}}">{{.Trend}}</td><td class="num">{{.Elapsed}}</td>
<td class="outcome {{.OutcomeClass}}">{{if .Link}}<a href="{{.Link}}">{{.Outcome}}</a>{{else}}{{.Outcome}}{{end}}</td></tr>
{{end}}</tbody>
</table>
<p class="muted">Ratio: the worst cycle's after-reboot p50 over the baseline's (green within x1.5, yellow to x3, red beyond). Each outcome links to the case's own report.</p>
{{if .Problems}}<h2>Failed and errored cases</h2>
<ul id="problems">{{range .Problems}}<li><b>{{.Name}}</b> ({{.Outcome}}): {{.What}}{{if .Cause}}<br><span class="muted">most likely cause: {{.Cause}}</span>{{end}}</li>{{end}}</ul>{{end}}
{{if .Warnings}}<h2>Warnings</h2><ul id="warnings">{{range .Warnings}}<li>⚠ {{.}}</li>{{end}}</ul>{{end}}
{{if .Notes}}<h2>Notes</h2><ul>{{range .Notes}}<li>{{.}}</li>{{end}}</ul>{{end}}
</main>
</body>
</html>
`))
