package report

import (
	"bytes"
	"fmt"
	"html"
	"html/template"
	"image/color"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/pvreboot/pvreboot/framework/budget"
	"github.com/pvreboot/pvreboot/framework/scenario"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgsvg"
)

// The plots of the HTML report are SVG drawn with gonum.org/v1/plot at fixed
// sizes, with no timestamps and coordinates rounded by vgsvg (5 significant
// digits), so that one Result always gives the same bytes.
const (
	plotWidth        = 9 * vg.Inch
	plotHeight       = 3.6 * vg.Inch
	throughputHeight = 3.2 * vg.Inch
	// glyphLimit is the number of calls above which the per-call plot draws
	// lines only: a glyph per call would make the file large and the plot
	// unreadable.
	glyphLimit = 600
	// ecdfPoints and callPoints bound the points one plot draws, so that a
	// readwrite probe's tens of thousands of calls keep the page small: the
	// ECDF keeps evenly spaced ranks (the first and last included), the
	// per-call plot the fastest and the slowest call of each run of calls.
	ecdfPoints = 1000
	callPoints = 3000
)

// Figure ids: the HTML report's stable contract with its readers and tests.
const (
	figureECDF       = "ecdf"
	figureCalls      = "calls"
	figureThroughput = "throughput"
	figureReboot     = "reboot-timeline"
)

// Series names of plot elements that are not phases.
const (
	seriesLimit     = "limit"
	seriesMilestone = "milestone"
)

// Milestones of a reboot, in the order they happen.
const (
	milestoneIssued   = "reboot issued"
	milestoneReturned = "command returned"
	milestoneNotReady = "node NotReady"
	milestoneKubelet  = "kubelet back"
	milestoneNode     = "node Ready"
	milestonePod      = "pod Ready"
)

// Colours that are no phase's.
var (
	limitColor     = color.RGBA{R: 0x33, G: 0x33, B: 0x33, A: 0xff}
	milestoneColor = color.RGBA{R: 0x6a, G: 0x3d, B: 0x9a, A: 0xff}
	stemColor      = color.RGBA{R: 0xb8, G: 0xc0, B: 0xcc, A: 0xff}
	bandColor      = color.RGBA{R: 0xee, G: 0xf0, B: 0xf3, A: 0xff}
	gridColor      = color.RGBA{R: 0xdd, G: 0xdd, B: 0xdd, A: 0xff}
	mutedColor     = color.RGBA{R: 0x77, G: 0x77, B: 0x77, A: 0xff}
)

// figure is one plot of the HTML report: its id, what it shows, the names of
// its series (phases, milestones) and the SVG, or why there is none.
type figure struct {
	ID      string
	Title   string
	Caption string
	// Series are the names of the plot's series, in legend order; each
	// element drawn for one carries data-series="NAME" in the SVG.
	Series []string
	// Milestones are the reboot timeline's rows.
	Milestones []string
	SVG        template.HTML
	// Problem says why a figure has no SVG.
	Problem string
}

// palette gives every phase of a Result its colour, the same in every plot
// and table: the three phases pvreboot measures have fixed colours (baseline
// blue, after-reboot red, after-recreate green), others take the rest in
// order.
type palette struct {
	names  []string
	colors map[string]color.RGBA
}

func newPalette(r *Result) palette {
	fixed := map[string]color.RGBA{
		scenario.PhaseBaseline:      {R: 0x1f, G: 0x77, B: 0xb4, A: 0xff},
		scenario.PhaseAfterReboot:   {R: 0xd6, G: 0x27, B: 0x28, A: 0xff},
		scenario.PhaseAfterRecreate: {R: 0x2c, G: 0xa0, B: 0x2c, A: 0xff},
	}
	others := []color.RGBA{
		{R: 0x94, G: 0x67, B: 0xbd, A: 0xff}, {R: 0xff, G: 0x7f, B: 0x0e, A: 0xff},
		{R: 0x8c, G: 0x56, B: 0x4b, A: 0xff}, {R: 0xe3, G: 0x77, B: 0xc2, A: 0xff},
		{R: 0x17, G: 0xbe, B: 0xcf, A: 0xff}, {R: 0xbc, G: 0xbd, B: 0x22, A: 0xff},
	}
	p := palette{colors: map[string]color.RGBA{}}
	next := 0
	for _, ph := range r.Phases {
		if _, ok := p.colors[ph.Name]; ok {
			continue
		}
		c, ok := fixed[ph.Name]
		if !ok {
			c = others[next%len(others)]
			next++
		}
		p.names = append(p.names, ph.Name)
		p.colors[ph.Name] = c
	}
	return p
}

