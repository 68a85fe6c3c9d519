package locallog

import "fmt"

// checkLocked panics if the partition's bounds or segments break the
// package's invariants: logStart <= highWatermark <= logEnd, segments
// contiguous and ascending, only the last one active, the high watermark's
// position inside the active segment. It runs only in builds with the
// invariants tag; a panic here is a bug in this package, not bad input.
// The caller holds mu.
func (p *Partition) checkLocked() {
	if !checkInvariants || p.closed {
		return
	}
	fail := func(format string, args ...any) {
		panic(fmt.Sprintf("locallog invariant broken in %s: ", p.name) + fmt.Sprintf(format, args...))
	}
	if !(p.logStart <= p.hw && p.hw <= p.logEnd) {
		fail("logStart %d, highWatermark %d, logEnd %d", p.logStart, p.hw, p.logEnd)
	}
	if p.synced > p.logEnd {
		fail("synced %d, logEnd %d", p.synced, p.logEnd)
	}
	for i, a := range p.pending {
		if a.end > p.logEnd || a.end <= p.hw || (i > 0 && (a.walEnd <= p.pending[i-1].walEnd || a.end <= p.pending[i-1].end)) {
			fail("pending ack %d %+v with highWatermark %d, logEnd %d", i, a, p.hw, p.logEnd)
		}
	}
	if len(p.segs) == 0 {
		fail("no segments")
	}
	for i, s := range p.segs {
		last := i == len(p.segs)-1
		if s.sealed == last {
			fail("segment %d (base %d) sealed=%v", i, s.base, s.sealed)
		}
		if s.end < s.base || (s.size == 0) != (s.end == s.base) {
			fail("segment base %d end %d size %d", s.base, s.end, s.size)
		}
		if i > 0 && p.segs[i-1].end != s.base {
			fail("segment %d starts at %d, previous ends at %d", i, s.base, p.segs[i-1].end)
		}
	}
	act := p.segs[len(p.segs)-1]
	if act.end != p.logEnd {
		fail("active segment ends at %d, logEnd %d", act.end, p.logEnd)
	}
	if p.logStart < p.segs[0].base {
		fail("logStart %d below the first segment %d", p.logStart, p.segs[0].base)
	}
	if p.fsyncAlways() && (p.hwPos > act.size || (p.hw >= act.base && p.hw < act.end && p.hwPos >= act.size)) {
		fail("hwPos %d with active size %d, hw %d in [%d, %d)", p.hwPos, act.size, p.hw, act.base, act.end)
	}
}
