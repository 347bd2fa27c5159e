package main

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
)

// The scaling plot: three panels (server CPU per delivery, p99 latency, memory per idle
// stream) against the number of subscribers, both axes logarithmic since the sizes span
// two decades and the two servers differ by more than one. Each server is a line through
// its medians with a bar from min to max; a size where every run failed is a cross at
// the top of the panel, so a failure never reads as a low value. Hand-written SVG keeps
// the tool free of dependencies, and GitHub shows it inline.

// plotPanel is one figure to draw.
type plotPanel struct {
	Figure string // key in figureDefs
	Title  string
	Goals  []goalMark
}

// goalMark is one of the targets, drawn as a dotted grey line: across the whole
// panel when X is 0, else a short stretch around that size.
type goalMark struct {
	X, Y float64
}

var plotPanels = []plotPanel{
	{"cpu_us_per_delivery", "Server CPU per delivered fragment (µs)", []goalMark{{0, 10}}},
	{"latency_p99_ms", "POST-to-receipt p99 (ms)", []goalMark{{1000, 15}, {10000, 150}}},
	{"kib_per_stream", "Server RSS per idle stream (KiB)", []goalMark{{0, 16}}},
}

// plotStyle is how one server's series looks.
type plotStyle struct {
	Color, Dash, Marker string
}

var plotStyles = map[string]plotStyle{
	serverChat: {Color: "#1f5fa8", Dash: "", Marker: "circle"},
	serverPeer: {Color: "#c0392b", Dash: "6 4", Marker: "square"},
}

// plotPoint is one size of one series.
type plotPoint struct {
	X             float64 // subscribers
	Med, Min, Max float64
	Failed        bool // every run at this size failed: drawn as a cross, not a value
}

// plotSeries is one server's points in one panel, in increasing X.
type plotSeries struct {
	Server string
	Points []plotPoint
}

// Layout, in pixels.
const (
	plotW       = 1000
	plotH       = 390
	panelW      = 320 // one panel, including its axis labels
	panelLeft   = 58  // from the panel's edge to the plot area
	panelTop    = 90
	areaW       = 240
	areaH       = 230
	legendY     = 46
	markerR     = 3.5
	failureMark = "×"
)

// seriesFor collects the scaling medians of each server for one figure.
func seriesFor(rows []aggRow, figure string) []plotSeries {
	byServer := map[string][]plotPoint{}
	var servers []string
	for _, r := range rows {
		if r.Case != caseScale {
			continue
		}
		var pt plotPoint
		switch {
		case r.Figure == figure && r.N > 0:
			pt = plotPoint{X: float64(r.Subscribers), Med: r.Median, Min: r.Min, Max: r.Max}
		case r.N == 0 && r.Failed > 0:
			pt = plotPoint{X: float64(r.Subscribers), Failed: true}
		default:
			continue
		}
		if _, ok := byServer[r.Server]; !ok {
			servers = append(servers, r.Server)
		}
		byServer[r.Server] = append(byServer[r.Server], pt)
	}
	slices.SortFunc(servers, func(a, b string) int { return serverRank(a) - serverRank(b) })
	out := make([]plotSeries, 0, len(servers))
	for _, s := range servers {
		pts := byServer[s]
		slices.SortFunc(pts, func(a, b plotPoint) int { return int(a.X - b.X) })
		out = append(out, plotSeries{Server: s, Points: pts})
	}
	return out
}

// logAxis maps values to pixels on a log10 scale between whole decades.
type logAxis struct {
	lo, hi   float64 // log10 of the ends
	from, to float64 // pixels
}

// newLogAxis covers every positive value in vs with whole decades, at least one.
func newLogAxis(vs []float64, from, to float64) logAxis {
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, v := range vs {
		if v > 0 {
			lo, hi = min(lo, math.Log10(v)), max(hi, math.Log10(v))
		}
	}
	if math.IsInf(lo, 1) {
		lo, hi = 0, 1
	}
	lo, hi = math.Floor(lo), math.Ceil(hi)
	if hi <= lo {
		hi = lo + 1
	}
	return logAxis{lo: lo, hi: hi, from: from, to: to}
}

func (a logAxis) at(v float64) float64 {
	return a.from + (math.Log10(v)-a.lo)/(a.hi-a.lo)*(a.to-a.from)
}

// ticks returns the labelled values: every decade, and 2 and 5 times it when the axis
// spans at most two decades (else the labels would crowd).
func (a logAxis) ticks() []float64 {
	var out []float64
	for k := a.lo; k <= a.hi; k++ {
		d := math.Pow(10, k)
		out = append(out, d)
		if a.hi-a.lo <= 2 && k < a.hi {
			out = append(out, 2*d, 5*d)
		}
	}
	return out
}

// tickLabel prints 1, 20, 500, 1k, 10k, 0.5 and so on.
func tickLabel(v float64) string {
	switch {
	case v >= 1000 && math.Mod(v, 1000) == 0:
		return strconv.FormatFloat(v/1000, 'f', -1, 64) + "k"
	default:
		return strconv.FormatFloat(v, 'g', 3, 64)
	}
}