func (p palette) color(name string) color.RGBA {
	if c, ok := p.colors[name]; ok {
		return c
	}
	return mutedColor
}

// hex is a phase's colour as CSS.
func (p palette) hex(name string) template.CSS {
	return template.CSS(hexColor(p.color(name)))
}

func hexColor(c color.RGBA) string { return fmt.Sprintf("#%02X%02X%02X", c.R, c.G, c.B) }

// sans is the plots' font: Liberation Sans, whose metrics gonum/plot
// embeds, and which the browser finds as a local font or replaces.
func sans(size vg.Length) font.Font {
	return font.From(font.Font{Typeface: "Liberation", Variant: "Sans"}, size)
}

func newPlot(xLabel, yLabel string) *plot.Plot {
	p := plot.New()
	p.X.Label.Text, p.Y.Label.Text = xLabel, yLabel
	for _, a := range []*plot.Axis{&p.X, &p.Y} {
		a.Label.TextStyle.Font = sans(10)
		a.Tick.Label.Font = sans(9)
		a.Tick.Length = vg.Points(5)
	}
	g := plotter.NewGrid()
	g.Vertical.Color, g.Horizontal.Color = gridColor, gridColor
	p.Add(g)
	return p
}

// legend is a plot legend drawn beside the plot, never over its data.
type legend struct {
	plot.Legend
	n int
}

func newLegend() *legend {
	l := &legend{Legend: plot.NewLegend()}
	l.TextStyle.Font = sans(10)
	l.Top, l.Left = true, true
	l.Padding = vg.Points(3)
	return l
}

func (l *legend) add(name string, thumbs ...plot.Thumbnailer) {
	l.Add(name, thumbs...)
	l.n++
}

// draw draws p with the legend in a column on its right.
func (l *legend) draw(dc draw.Canvas, p *plot.Plot) {
	if l.n == 0 {
		p.Draw(dc)
		return
	}
	w := l.Rectangle(dc).Size().X + vg.Points(16)
	p.Draw(draw.Crop(dc, 0, -w, 0, 0))
	l.Draw(draw.Crop(dc, dc.Size().X-w+vg.Points(10), 0, 0, -vg.Points(12)))
}

// svgOf draws one plot onto an SVG canvas of the given size and returns the
// SVG element, each path drawn in a series' colour marked with
// data-series="NAME". gonum/plot panics on some input (a log axis over a
// non-positive range); that becomes an error.
func svgOf(w, h vg.Length, label string, series map[color.RGBA]string, paint func(dc draw.Canvas) error) (out template.HTML, err error) {
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("draw %s: %v", label, v)
		}
	}()
	c := vgsvg.New(w, h)
	if err := paint(draw.New(c)); err != nil {
		return "", fmt.Errorf("draw %s: %w", label, err)
	}
	var buf bytes.Buffer
	if _, err := c.WriteTo(&buf); err != nil {
		return "", fmt.Errorf("draw %s: %w", label, err)
	}
	s := buf.String()
	i := strings.Index(s, "<svg ")
	if i < 0 {
		return "", fmt.Errorf("draw %s: no <svg> element", label)
	}
	s = `<svg class="plot" role="img" aria-label="` + html.EscapeString(label) + `" ` + s[i+len("<svg "):]
	byHex := map[string]string{}
	for c, name := range series {
		byHex[hexColor(c)] = name
	}
	s = svgPath.ReplaceAllStringFunc(s, func(path string) string {
		m := svgPaint.FindStringSubmatch(path)
		if m == nil {
			return path
		}
		name, ok := byHex[m[1]]
		if !ok {
			return path
		}
		return `<path data-series="` + html.EscapeString(name) + `" ` + strings.TrimPrefix(path, "<path ")
	})
	// Template output is trusted here: vgsvg escapes every text it draws
	// (html.EscapeString) and the series names are escaped above.
	return template.HTML(strings.TrimSpace(s)), nil
}

