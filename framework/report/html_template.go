package report

// htmlTemplate is the HTML report. It loads nothing: the style is inline,
// the plots are inline SVG, and the Content-Security-Policy forbids every
// fetch (default-src 'none'), so that the file reads the same offline, as a
// CI artifact or attached to an issue.
const htmlTemplate = `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="pvreboot">
<title>pvreboot {{.Scenario}}: {{.Verdict}}</title>
<style>
:root { --pass: #1e7d32; --fail: #b3261e; --error: #a15c00; --none: #5f6b7a; --line: #d9dde3; --muted: #5f6b7a; }
* { box-sizing: border-box; }
body { margin: 0; background: #f4f5f7; color: #1c1f23; font: 14px/1.45 "Liberation Sans", "DejaVu Sans", Arial, sans-serif; }
main { max-width: 1180px; margin: 0 auto; padding: 16px 20px 40px; }
h1 { font-size: 22px; margin: 0 0 4px; }
h2 { font-size: 17px; margin: 28px 0 8px; padding-bottom: 4px; border-bottom: 1px solid var(--line); }
h3 { font-size: 15px; margin: 16px 0 6px; }
code, .mono { font-family: "Liberation Mono", "DejaVu Sans Mono", monospace; font-size: 12.5px; }
.verdict { color: #fff; border-radius: 8px; padding: 16px 20px; margin-bottom: 14px; }
.verdict.pass { background: var(--pass); } .verdict.fail { background: var(--fail); }
.verdict.error { background: var(--error); } .verdict.none { background: var(--none); }
.verdict.warned { box-shadow: inset 0 0 0 5px #f0b429; }
.verdict .word { font-size: 34px; font-weight: 700; letter-spacing: 1px; margin-right: 14px; }
.verdict .scenario { font-size: 20px; font-weight: 600; }
.verdict .headline { font-size: 15px; margin-top: 6px; }
.verdict .facts { margin-top: 8px; opacity: .92; }
.verdict .facts span { margin-right: 18px; }
.verdict .cause { margin-top: 10px; background: rgba(0,0,0,.18); border-radius: 6px; padding: 8px 12px; }
.glance { display: flex; flex-wrap: wrap; gap: 10px; margin: 10px 0 4px; }
.chip { background: #fff; border-radius: 6px; padding: 8px 12px; border-left: 6px solid var(--none); min-width: 210px; }
.chip.fail { border-left-color: var(--fail); } .chip.pass { border-left-color: var(--pass); }
.chip .ratio { font-size: 26px; font-weight: 700; }
.chip.fail .ratio { color: var(--fail); }
.chip .what { color: var(--muted); font-size: 12.5px; }
.note { border-left: 5px solid var(--error); background: #fff6e5; padding: 8px 12px; margin: 6px 0; border-radius: 4px; }
.note.err { border-left-color: var(--fail); background: #fdecea; }
table { border-collapse: collapse; width: 100%; background: #fff; margin: 6px 0 10px; }
th, td { border: 1px solid var(--line); padding: 4px 8px; text-align: left; vertical-align: top; }
th { background: #eceff3; font-weight: 600; }
td.num, th.num { text-align: right; white-space: nowrap; }
td.phase { white-space: nowrap; }
tr.pass td.status { color: var(--pass); font-weight: 700; }
tr.fail td.status { color: var(--fail); font-weight: 700; }
tr.fail { background: #fdf1f0; }
tr.cause { background: #fde2df; }
tr.cause td:first-child { border-left: 5px solid var(--fail); }
.badge { display: inline-block; background: var(--fail); color: #fff; border-radius: 10px; padding: 0 8px; font-size: 11.5px; font-weight: 600; margin-left: 6px; }
td.changed { background: #fff1c2; font-weight: 600; }
.swatch { display: inline-block; width: 11px; height: 11px; border-radius: 2px; margin-right: 6px; vertical-align: -1px; }
figure { background: #fff; border: 1px solid var(--line); border-radius: 6px; margin: 12px 0; padding: 10px 12px; }
figure h3 { margin-top: 2px; }
figure svg { display: block; width: 100%; max-width: 960px; height: auto; }
figcaption { color: var(--muted); font-size: 12.5px; margin-top: 4px; }
.muted { color: var(--muted); }
.bar { display: inline-block; height: 9px; background: #8aa2bd; vertical-align: middle; }
ul.plain { margin: 4px 0; padding-left: 20px; }
</style>
</head>
<body>
<main>
<section id="verdict" class="verdict {{.VerdictClass}}" data-verdict="{{.Verdict}}">
<div><span class="word">{{.Verdict}}</span><span class="scenario">{{.Scenario}}</span></div>
<div class="headline">{{.Headline}}</div>
<div class="facts"><span>node <b>{{.Node}}</b></span><span>{{.Cluster}}</span>{{with .When}}<span>{{.}}</span>{{end}}</div>
{{with .Cause}}<div class="cause">Most likely cause: <b>{{.Field}}</b> {{none .Before}} → {{none .After}} ({{.From}} → {{.To}}): {{.Meaning}}</div>{{end}}
</section>
{{with .Glance}}<div class="glance" id="glance">{{range .}}
<div class="chip {{.Class}}" data-phase="{{.Name}}"><div><span class="swatch" style="background: {{.Color}}"></span>{{.Name}}</div><div class="ratio">{{.Ratio}}</div><div class="what">{{.Detail}}</div></div>{{end}}
</div>{{end}}
{{with .Failure}}<div class="note err" data-kind="failure" data-step="{{.Step}}"><b>{{if .Interrupted}}interrupted{{else}}failed{{end}} in step {{.Step}}:</b> {{.Error}}{{with .Artifacts}}<br>saved to explain it: {{join . ", "}}{{end}}{{range .ArtifactErrors}}<br>not saved: {{.}}{{end}}</div>
{{end}}{{range .Errors}}<div class="note err" data-kind="error"><b>error:</b> {{.}}</div>
{{end}}{{range .Warnings}}<div class="note" data-kind="warning"><b>warning:</b> {{.}}</div>
{{end}}{{with .Faults}}<div class="note" data-kind="faults"><b>injected faults:</b> {{join . ", "}}</div>
{{end}}
<section id="phases">
<h2>Per-call copy latency</h2>
<table>
<thead><tr><th>phase</th><th class="num">calls</th><th class="num">p50</th><th class="num">p90</th><th class="num">p99</th><th class="num">max</th><th class="num">MB/s</th><th class="num">p50 vs baseline</th><th>method</th><th>data path</th><th class="num">cached</th><th>volume</th><th>pod</th></tr></thead>
<tbody>{{range .Phases}}
<tr data-phase="{{.Name}}"><td class="phase"><span class="swatch" style="background: {{.Color}}"></span>{{.Name}}{{with .Error}}<div class="muted">{{.}}</div>{{end}}</td><td class="num">{{.Calls}}</td><td class="num">{{.P50}}</td><td class="num">{{.P90}}</td><td class="num">{{.P99}}</td><td class="num">{{.Max}}</td><td class="num">{{.Rate}}</td><td class="num">{{.VsBaseline}}</td><td>{{.Method}}</td><td title="{{.DataNote}}">{{.DataPath}}</td><td class="num">{{.Resident}}</td><td>{{.Volume}}</td><td>{{.Pod}}</td></tr>{{end}}
</tbody>
</table>
{{if .AnyResident}}<p class="muted">cached: share of the source in page cache before each copy's first call (mincore).</p>{{end}}
</section>
<section id="plots">
<h2>Plots</h2>
{{range .Figures}}<figure id="{{.ID}}" data-series="{{join .Series ","}}"{{with .Milestones}} data-milestones="{{join . ","}}"{{end}}>
<h3>{{.Title}}</h3>
{{if .SVG}}{{.SVG}}{{else}}<p class="note">not drawn: {{.Problem}}</p>{{end}}
<figcaption>{{.Caption}}</figcaption>
</figure>
{{end}}
</section>
{{with .Budgets}}<section id="budgets">
<h2>Budgets</h2>
<table>
<thead><tr><th>status</th><th>budget</th><th>kind</th><th class="num">measured</th><th class="num">limit</th><th>detail</th></tr></thead>
<tbody>{{range .}}
<tr class="{{.Class}}"><td class="status">{{.Status}}</td><td>{{.Name}}</td><td>{{.Kind}}</td><td class="num">{{.Measured}}</td><td class="num">{{.Limit}}</td><td>{{.Detail}}{{range .Warnings}}<div class="note">{{.}}</div>{{end}}</td></tr>{{end}}
</tbody>
</table>
</section>{{end}}
{{with .Diagnosis}}<section id="diagnosis">
<h2>{{$.DiagnosisTitle}}</h2>
{{range .}}<h3><span class="swatch" style="background: {{.From.Color}}"></span>{{.From.Name}} → <span class="swatch" style="background: {{.To.Color}}"></span>{{.To.Name}}</h3>
<table>
<thead><tr><th>field</th><th>before ({{.From.Name}})</th><th>after ({{.To.Name}})</th><th>meaning</th></tr></thead>
<tbody>{{range $i, $c := .Changes}}
<tr{{if eq $i 0}} class="cause"{{end}}><td><code>{{$c.Field}}</code>{{if eq $i 0}}<span class="badge">{{$.CauseLabel}}</span>{{end}}</td><td><code>{{none $c.Before}}</code></td><td><code>{{none $c.After}}</code></td><td>{{$c.Meaning}}</td></tr>{{end}}
</tbody>
</table>
{{end}}</section>{{end}}
{{with .Checks}}<section id="data">
<h2>Data written before the reboot</h2>
<table>
<thead><tr><th>phase</th><th>file</th><th>status</th><th>want</th><th>got</th></tr></thead>
<tbody>{{range .}}
<tr class="{{if .OK}}pass{{else}}fail{{end}}"><td><span class="swatch" style="background: {{.Color}}"></span>{{.Name}}</td><td><code>{{.Path}}</code></td><td class="status">{{if .OK}}intact{{else}}NOT INTACT{{with .Detail}}: {{.}}{{end}}{{end}}</td><td><code>{{.Want}}</code></td><td><code>{{.Got}}</code></td></tr>{{end}}
</tbody>
</table>
</section>{{end}}
{{with .Reboots}}<section id="reboots">
<h2>Reboot</h2>
{{range .}}<h3>{{.Method}} of {{.Node}} at {{.Issued}}</h3>
<table>
<thead><tr>{{range .Steps}}<th class="num">{{.Name}}</th>{{end}}</tr></thead>
<tbody><tr>{{range .Steps}}<td class="num">{{.At}}</td>{{end}}</tr></tbody>
</table>
<p>{{.Pod}}; bootID {{.BootID}}</p>
{{with .Notes}}<ul class="plain">{{range .}}<li>note: {{.}}</li>{{end}}</ul>{{end}}
{{end}}</section>{{end}}
{{with .Env}}<section id="environment">
<h2>Environment per phase</h2>
<p class="muted">Highlighted: differs from {{(index $.EnvPhases 0).Name}}.</p>
<table>
<thead><tr><th>fact</th>{{range $.EnvPhases}}<th><span class="swatch" style="background: {{.Color}}"></span>{{.Name}}</th>{{end}}</tr></thead>
{{range .}}<tbody>
<tr><th colspan="{{len $.EnvPhases | inc}}">{{.Name}}</th></tr>{{range .Rows}}
<tr><td>{{.Fact}}</td>{{range .Cells}}<td class="mono{{if .Changed}} changed{{end}}">{{.Value}}</td>{{end}}</tr>{{end}}
</tbody>{{end}}
</table>
</section>{{end}}
{{with .Calibration}}<section id="calibration">
<h2>Calibration: the noise of this cluster</h2>
<p>{{.Phase}} of {{.Scenario}} repeated {{.Repeats}} times without a reboot{{with .Node}} on node {{.}}{{end}}{{with .At}}, {{.}}{{end}}.</p>
<h3>Noise floor</h3>
<table>
<thead><tr><th>metric</th><th class="num">mean</th><th class="num">min</th><th class="num">max</th><th class="num">CV</th><th class="num">max ratio between repeats</th></tr></thead>
<tbody>{{range .Noise}}
<tr><td>{{.Metric}}</td><td class="num">{{.Mean}}</td><td class="num">{{.Min}}</td><td class="num">{{.Max}}</td><td class="num">{{.CV}}</td><td class="num">{{.MaxRatio}}</td></tr>{{end}}
</tbody>
</table>
<h3>Budgets on this noise (every failure is a false alarm)</h3>
<table>
<thead><tr><th>budget</th><th class="num">trials</th><th class="num">false alarms</th><th class="num">rate</th><th class="num">worst seen</th><th class="num">limit</th><th class="num">min p</th></tr></thead>
<tbody>{{range .Budgets}}
<tr class="{{.Class}}"><td>{{.Name}}</td><td class="num">{{.Trials}}</td><td class="num status">{{.Alarms}}</td><td class="num">{{.Rate}}</td><td class="num">{{.Worst}}</td><td class="num">{{.Limit}}</td><td class="num">{{.MinP}}</td></tr>{{end}}
</tbody>
</table>
{{with .Suggested}}<h3>Suggested budgets</h3><ul class="plain">{{range .}}<li><code>{{.}}</code></li>{{end}}</ul>{{end}}
{{range .Notes}}<p class="muted">note: {{.}}</p>{{end}}
</section>{{end}}
{{with .Timings}}<section id="timings">
<h2>Timings</h2>
<table>
<thead><tr><th>step</th><th class="num">elapsed</th><th>share</th></tr></thead>
<tbody>{{range .}}
<tr><td>{{.Step}}</td><td class="num">{{.Elapsed}}</td><td><span class="bar" style="width: {{.Percent}}%"></span> {{.Percent}}%</td></tr>{{end}}
</tbody>
</table>
</section>{{end}}
{{with .Errors}}<section id="errors">
<h2>Errors</h2>
<ul class="plain">{{range .}}<li>{{.}}</li>{{end}}</ul>
</section>{{end}}
<footer class="muted">pvreboot result {{.Scenario}}: rendered by <code>pvreboot report -o html</code>.</footer>
</main>
</body>
</html>
`
