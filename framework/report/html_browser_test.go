package report

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// browserTimeout bounds one page in headless Chromium: start, load, checks
// and screenshots (a cold start on a 2-core machine takes a few seconds).
const browserTimeout = 90 * time.Second

// chromiumPath finds Debian's chromium. Missing, the test fails as root (as
// in CI, where ci/test.sh installs it) and is skipped otherwise: it never
// passes without having looked at the page.
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	msg := "headless Chromium is missing (Debian package chromium; `make test` installs it, as ci/test.sh does for root)"
	if os.Geteuid() != 0 {
		t.Skip(msg)
	}
	t.Fatal(msg)
	return ""
}

// artifactDir is where the browser test leaves its pages and screenshots:
// $PVREBOOT_ARTIFACTS/report-html when set, else the test's temporary
// directory.
func artifactDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("PVREBOOT_ARTIFACTS")
	if dir == "" {
		return t.TempDir()
	}
	dir = filepath.Join(dir, "report-html")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// pageFacts is what the page shows, read by script in the browser.
type pageFacts struct {
	Verdict string       `json:"verdict"`
	Figures []figureFact `json:"figures"`
}

type figureFact struct {
	ID         string   `json:"id"`
	Series     string   `json:"series"`
	Milestones string   `json:"milestones"`
	Width      float64  `json:"width"`
	Height     float64  `json:"height"`
	Texts      []string `json:"texts"`
	// Drawn counts, per series name, the SVG elements marked with it that
	// the browser laid out with a non-empty box.
	Drawn map[string]int `json:"drawn"`
}

const pageFactsJS = `(() => ({
  verdict: document.querySelector('#verdict').dataset.verdict,
  figures: [...document.querySelectorAll('figure')].map(f => {
    const svg = f.querySelector('svg');
    const box = svg ? svg.getBoundingClientRect() : {width: 0, height: 0};
    const drawn = {};
    if (svg) {
      for (const el of svg.querySelectorAll('[data-series]')) {
        const b = el.getBBox();
        if (b.width > 0 || b.height > 0) {
          drawn[el.dataset.series] = (drawn[el.dataset.series] || 0) + 1;
        }
      }
    }
    return {
      id: f.id, series: f.dataset.series || '', milestones: f.dataset.milestones || '',
      width: box.width, height: box.height,
      texts: svg ? [...svg.querySelectorAll('text')].filter(t => t.getBBox().width > 0).map(t => t.textContent) : [],
      drawn,
    };
  }),
}))()`