var (
	svgPath  = regexp.MustCompile(`<path [^>]*>`)
	svgPaint = regexp.MustCompile(`(?:stroke|fill):(#[0-9A-F]{6})`)
)

// durationTicks marks a log axis of milliseconds at 1, 2 and 5 x 10^k with
// a unit (500µs, 20ms, 1s), and only 10^k when it spans many decades.
type durationTicks struct{}

func (durationTicks) Ticks(lo, hi float64) []plot.Tick {
	var ticks []plot.Tick
	if !(lo > 0) || !(hi > lo) || math.IsInf(hi, 0) {
		return nil
	}
	decades := math.Log10(hi / lo)
	for e := math.Floor(math.Log10(lo)); e <= math.Ceil(math.Log10(hi)); e++ {
		base := math.Pow10(int(e))
		for m := 1; m < 10; m++ {
			v := base * float64(m)
			if v < lo || v > hi {
				continue
			}
			t := plot.Tick{Value: v}
			if m == 1 || (decades <= 3 && (m == 2 || m == 5)) {
				t.Label = msLabel(v)
			}
			ticks = append(ticks, t)
		}
	}
	return ticks
}

// msLabel renders milliseconds with a unit: 500µs, 20ms, 1.5s.
func msLabel(ms float64) string {
	g := func(v float64) string { return strconv.FormatFloat(v, 'g', 3, 64) }
	switch {
	case ms >= 1000:
		return g(ms/1000) + "s"
	case ms >= 1:
		return g(ms) + "ms"
	case ms >= 1e-3:
		return g(ms*1e3) + "µs"
	}
	return g(ms*1e6) + "ns"
}

// phaseCalls is one measured phase's calls in milliseconds, per copy.
type phaseCalls struct {
	name   string
	copies [][]float64
}

// callsMs lists the phases that measured calls, their latencies in ms
// (floored at 1ns so that a log axis can show them).
func callsMs(r *Result) []phaseCalls {
	var out []phaseCalls
	for _, ph := range r.Phases {
		if ph.Probe == nil {
			continue
		}
		pc := phaseCalls{name: ph.Name}
		n := 0
		for _, it := range ph.Probe.Iterations {
			ms := make([]float64, len(it.Calls))
			for i, c := range it.Calls {
				ms[i] = math.Max(float64(c.Ns), 1) / 1e6
			}
			n += len(ms)
			pc.copies = append(pc.copies, ms)
		}
		if n > 0 {
			out = append(out, pc)
		}
	}
	return out
}

func (pc phaseCalls) all() []float64 {
	var out []float64
	for _, c := range pc.copies {
		out = append(out, c...)
	}
	return out
}

// latencyLimit is an absolute latency budget drawn on the ECDF.
type latencyLimit struct {
	ms    float64
	label string
}

func latencyLimits(r *Result) []latencyLimit {
	var out []latencyLimit
	for _, res := range r.Verdict.Results {
		if res.Kind != budget.Absolute || res.Unit != "ns" || !(res.Limit > 0) {
			continue
		}
		out = append(out, latencyLimit{ms: res.Limit / 1e6,
			label: fmt.Sprintf("limit: %s %s ≤ %s: %s", res.Phase, res.Metric, budget.FormatNs(res.Limit), status(res))})
	}
	return out
}

func line(xys plotter.XYs, c color.Color, width vg.Length, dashes ...vg.Length) (*plotter.Line, error) {
	l, err := plotter.NewLine(xys)
	if err != nil {
		return nil, err
	}
	l.Color, l.Width, l.Dashes = c, width, dashes
	return l, nil
}

func dots(xys plotter.XYs, c color.Color, radius vg.Length, shape draw.GlyphDrawer) (*plotter.Scatter, error) {
	s, err := plotter.NewScatter(xys)
	if err != nil {
		return nil, err
	}
	s.GlyphStyle = draw.GlyphStyle{Color: c, Radius: radius, Shape: shape}
	return s, nil
}

