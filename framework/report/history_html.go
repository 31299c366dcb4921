package report

import (
	"fmt"
	"html/template"
	"image/color"
	"io"
	"math"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// Figure ids and series of the trend page.
const (
	figureHistoryLatency    = "history-latency"
	figureHistoryThroughput = "history-throughput"
	seriesP50               = "p50"
	seriesP99               = "p99"
	seriesThroughput        = "throughput"
)

var (
	p50Color        = color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff}
	p99Color        = color.RGBA{R: 0xd6, G: 0x27, B: 0x28, A: 0xff}
	throughputColor = color.RGBA{R: 0x2c, G: 0xa0, B: 0x2c, A: 0xff}
)

// historyView is what the trend page shows.
type historyView struct {
	Title, Phase, Verdict, VerdictClass, Headline string
	Warnings                                      []string
	Rows                                          []historyRow
	Figures                                       []figure
}

// HistoryHTML writes the trend as one self-contained page (inline SVG plots
// drawn with gonum/plot, a Content-Security-Policy that forbids every
// fetch): the p50 and p99 per run on a log axis, the throughput per run, and
// the trend table.
func HistoryHTML(w io.Writer, t *History) error {
	tmpl, err := template.New("trend").Parse(historyTemplate)
	if err != nil {
		return fmt.Errorf("trend template: %w", err)
	}
	v := historyView{Title: fmt.Sprintf("pvreboot history of %d runs", len(t.Runs)), Phase: t.Phase, Warnings: t.Warnings, Rows: historyRows(t),
		Verdict: "NO COMPARISON", VerdictClass: "none", Headline: "fewer than two runs measured the phase: nothing to compare"}
	if v.Phase == "" && t.Baseline >= 0 {
		v.Phase = t.Runs[t.Baseline].Phase
	}
	if c := t.Comparison; c != nil {
		v.Verdict, v.VerdictClass = "PASS", "pass"
		if !c.Pass {
			v.Verdict, v.VerdictClass = "FAIL", "fail"
		}
		v.Headline = fmt.Sprintf("newest (run %d) vs baseline (run %d): %s", t.Newest+1, t.Baseline+1, c.Detail)
	}
	v.Figures = []figure{historyLatencyFigure(t), historyThroughputFigure(t)}
	return tmpl.Execute(w, v)
}

// historyPoints are the measured runs' values of one metric, at x = the run's
// number.
func historyPoints(t *History, value func(HistoryRun) float64) plotter.XYs {
	var xys plotter.XYs
	for i, tr := range t.Runs {
		if v := value(tr); tr.Measured() && v > 0 && !math.IsInf(v, 0) {
			xys = append(xys, plotter.XY{X: float64(i + 1), Y: v})
		}
	}
	return xys
}

// runTicks label the x axis with the runs' numbers (the table's #).
func runTicks(t *History) plot.ConstantTicks {
	var ticks plot.ConstantTicks
	for i := range t.Runs {
		ticks = append(ticks, plot.Tick{Value: float64(i + 1), Label: fmt.Sprint(i + 1)})
	}
	return ticks
}

// baselineLine marks the baseline run with a vertical dashed line.
func baselineLine(t *History, lo, hi float64) (*plotter.Line, error) {
	x := float64(t.Baseline + 1)
	return line(plotter.XYs{{X: x, Y: lo}, {X: x, Y: hi}}, limitColor, vg.Points(1), vg.Points(5), vg.Points(3))
}

// historyLatencyFigure shows each run's p50 and p99 per call on a log axis:
// a regression is a step up that stays.
func historyLatencyFigure(t *History) figure {
	f := figure{ID: figureHistoryLatency, Title: "Per-call latency per run",
		Caption: "The median (p50) and p99 of every call of the phase, per run in the order of the table, on a log axis; the dashed line marks the baseline run."}
	p50 := historyPoints(t, func(tr HistoryRun) float64 { return tr.P50Ns / 1e6 })
	p99 := historyPoints(t, func(tr HistoryRun) float64 { return tr.P99Ns / 1e6 })
	if len(p50) == 0 {
		f.Problem = "no run measured the phase"
		return f
	}
	f.Series = []string{seriesP50, seriesP99}
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, xy := range append(append(plotter.XYs{}, p50...), p99...) {
		lo, hi = math.Min(lo, xy.Y), math.Max(hi, xy.Y)
	}
	lo, hi = lo/1.5, hi*1.5
	series := map[color.RGBA]string{p50Color: seriesP50, p99Color: seriesP99, limitColor: "baseline"}
	svg, err := svgOf(plotWidth, plotHeight, f.Title, series, func(dc draw.Canvas) error {
		p := newPlot("run", "per-call latency (log scale)")
		p.Y.Scale, p.Y.Tick.Marker = plot.LogScale{}, durationTicks{}
		p.Y.Min, p.Y.Max = lo, hi
		p.X.Min, p.X.Max = 0.5, float64(len(t.Runs))+0.5
		p.X.Tick.Marker = runTicks(t)
		leg := newLegend()
		if err := addRuns(p, leg, seriesP50, p50, p50Color); err != nil {
			return err
		}
		if err := addRuns(p, leg, seriesP99, p99, p99Color); err != nil {
			return err
		}
		if err := addBaseline(p, leg, t, lo, hi); err != nil {
			return err
		}
		leg.draw(dc, p)
		return nil
	})
	return f.with(svg, err)
}