// TestHTMLInBrowser opens the HTML report of real-shaped results in headless
// Chromium: every plot is laid out with a size, the ECDF and the other plots
// draw each phase with the phase's name in the legend, the reboot timeline
// has its milestones, the page fetches nothing and logs no error. It leaves
// a full-page screenshot of each.
func TestHTMLInBrowser(t *testing.T) {
	t.Parallel()
	chromium := chromiumPath(t)
	dir := artifactDir(t)
	opts := append(slices.Clone(chromedp.DefaultExecAllocatorOptions[:]),
		chromedp.ExecPath(chromium), chromedp.WindowSize(1280, 900), chromedp.UserDataDir(t.TempDir()))
	if os.Geteuid() == 0 {
		opts = append(opts, chromedp.NoSandbox) // Chromium refuses to run as root in its sandbox
	}
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancel()
	bctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	if err := chromedp.Do(bctx); err != nil { // start the browser once
		t.Fatalf("start %s: %v", chromium, err)
	}
	phases := []string{"baseline", "after-reboot", "after-recreate"}
	for _, name := range []string{fixtureRegressed, fixtureHealthy, fixtureReflink} {
		t.Run(name, func(t *testing.T) {
			r, err := ReadFile(filepath.Join("testdata", name+".json"))
			if err != nil {
				t.Fatal(err)
			}
			page := filepath.Join(dir, name+".html")
			f, err := os.Create(page)
			if err != nil {
				t.Fatal(err)
			}
			err = HTML(f, r)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := chromedp.NewContext(bctx)
			defer cancel()
			ctx, cancel = context.WithTimeout(ctx, browserTimeout)
			defer cancel()
			var mu sync.Mutex
			var fetched, logged []string
			if err := chromedp.Listen(ctx, func(ev any) {
				mu.Lock()
				defer mu.Unlock()
				switch e := ev.(type) {
				case *network.EventRequestWillBeSent:
					if u := e.Request.URL; !strings.HasPrefix(u, "file://") && !strings.HasPrefix(u, "data:") {
						fetched = append(fetched, u)
					}
				case *log.EventEntryAdded:
					if e.Entry.Level == log.EntryLevelError || e.Entry.Level == log.EntryLevelWarning {
						logged = append(logged, fmt.Sprintf("%s: %s", e.Entry.Level, e.Entry.Text))
					}
				case *runtime.EventExceptionThrown:
					logged = append(logged, "exception: "+e.ExceptionDetails.Text)
				}
			}); err != nil {
				t.Fatal(err)
			}
			if _, err := chromedp.Call(ctx, network.Enable, network.EnableParams{}); err != nil {
				t.Fatal(err)
			}
			if _, err := chromedp.Call(ctx, log.Enable, struct{}{}); err != nil {
				t.Fatal(err)
			}
			u := url.URL{Scheme: "file", Path: page}
			if err := chromedp.Do(ctx, chromedp.Navigate(u.String())); err != nil {
				t.Fatalf("open %s: %v", u.String(), err)
			}
			facts, err := chromedp.Run(ctx, chromedp.Evaluate[pageFacts](pageFactsJS))
			if err != nil {
				t.Fatalf("read the page: %v", err)
			}
			shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
			if err != nil {
				t.Fatalf("screenshot: %v", err)
			}
			png := filepath.Join(dir, name+".png")
			if err := os.WriteFile(png, shot, 0o644); err != nil {
				t.Fatal(err)
			}
			t.Logf("full-page screenshot of %s: %s (page %s)", name, png, page)

			if want := verdictWord(r); facts.Verdict != want {
				t.Errorf("banner verdict %q, want %q", facts.Verdict, want)
			}
			byID := map[string]figureFact{}
			for _, f := range facts.Figures {
				byID[f.ID] = f
				if !(f.Width > 100 && f.Height > 100) {
					t.Errorf("figure %s: its SVG is %.0fx%.0f px, not drawn", f.ID, f.Width, f.Height)
				}
			}
			for _, id := range []string{figureECDF, figureCalls, figureThroughput} {
				f, ok := byID[id]
				if !ok {
					t.Errorf("no figure %s (figures %v)", id, facts.Figures)
					continue
				}
				if f.Series != strings.Join(phases, ",") {
					t.Errorf("figure %s: data-series %q, want %q", id, f.Series, strings.Join(phases, ","))
				}
				for _, p := range phases {
					if !slices.Contains(f.Texts, p) {
						t.Errorf("figure %s: no legend text %q among %q", id, p, f.Texts)
					}
					if f.Drawn[p] == 0 {
						t.Errorf("figure %s: no element of series %q was laid out (drawn %v)", id, p, f.Drawn)
					}
				}
			}
			if ecdf := byID[figureECDF]; ecdf.Drawn[seriesLimit] == 0 || !slices.ContainsFunc(ecdf.Texts, func(s string) bool { return strings.HasPrefix(s, "limit: after-reboot p99") }) {
				t.Errorf("ECDF: no p99 limit line in its legend: drawn %v, texts %q", ecdf.Drawn, ecdf.Texts)
			}
			tl, ok := byID[figureReboot]
			if !ok {
				t.Fatalf("no figure %s", figureReboot)
			}
			for _, m := range []string{milestoneIssued, milestoneReturned, milestoneKubelet, milestoneNode, milestonePod} {
				if !strings.Contains(tl.Milestones, m) || !slices.Contains(tl.Texts, m) {
					t.Errorf("reboot timeline: milestone %q missing from data-milestones %q or its text %q", m, tl.Milestones, tl.Texts)
				}
			}
			if !slices.Contains(tl.Texts, milestoneNotReady+" (not seen)") {
				t.Errorf("reboot timeline: NotReady, never seen in this run, is not said so: %q", tl.Texts)
			}
			for _, at := range []string{"+12.5s", "+15.0s", "+16.0s", "+21.0s"} {
				if !slices.Contains(tl.Texts, at) {
					t.Errorf("reboot timeline: no label %s among %q", at, tl.Texts)
				}
			}
			if tl.Drawn[seriesMilestone] == 0 {
				t.Errorf("reboot timeline: no milestone drawn: %v", tl.Drawn)
			}
			mu.Lock()
			defer mu.Unlock()
			if len(fetched) > 0 {
				t.Errorf("the page fetched %q: it must be self-contained", fetched)
			}
			if len(logged) > 0 {
				t.Errorf("the browser logged %q", logged)
			}
		})
	}
}