// ecdfFigure overlays each phase's per-call latency ECDF on a log axis, with
// each absolute latency budget's limit as a vertical line: a regressed
// phase is a curve far to the right of the baseline and past the limit.
func ecdfFigure(r *Result, pal palette) figure {
	f := figure{ID: figureECDF, Title: "Per-call latency: ECDF of every call, per phase",
		Caption: "The fraction of calls at most x, on a log axis. A slower phase is a curve to the right; a dashed line is an absolute budget's limit."}
	phases := callsMs(r)
	for _, pc := range phases {
		f.Series = append(f.Series, pc.name)
	}
	if len(phases) == 0 {
		f.Problem = "no phase measured any call"
		return f
	}
	limits := latencyLimits(r)
	series := phaseSeries(pal)
	series[limitColor] = seriesLimit
	svg, err := svgOf(plotWidth, plotHeight, f.Title, series, func(dc draw.Canvas) error {
		p := newPlot("per-call latency (log scale)", "fraction of calls ≤ x")
		lo, hi := math.Inf(1), math.Inf(-1)
		for _, pc := range phases {
			for _, v := range pc.all() {
				lo, hi = math.Min(lo, v), math.Max(hi, v)
			}
		}
		for _, l := range limits {
			lo, hi = math.Min(lo, l.ms), math.Max(hi, l.ms)
		}
		p.X.Scale, p.X.Tick.Marker = plot.LogScale{}, durationTicks{}
		p.X.Min, p.X.Max = lo/1.3, hi*1.3
		p.Y.Min, p.Y.Max = 0, 1
		p.Y.Tick.Marker = plot.ConstantTicks{{Value: 0, Label: "0"}, {Value: 0.25, Label: "0.25"}, {Value: 0.5, Label: "0.5 (p50)"},
			{Value: 0.75, Label: "0.75"}, {Value: 0.9, Label: "0.9 (p90)"}, {Value: 1, Label: "1"}}
		leg := newLegend()
		for i, pc := range phases {
			v := pc.all()
			slices.Sort(v)
			xys := plotter.XYs{{X: v[0], Y: 0}}
			for _, i := range ranks(len(v), ecdfPoints) {
				xys = append(xys, plotter.XY{X: v[i], Y: float64(i+1) / float64(len(v))})
			}
			// Earlier phases are drawn wider, so that a phase that matches
			// another shows as a line on a wider one rather than hiding it.
			l, err := line(xys, pal.color(pc.name), vg.Points(math.Max(1.2, 3.6-1.2*float64(i))))
			if err != nil {
				return err
			}
			l.StepStyle = plotter.PostStep
			p.Add(l)
			leg.add(pc.name, l)
		}
		for _, lim := range limits {
			l, err := line(plotter.XYs{{X: lim.ms, Y: 0}, {X: lim.ms, Y: 1}}, limitColor, vg.Points(1.5), vg.Points(5), vg.Points(3))
			if err != nil {
				return err
			}
			p.Add(l)
			leg.add(lim.label, l)
		}
		leg.draw(dc, p)
		return nil
	})
	return f.with(svg, err)
}

// phaseSeries maps each phase's colour to its name, for svgOf.
func phaseSeries(pal palette) map[color.RGBA]string {
	out := map[color.RGBA]string{}
	for name, c := range pal.colors {
		out[c] = name
	}
	return out
}

func (f figure) with(svg template.HTML, err error) figure {
	if err != nil {
		f.Problem = err.Error()
		return f
	}
	f.SVG = svg
	return f
}