// writeSVG draws the panels from the aggregates.
func writeSVG(w io.Writer, rows []aggRow, caption string) error {
	var b bytes.Buffer
	pf := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }

	pf(`<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" `+
		`viewBox="0 0 %d %d" font-family="Helvetica, Arial, sans-serif" font-size="12">`+"\n",
		plotW, plotH, plotW, plotH)
	pf("<title>%s</title>\n", esc(caption))
	pf(`<rect width="100%%" height="100%%" fill="#ffffff"/>` + "\n")
	pf(`<text x="%d" y="%d" font-size="14">%s</text>`+"\n", 12, 22, esc(caption))

	// Legend, under the caption.
	for i, name := range []string{serverChat, serverPeer} {
		st := plotStyles[name]
		x := 14 + i*260
		pf(`<g class="legend" data-series="%s">`, name)
		pf(`<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s" stroke-width="2"%s/>`,
			x, legendY, x+30, legendY, st.Color, dashAttr(st.Dash))
		marker(&b, st, float64(x+15), legendY)
		pf(`<text x="%d" y="%d">%s</text></g>`+"\n", x+36, legendY+4, esc(seriesLabel(name)))
	}

	for i, panel := range plotPanels {
		series := seriesFor(rows, panel.Figure)
		writePanel(&b, float64(i*panelW+10), panel, series)
	}
	pf("</svg>\n")
	_, err := w.Write(b.Bytes())
	return err
}

func seriesLabel(server string) string {
	if server == serverPeer {
		return "Flask peer (median, min–max)"
	}
	return "chat (median, min–max)"
}

func writePanel(b *bytes.Buffer, left float64, panel plotPanel, series []plotSeries) {
	pf := func(format string, args ...any) { fmt.Fprintf(b, format, args...) }
	x0, y0 := left+panelLeft, float64(panelTop)
	x1, y1 := x0+areaW, y0+areaH

	var xs, ys []float64
	for _, s := range series {
		for _, p := range s.Points {
			xs = append(xs, p.X)
			if !p.Failed {
				ys = append(ys, p.Min, p.Max, p.Med)
			}
		}
	}
	for _, g := range panel.Goals {
		ys = append(ys, g.Y)
	}
	ax := newLogAxis(xs, x0, x1)
	ay := newLogAxis(ys, y1, y0)

	pf(`<g class="panel" data-figure="%s">`+"\n", panel.Figure)
	pf(`<text x="%.1f" y="%.1f" font-weight="bold">%s</text>`+"\n", left+8, y0-14,
		esc(panel.Title))
	pf(`<rect x="%.1f" y="%.1f" width="%d" height="%d" fill="none" stroke="#888"/>`+"\n",
		x0, y0, areaW, areaH)
	for _, t := range ax.ticks() {
		x := ax.at(t)
		pf(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#e4e4e4"/>`, x, y0, x, y1)
		pf(`<text x="%.1f" y="%.1f" text-anchor="middle">%s</text>`+"\n", x, y1+16,
			tickLabel(t))
	}
	for _, t := range ay.ticks() {
		y := ay.at(t)
		pf(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#e4e4e4"/>`, x0, y, x1, y)
		pf(`<text x="%.1f" y="%.1f" text-anchor="end">%s</text>`+"\n", x0-5, y+4,
			tickLabel(t))
	}
	pf(`<text x="%.1f" y="%.1f" text-anchor="middle">subscribers (log scale)</text>`+"\n",
		(x0+x1)/2, y1+34)
	for _, g := range panel.Goals {
		gx0, gx1 := x0, x1
		if g.X > 0 {
			if g.X < math.Pow(10, ax.lo) || g.X > math.Pow(10, ax.hi) {
				continue // that size is off this sweep's axis
			}
			gx0, gx1 = max(x0, ax.at(g.X)-22), min(x1, ax.at(g.X)+22)
		}
		y := ay.at(g.Y)
		pf(`<g class="goal"><line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#777" `+
			`stroke-width="1.5" stroke-dasharray="2 3"/>`, gx0, y, gx1, y)
		pf(`<text x="%.1f" y="%.1f" font-size="10" fill="#555" text-anchor="end">goal %s`+
			`</text></g>`+"\n", gx1-2, y-3, tickLabel(g.Y))
	}

	for _, s := range series {
		st := plotStyles[s.Server]
		pf(`<g class="series" data-series="%s"><title>%s</title>`+"\n", s.Server,
			esc(s.Server+": "+panel.Title))
		var pts []string
		for _, p := range s.Points {
			if !p.Failed && p.Med > 0 {
				pts = append(pts, fmt.Sprintf("%.1f,%.1f", ax.at(p.X), ay.at(p.Med)))
			}
		}
		if len(pts) > 1 {
			pf(`<polyline points="%s" fill="none" stroke="%s" stroke-width="2"%s/>`+"\n",
				strings.Join(pts, " "), st.Color, dashAttr(st.Dash))
		}
		for _, p := range s.Points {
			x := ax.at(p.X)
			if p.Failed {
				pf(`<text x="%.1f" y="%.1f" text-anchor="middle" fill="%s" font-size="16">`+
					`%s<title>%s failed at %s subscribers</title></text>`+"\n",
					x, y0+14, st.Color, failureMark, esc(s.Server), fmtInt(int(p.X)))
				continue
			}
			if p.Med <= 0 {
				continue // nothing to place on a log axis; the tables have the value
			}
			if p.Min > 0 && p.Max > p.Min {
				pf(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s"/>`,
					x, ay.at(p.Min), x, ay.at(p.Max), st.Color)
			}
			marker(b, st, x, ay.at(p.Med))
			pf("\n")
		}
		pf("</g>\n")
	}
	pf("</g>\n")
}

// marker draws one data point.
func marker(b *bytes.Buffer, st plotStyle, x, y float64) {
	if st.Marker == "square" {
		fmt.Fprintf(b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"/>`,
			x-markerR, y-markerR, 2*markerR, 2*markerR, st.Color)
		return
	}
	fmt.Fprintf(b, `<circle cx="%.1f" cy="%.1f" r="%.1f" fill="%s"/>`, x, y, markerR, st.Color)
}

func dashAttr(d string) string {
	if d == "" {
		return ""
	}
	return fmt.Sprintf(` stroke-dasharray="%s"`, d)
}

// esc escapes text for an SVG element or attribute.
func esc(s string) string {
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}
