package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"
)

// progress reports how much of the segment objects a command has read, out
// of a total known up front: on a terminal a bar redrawn in place with
// MB/s and ETA, otherwise one plain line every interval. It is safe for
// concurrent use.
type progress struct {
	w        io.Writer
	tty      bool
	what     string // e.g. "exported"
	total    int64  // bytes
	start    time.Time
	interval time.Duration

	mu      sync.Mutex // guards below
	done    int64      // bytes
	records int64
	last    time.Time // of the last report
}

// Intervals between two reports.
const (
	progressTTYInterval   = 200 * time.Millisecond
	progressPlainInterval = 10 * time.Second
	progressBarWidth      = 30
)

func newProgress(w io.Writer, what string, total int64) *progress {
	p := &progress{w: w, tty: isTerminal(w), what: what, total: total, start: time.Now(), interval: progressPlainInterval}
	if p.tty {
		p.interval = progressTTYInterval
	}
	p.last = p.start
	return p
}

// isTerminal reports whether w is a character device, such as a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// add counts bytes of segment objects and records done, and reports if one
// is due.
func (p *progress) add(bytes, records int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.done += bytes
	p.records += records
	if now := time.Now(); now.Sub(p.last) >= p.interval {
		p.last = now
		p.reportLocked(now, false)
	}
}

// finish prints the last report, ending the bar's line.
func (p *progress) finish() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.reportLocked(time.Now(), true)
}

func (p *progress) reportLocked(now time.Time, final bool) {
	elapsed := now.Sub(p.start)
	rate := float64(p.done) / 1e6 / max(elapsed.Seconds(), 1e-3)
	eta := "?"
	if rate > 0 && p.done <= p.total {
		eta = time.Duration(float64(p.total-p.done) / 1e6 / rate * float64(time.Second)).Round(time.Second).String()
	}
	frac := 1.0
	if p.total > 0 {
		frac = min(float64(p.done)/float64(p.total), 1)
	}
	stats := fmt.Sprintf("%3.0f%% %.1f/%.1f MB, %d records, %.1f MB/s", 100*frac, float64(p.done)/1e6, float64(p.total)/1e6, p.records, rate)
	switch {
	case p.tty && !final:
		filled := int(frac * progressBarWidth)
		bar := strings.Repeat("=", filled) + strings.Repeat(" ", progressBarWidth-filled)
		fmt.Fprintf(p.w, "\r[%s] %s, ETA %s  ", bar, stats, eta)
	case final:
		if p.tty {
			fmt.Fprint(p.w, "\r")
		}
		fmt.Fprintf(p.w, "%s %s in %s\n", p.what, stats, elapsed.Round(time.Millisecond))
	default:
		fmt.Fprintf(p.w, "%s %s, ETA %s\n", p.what, stats, eta)
	}
}