// callsFigure shows every call's latency in the order it was made, phase
// after phase, on a log axis; every other copy is shaded, and the line
// breaks between copies.
func callsFigure(r *Result, pal palette) figure {
	f := figure{ID: figureCalls, Title: "Every call's latency, in order",
		Caption: "Each point is one call, phase after phase, on a log axis; the shaded and unshaded bands are successive copies (iterations), and the line breaks between copies."}
	phases := callsMs(r)
	for _, pc := range phases {
		f.Series = append(f.Series, pc.name)
	}
	if len(phases) == 0 {
		f.Problem = "no phase measured any call"
		return f
	}
	total := 0
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, pc := range phases {
		for _, v := range pc.all() {
			lo, hi = math.Min(lo, v), math.Max(hi, v)
			total++
		}
	}
	ylo, yhi := lo/1.5, hi*3
	stride := (total + callPoints - 1) / callPoints
	if stride > 1 {
		f.Caption += fmt.Sprintf(" With %d calls, each run of %d calls of a copy is drawn as its fastest and its slowest call.", total, stride)
	}
	svg, err := svgOf(plotWidth, plotHeight, f.Title, phaseSeries(pal), func(dc draw.Canvas) error {
		p := newPlot("call # (phases in order; shading alternates per copy)", "call latency (log scale)")
		p.Y.Scale, p.Y.Tick.Marker = plot.LogScale{}, durationTicks{}
		p.Y.Min, p.Y.Max = ylo, yhi
		p.X.Min, p.X.Max = 0.5, float64(total)+0.5
		leg := newLegend()
		var band *plotter.Polygon
		x, copyNo := 0, 0
		var labels plotter.XYLabels
		for _, pc := range phases {
			labels.XYs = append(labels.XYs, plotter.XY{X: float64(x) + 1, Y: hi * 2.5})
			labels.Labels = append(labels.Labels, pc.name)
			var first plot.Thumbnailer
			for _, ms := range pc.copies {
				if len(ms) == 0 {
					continue
				}
				x0 := float64(x) + 0.5
				xys := envelope(ms, x+1, stride)
				x += len(ms)
				if copyNo%2 == 1 {
					b, err := plotter.NewPolygon(plotter.XYs{{X: x0, Y: ylo}, {X: float64(x) + 0.5, Y: ylo}, {X: float64(x) + 0.5, Y: yhi}, {X: x0, Y: yhi}})
					if err != nil {
						return err
					}
					b.Color, b.LineStyle.Width = bandColor, 0
					p.Add(b)
					band = b
				}
				copyNo++
				l, err := line(xys, pal.color(pc.name), vg.Points(1))
				if err != nil {
					return err
				}
				p.Add(l)
				first = l
				if total <= glyphLimit {
					s, err := dots(xys, pal.color(pc.name), vg.Points(2), draw.CircleGlyph{})
					if err != nil {
						return err
					}
					p.Add(s)
				}
			}
			if first != nil {
				leg.add(pc.name, first)
			}
			if x < total {
				sep, err := line(plotter.XYs{{X: float64(x) + 0.5, Y: ylo}, {X: float64(x) + 0.5, Y: yhi}}, mutedColor, vg.Points(1))
				if err != nil {
					return err
				}
				p.Add(sep)
			}
		}
		if band != nil {
			leg.add("every other copy", band)
		}
		lb, err := plotter.NewLabels(labels)
		if err != nil {
			return err
		}
		for i := range lb.TextStyle {
			lb.TextStyle[i].Font = sans(9)
			lb.TextStyle[i].Color = mutedColor
		}
		p.Add(lb)
		leg.draw(dc, p)
		return nil
	})
	return f.with(svg, err)
}

