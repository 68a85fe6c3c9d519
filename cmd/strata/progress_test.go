package main

import (
	"strings"
	"testing"
)

func TestProgressReports(t *testing.T) {
	for _, tty := range []bool{false, true} {
		var out strings.Builder
		p := newProgress(&out, "exported", 4e6)
		p.tty, p.interval = tty, 0 // report on every add
		p.add(1e6, 10)
		p.add(1e6, 5)
		p.finish()
		lines := strings.Split(out.String(), "\n")
		wantMid := "exported  50% 2.0/4.0 MB, 15 records, "
		if tty {
			wantMid = "\r[===============               ]  50% 2.0/4.0 MB, 15 records, "
		}
		if !strings.Contains(out.String(), wantMid) || !strings.Contains(out.String(), "MB/s, ETA ") {
			t.Errorf("tty %v: output %q lacks %q and an ETA", tty, out.String(), wantMid)
		}
		if last := lines[len(lines)-2]; !strings.Contains(last, "exported  50% 2.0/4.0 MB, 15 records, ") || !strings.Contains(last, " in ") {
			t.Errorf("tty %v: last line %q is not the summary", tty, last)
		}
		if len(lines[len(lines)-1]) != 0 {
			t.Errorf("tty %v: output does not end with a newline: %q", tty, out.String())
		}
	}
}
