package main

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"math"
	"strings"
	"testing"
)

// svgSummary is what a walk over the SVG found: per panel, per series, the number of
// polyline points, markers and failure crosses.
type svgSummary struct {
	panels map[string]map[string]*seriesCount
	titles []string
}

type seriesCount struct {
	points, markers, failures int
}

func attr(se xml.StartElement, name string) string {
	for _, a := range se.Attr {
		if a.Name.Local == name {
			return a.Value
		}
	}
	return ""
}

// parseSVG decodes the whole document (so malformed XML fails) and counts what is drawn.
func parseSVG(t *testing.T, doc []byte) svgSummary {
	t.Helper()
	d := xml.NewDecoder(bytes.NewReader(doc))
	sum := svgSummary{panels: map[string]map[string]*seriesCount{}}
	var panel, series string
	var stack []string
	root := true
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("invalid XML: %v\n%s", err, doc)
		}
		switch el := tok.(type) {
		case xml.StartElement:
			if root {
				if el.Name.Local != "svg" || el.Name.Space != "http://www.w3.org/2000/svg" {
					t.Fatalf("root element %v, want svg in the SVG namespace", el.Name)
				}
				root = false
			}
			stack = append(stack, el.Name.Local)
			switch {
			case el.Name.Local == "g" && attr(el, "class") == "panel":
				panel = attr(el, "data-figure")
				sum.panels[panel] = map[string]*seriesCount{}
			case el.Name.Local == "g" && attr(el, "class") == "series":
				series = attr(el, "data-series")
				sum.panels[panel][series] = &seriesCount{}
			case series != "" && el.Name.Local == "polyline":
				sum.panels[panel][series].points = len(strings.Fields(attr(el, "points")))
			case series != "" && (el.Name.Local == "circle" || el.Name.Local == "rect"):
				sum.panels[panel][series].markers++
			}
		case xml.EndElement:
			stack = stack[:len(stack)-1]
			// A series group holds no other group, so the first end of a g closes it.
			if el.Name.Local == "g" {
				series = ""
			}
		case xml.CharData:
			text := strings.TrimSpace(string(el))
			if series != "" && text == failureMark {
				sum.panels[panel][series].failures++
			}
			if len(stack) > 0 && stack[len(stack)-1] == "title" && text != "" {
				sum.titles = append(sum.titles, text)
			}
		}
	}
	return sum
}

func TestWriteSVG(t *testing.T) {
	var runs []runResult
	for _, n := range []int{100, 1000, 10000} {
		for _, v := range []float64{1, 2, 3} {
			runs = append(runs, fakeRun(caseScale, serverChat, n, true, figureMap{
				"cpu_us_per_delivery": v * 3, "latency_p99_ms": v * float64(n) / 100,
				"kib_per_stream": 15 + v}))
		}
	}
	for _, n := range []int{100, 1000} {
		runs = append(runs, fakeRun(caseScale, serverPeer, n, true, figureMap{
			"cpu_us_per_delivery": 200, "latency_p99_ms": 50, "kib_per_stream": 45}))
	}
	runs = append(runs, fakeRun(caseScale, serverPeer, 10000, false, nil))
	// Goal runs are not part of the scaling plot.
	runs = append(runs, fakeRun(caseSoak, serverChat, 10000, true, figureMap{
		"cpu_us_per_delivery": 1e6}))

	var b bytes.Buffer
	if err := writeSVG(&b, aggregate(runs), "test <plot> & co"); err != nil {
		t.Fatal(err)
	}
	sum := parseSVG(t, b.Bytes())

	tests := []struct {
		name                      string
		panel, series             string
		points, markers, failures int
	}{
		{"chat cpu", "cpu_us_per_delivery", serverChat, 3, 3, 0},
		{"peer cpu, failed at 10,000", "cpu_us_per_delivery", serverPeer, 2, 2, 1},
		{"chat p99", "latency_p99_ms", serverChat, 3, 3, 0},
		{"peer p99", "latency_p99_ms", serverPeer, 2, 2, 1},
		{"chat memory", "kib_per_stream", serverChat, 3, 3, 0},
		{"peer memory", "kib_per_stream", serverPeer, 2, 2, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sc := sum.panels[tc.panel][tc.series]
			if sc == nil {
				t.Fatalf("no %s series in panel %s (found %v)", tc.series, tc.panel,
					sum.panels[tc.panel])
			}
			if sc.points != tc.points || sc.markers != tc.markers || sc.failures != tc.failures {
				t.Errorf("got %d points, %d markers, %d failures; want %d, %d, %d",
					sc.points, sc.markers, sc.failures, tc.points, tc.markers, tc.failures)
			}
		})
	}
	if len(sum.panels) != len(plotPanels) {
		t.Errorf("%d panels, want %d", len(sum.panels), len(plotPanels))
	}
	if len(sum.titles) == 0 || sum.titles[0] != "test <plot> & co" {
		t.Errorf("titles %q, want the caption first, unescaped by the parser", sum.titles)
	}
}

func TestWriteSVGNoData(t *testing.T) {
	var b bytes.Buffer
	if err := writeSVG(&b, nil, "empty"); err != nil {
		t.Fatal(err)
	}
	sum := parseSVG(t, b.Bytes())
	for name, p := range sum.panels {
		if len(p) != 0 {
			t.Errorf("panel %s has series %v with no data", name, p)
		}
	}
}

func TestLogAxis(t *testing.T) {
	tests := []struct {
		name      string
		values    []float64
		wantTicks []float64
	}{
		{"two decades get 2 and 5", []float64{100, 10000}, []float64{100, 200, 500, 1000,
			2000, 5000, 10000}},
		{"one value widens to a decade", []float64{15}, []float64{10, 20, 50, 100}},
		{"wide ranges keep decades only", []float64{0.5, 3000}, []float64{0.1, 1, 10, 100,
			1000, 10000}},
		{"zeros and negatives are ignored", []float64{0, -1, 3}, []float64{1, 2, 5, 10}},
		{"nothing positive", []float64{0}, []float64{1, 2, 5, 10}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := newLogAxis(tc.values, 0, 100)
			got := a.ticks()
			if len(got) != len(tc.wantTicks) {
				t.Fatalf("ticks %v, want %v", got, tc.wantTicks)
			}
			for i := range got {
				if math.Abs(got[i]-tc.wantTicks[i]) > 1e-9*tc.wantTicks[i] {
					t.Fatalf("ticks %v, want %v", got, tc.wantTicks)
				}
			}
			if math.Abs(a.at(got[0])) > 1e-9 || math.Abs(a.at(got[len(got)-1])-100) > 1e-9 {
				t.Errorf("ends map to %g and %g, want 0 and 100", a.at(got[0]),
					a.at(got[len(got)-1]))
			}
		})
	}
	if tickLabel(10000) != "10k" || tickLabel(500) != "500" || tickLabel(0.1) != "0.1" {
		t.Errorf("labels %q %q %q", tickLabel(10000), tickLabel(500), tickLabel(0.1))
	}
}