// throughputFigure shows each copy's throughput as a dot and the phase's
// overall throughput as a bar, per phase, with any absolute throughput
// budget as a dashed line.
func throughputFigure(r *Result, pal palette) figure {
	f := figure{ID: figureThroughput, Title: "Throughput per copy",
		Caption: "A dot per copy (iteration), a bar at the phase's overall throughput; a dashed line is an absolute throughput budget."}
	type tp struct {
		name    string
		overall float64
		copies  []float64
	}
	var phases []tp
	hi := 0.0
	for _, ph := range r.Phases {
		if ph.Probe == nil || len(ph.Probe.Iterations) == 0 {
			continue
		}
		t := tp{name: ph.Name, overall: ph.Probe.Summary.BytesPerSecond / 1e6}
		for _, it := range ph.Probe.Iterations {
			t.copies = append(t.copies, it.BytesPerSecond/1e6)
			hi = math.Max(hi, it.BytesPerSecond/1e6)
		}
		hi = math.Max(hi, t.overall)
		phases = append(phases, t)
		f.Series = append(f.Series, ph.Name)
	}
	if len(phases) == 0 {
		f.Problem = "no phase measured a copy"
		return f
	}
	type minRate struct {
		mbps  float64
		label string
	}
	var limits []minRate
	for _, res := range r.Verdict.Results {
		if res.Kind == budget.Absolute && res.Unit == "B/s" && res.Limit > 0 {
			limits = append(limits, minRate{res.Limit / 1e6, fmt.Sprintf("limit: %s throughput ≥ %s: %s", res.Phase, budget.FormatRate(res.Limit), status(res))})
			hi = math.Max(hi, res.Limit/1e6)
		}
	}
	if !(hi > 0) || math.IsInf(hi, 0) {
		hi = 1
	}
	series := phaseSeries(pal)
	series[limitColor] = seriesLimit
	svg, err := svgOf(plotWidth, throughputHeight, f.Title, series, func(dc draw.Canvas) error {
		p := newPlot("", "throughput (MB/s)")
		p.X.Min, p.X.Max = -0.5, float64(len(phases))-0.5
		p.Y.Min, p.Y.Max = 0, hi*1.15
		var ticks plot.ConstantTicks
		leg := newLegend()
		for i, t := range phases {
			ticks = append(ticks, plot.Tick{Value: float64(i), Label: t.name})
			c := pal.color(t.name)
			bar, err := line(plotter.XYs{{X: float64(i) - 0.3, Y: t.overall}, {X: float64(i) + 0.3, Y: t.overall}}, c, vg.Points(3))
			if err != nil {
				return err
			}
			p.Add(bar)
			n := len(t.copies)
			step := math.Min(0.08, 0.5/float64(n))
			xys := make(plotter.XYs, n)
			for j, v := range t.copies {
				xys[j] = plotter.XY{X: float64(i) + (float64(j)-float64(n-1)/2)*step, Y: v}
			}
			s, err := dots(xys, c, vg.Points(3.5), draw.CircleGlyph{})
			if err != nil {
				return err
			}
			p.Add(s)
			leg.add(t.name, bar, s)
		}
		p.X.Tick.Marker = ticks
		for _, lim := range limits {
			l, err := line(plotter.XYs{{X: -0.5, Y: lim.mbps}, {X: float64(len(phases)) - 0.5, Y: lim.mbps}}, limitColor, vg.Points(1.5), vg.Points(5), vg.Points(3))
			if err != nil {
				return err
			}
			p.Add(l)
			leg.add(lim.label, l)
		}
		leg.draw(dc, p)
		return nil
	})
	return f.with(svg, err)
}

// milestone is one row of the reboot timeline: seconds since the reboot was
// issued, or not seen.
type milestone struct {
	name string
	at   float64
	seen bool
}

func milestones(rb Reboot) []milestone {
	at := func(name string, t *time.Time) milestone {
		if t == nil || t.IsZero() {
			return milestone{name: name}
		}
		return milestone{name: name, at: t.Sub(rb.Issued).Seconds(), seen: true}
	}
	returned := rb.Returned
	return []milestone{
		{name: milestoneIssued, seen: true},
		at(milestoneReturned, &returned),
		at(milestoneNotReady, rb.NotReadySeen),
		at(milestoneKubelet, rb.KubeletBack),
		at(milestoneNode, rb.NodeReady),
		at(milestonePod, rb.PodReady),
	}
}

