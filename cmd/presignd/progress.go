package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/term"

	"github.com/presignd/presignd/internal/bytesize"
)

// isTerminal reports whether w is a terminal, where progress bars belong.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// progress draws a one-line progress bar on a terminal as bytes are written
// to it; disabled, it only counts. It redraws at most every 100ms. It is
// safe for concurrent use, so parts sent in parallel share one bar.
type progress struct {
	mu      sync.Mutex
	w       io.Writer
	enabled bool
	label   string
	total   int64
	done    int64
	start   time.Time
	drawn   time.Time
	width   int
}

func newProgress(w io.Writer, enabled bool, label string, total int64) *progress {
	p := &progress{w: w, enabled: enabled, label: label, total: total, start: time.Now(), width: 80}
	if f, ok := w.(*os.File); ok && enabled {
		if cols, _, err := term.GetSize(int(f.Fd())); err == nil && cols > 40 {
			p.width = cols
		}
	}
	return p
}

// Write counts len(b) bytes; it never fails.
func (p *progress) Write(b []byte) (int, error) {
	p.add(int64(len(b)))
	return len(b), nil
}

// add counts n bytes, or takes -n back (a part that must be sent again).
func (p *progress) add(n int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.done += n
	if p.enabled && time.Since(p.drawn) >= 100*time.Millisecond {
		p.draw()
	}
}

// finish draws the final state and ends the line.
func (p *progress) finish() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.enabled {
		p.draw()
		fmt.Fprintln(p.w)
	}
}

func (p *progress) draw() {
	p.drawn = time.Now()
	fmt.Fprint(p.w, "\r"+p.line())
}

// line renders the bar: label, bar, percent, bytes and rate, fitted to
// the terminal width.
func (p *progress) line() string {
	frac := 1.0
	if p.total > 0 {
		frac = min(float64(p.done)/float64(p.total), 1)
	}
	rate := ""
	if secs := time.Since(p.start).Seconds(); secs > 0.2 {
		rate = "  " + bytesize.Format(int64(float64(p.done)/secs)) + "/s"
	}
	stats := fmt.Sprintf(" %3d%%  %s / %s%s", int(frac*100), bytesize.Format(p.done), bytesize.Format(p.total), rate)
	label := p.label
	if max := p.width / 3; len(label) > max {
		label = label[:max-1] + "…"
	}
	barWidth := p.width - len([]rune(label)) - len(stats) - 4
	if barWidth < 10 {
		barWidth = 10
	}
	fill := int(frac * float64(barWidth))
	bar := strings.Repeat("=", fill)
	if fill < barWidth {
		bar += ">" + strings.Repeat(" ", barWidth-fill-1)
	}
	return fmt.Sprintf("%s [%s]%s", label, bar, stats)
}