// historyThroughputFigure shows each run's throughput of the phase.
func historyThroughputFigure(t *History) figure {
	f := figure{ID: figureHistoryThroughput, Title: "Throughput per run",
		Caption: "The phase's overall throughput per run; the dashed line marks the baseline run."}
	xys := historyPoints(t, func(tr HistoryRun) float64 { return tr.BytesPerSecond / 1e6 })
	if len(xys) == 0 {
		f.Problem = "no run measured the phase"
		return f
	}
	f.Series = []string{seriesThroughput}
	hi := 0.0
	for _, xy := range xys {
		hi = math.Max(hi, xy.Y)
	}
	hi *= 1.15
	series := map[color.RGBA]string{throughputColor: seriesThroughput, limitColor: "baseline"}
	svg, err := svgOf(plotWidth, throughputHeight, f.Title, series, func(dc draw.Canvas) error {
		p := newPlot("run", "throughput (MB/s)")
		p.Y.Min, p.Y.Max = 0, hi
		p.X.Min, p.X.Max = 0.5, float64(len(t.Runs))+0.5
		p.X.Tick.Marker = runTicks(t)
		leg := newLegend()
		if err := addRuns(p, leg, seriesThroughput, xys, throughputColor); err != nil {
			return err
		}
		if err := addBaseline(p, leg, t, 0, hi); err != nil {
			return err
		}
		leg.draw(dc, p)
		return nil
	})
	return f.with(svg, err)
}

// addRuns draws one value per run as a line through dots.
func addRuns(p *plot.Plot, leg *legend, name string, xys plotter.XYs, c color.RGBA) error {
	l, err := line(xys, c, vg.Points(2))
	if err != nil {
		return err
	}
	d, err := dots(xys, c, vg.Points(3.5), draw.CircleGlyph{})
	if err != nil {
		return err
	}
	p.Add(l, d)
	leg.add(name, l, d)
	return nil
}

// addBaseline marks the baseline run, when there is one, from lo to hi.
func addBaseline(p *plot.Plot, leg *legend, t *History, lo, hi float64) error {
	if t.Baseline < 0 {
		return nil
	}
	b, err := baselineLine(t, lo, hi)
	if err != nil {
		return err
	}
	p.Add(b)
	leg.add("baseline", b)
	return nil
}

// historyTemplate is the trend page; like the report it loads nothing.
const historyTemplate = `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="pvreboot">
<title>{{.Title}}: {{.Verdict}}</title>
<style>
:root { --pass: #1e7d32; --fail: #b3261e; --none: #5f6b7a; --line: #d9dde3; --muted: #5f6b7a; }
body { margin: 0; background: #f4f5f7; color: #1c1f23; font: 14px/1.45 "Liberation Sans", "DejaVu Sans", Arial, sans-serif; }
main { max-width: 1180px; margin: 0 auto; padding: 16px 20px 40px; }
h2 { font-size: 17px; margin: 28px 0 8px; padding-bottom: 4px; border-bottom: 1px solid var(--line); }
.verdict { color: #fff; border-radius: 8px; padding: 16px 20px; margin-bottom: 14px; }
.verdict.pass { background: var(--pass); } .verdict.fail { background: var(--fail); } .verdict.none { background: var(--none); }
.verdict .word { font-size: 30px; font-weight: 700; margin-right: 14px; }
.note { border-left: 5px solid #a15c00; background: #fff6e5; padding: 8px 12px; margin: 6px 0; border-radius: 4px; }
table { border-collapse: collapse; width: 100%; background: #fff; margin: 6px 0 10px; }
th, td { border: 1px solid var(--line); padding: 4px 8px; text-align: left; }
th { background: #eceff3; } td.num { text-align: right; white-space: nowrap; }
tr.baseline { background: #eef4fb; } tr.unmeasured td { color: var(--muted); }
figure { background: #fff; border: 1px solid var(--line); border-radius: 6px; margin: 12px 0; padding: 10px 12px; }
figure svg { display: block; width: 100%; max-width: 960px; height: auto; }
figcaption, .muted { color: var(--muted); font-size: 12.5px; }
</style>
</head>
<body>
<main>
<section id="verdict" class="verdict {{.VerdictClass}}" data-verdict="{{.Verdict}}">
<div><span class="word">{{.Verdict}}</span>{{.Title}}, phase {{.Phase}}</div>
<div>{{.Headline}}</div>
</section>
{{range .Warnings}}<div class="note" data-kind="warning"><b>warning:</b> {{.}}</div>
{{end}}{{range .Figures}}<figure id="{{.ID}}" data-series="{{range $i, $s := .Series}}{{if $i}},{{end}}{{$s}}{{end}}">
<h3>{{.Title}}</h3>
{{if .SVG}}{{.SVG}}{{else}}<p class="muted">not drawn: {{.Problem}}</p>{{end}}
<figcaption>{{.Caption}}</figcaption>
</figure>
{{end}}<section id="runs">
<h2>Runs</h2>
<table>
<thead><tr><th class="num">#</th><th>run</th><th>started</th><th>verdict</th><th class="num">copies</th><th class="num">p50</th><th class="num">p99</th><th class="num">throughput</th><th class="num">p50 vs baseline</th><th class="num">throughput vs baseline</th><th>file</th></tr></thead>
<tbody>{{range .Rows}}
<tr class="{{if .Baseline}}baseline{{end}}{{if not .Measured}} unmeasured{{end}}" data-run="{{.Run}}"><td class="num">{{.N}}</td><td>{{.Run}}{{if .Baseline}} (baseline){{end}}{{if .Newest}} (newest){{end}}</td><td>{{.Started}}</td><td>{{.Verdict}}</td><td class="num">{{.Copies}}</td><td class="num">{{.P50}}</td><td class="num">{{.P99}}</td><td class="num">{{.Rate}}</td><td class="num">{{.P50Ratio}}</td><td class="num">{{.RateRatio}}</td><td>{{.Source}}</td></tr>{{end}}
</tbody>
</table>
</section>
<footer class="muted">rendered by <code>pvreboot compare -o html</code>.</footer>
</main>
</body>
</html>
`