// rebootFigure draws each reboot's milestones as rows, seconds since the
// reboot was issued; a milestone not seen is said so on its row.
func rebootFigure(r *Result) figure {
	f := figure{ID: figureReboot, Title: "Reboot timeline",
		Caption: "Seconds from the reboot being issued to each milestone the run observed."}
	if len(r.Reboots) == 0 {
		f.Problem = "no reboot in this result"
		return f
	}
	type row struct {
		label string
		m     milestone
	}
	var rows []row
	hi := 0.0
	for k, rb := range r.Reboots {
		for _, m := range milestones(rb) {
			label := m.name
			if len(r.Reboots) > 1 {
				label = fmt.Sprintf("#%d %s", k+1, m.name)
			}
			if !m.seen {
				label += " (not seen)"
			}
			rows = append(rows, row{label, m})
			f.Milestones = append(f.Milestones, label)
			if m.seen {
				hi = math.Max(hi, m.at)
			}
		}
	}
	if !(hi > 0) {
		hi = 1
	}
	f.Series = []string{seriesMilestone}
	h := vg.Points(float64(60 + 20*len(rows)))
	svg, err := svgOf(plotWidth, h, f.Title, map[color.RGBA]string{milestoneColor: seriesMilestone}, func(dc draw.Canvas) error {
		p := newPlot("seconds since the reboot was issued", "")
		p.X.Min, p.X.Max = 0, hi*1.18
		p.Y.Min, p.Y.Max = -float64(len(rows))+0.5, 0.5
		var ticks plot.ConstantTicks
		var seen plotter.XYs
		var labels plotter.XYLabels
		for i, rw := range rows {
			y := -float64(i)
			ticks = append(ticks, plot.Tick{Value: y, Label: rw.label})
			if !rw.m.seen {
				continue
			}
			if rw.m.at > 0 {
				stem, err := line(plotter.XYs{{X: 0, Y: y}, {X: rw.m.at, Y: y}}, stemColor, vg.Points(4))
				if err != nil {
					return err
				}
				p.Add(stem)
			}
			seen = append(seen, plotter.XY{X: rw.m.at, Y: y})
			labels.XYs = append(labels.XYs, plotter.XY{X: rw.m.at, Y: y})
			labels.Labels = append(labels.Labels, fmt.Sprintf("+%.1fs", rw.m.at))
		}
		p.Y.Tick.Marker = ticks
		p.Y.Tick.Length = 0
		if len(seen) > 0 {
			s, err := dots(seen, milestoneColor, vg.Points(4), draw.CircleGlyph{})
			if err != nil {
				return err
			}
			p.Add(s)
			lb, err := plotter.NewLabels(labels)
			if err != nil {
				return err
			}
			for i := range lb.TextStyle {
				lb.TextStyle[i].Font = sans(9)
				lb.TextStyle[i].YAlign = draw.YCenter
			}
			lb.Offset = vg.Point{X: vg.Points(7)}
			p.Add(lb)
		}
		p.Draw(dc)
		return nil
	})
	return f.with(svg, err)
}

// figures are the HTML report's plots, in order; the reboot timeline only
// when the Result has a reboot.
func figures(r *Result, pal palette) []figure {
	out := []figure{ecdfFigure(r, pal), callsFigure(r, pal), throughputFigure(r, pal)}
	if len(r.Reboots) > 0 {
		out = append(out, rebootFigure(r))
	}
	return out
}

// ranks are n evenly spaced indexes of a sorted slice of length l, the
// first and the last included; every index when l <= n.
func ranks(l, n int) []int {
	out := make([]int, 0, min(l, n))
	if l <= n {
		for i := range l {
			out = append(out, i)
		}
		return out
	}
	for j := range n {
		out = append(out, int(math.Round(float64(j)*float64(l-1)/float64(n-1))))
	}
	return out
}

// envelope is a copy's calls as points numbered from first: each call when
// stride is 1, else the fastest and the slowest call of each run of stride
// calls, in the order they were made, so that no spike is lost.
func envelope(ms []float64, first, stride int) plotter.XYs {
	var out plotter.XYs
	for b := 0; b < len(ms); b += max(stride, 1) {
		e := min(b+max(stride, 1), len(ms))
		lo, hi := b, b
		for i := b; i < e; i++ {
			if ms[i] < ms[lo] {
				lo = i
			}
			if ms[i] > ms[hi] {
				hi = i
			}
		}
		for _, i := range []int{min(lo, hi), max(lo, hi)} {
			if len(out) > 0 && out[len(out)-1].X == float64(first+i) {
				continue
			}
			out = append(out, plotter.XY{X: float64(first + i), Y: ms[i]})
		}
	}
	return out
}
