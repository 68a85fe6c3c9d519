package locallog

import (
	"fmt"
	"os"
	"time"

	"github.com/strata-io/strata/internal/failpoint"
)

// DeleteRecords moves logStart up to before (the high watermark when before
// is -1) and deletes the segments wholly below it. It returns the new
// logStart; before above the high watermark is ErrOffsetOutOfRange and
// before at or below logStart changes nothing.
func (p *Partition) DeleteRecords(before int64) (int64, error) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return 0, ErrClosed
	}
	if before == -1 {
		before = p.hw
	}
	if before < 0 || before > p.hw {
		hw := p.hw
		p.mu.Unlock()
		return 0, fmt.Errorf("delete records of %s before %d, high watermark %d: %w", p.name, before, hw, ErrOffsetOutOfRange)
	}
	if before <= p.logStart {
		ls := p.logStart
		p.mu.Unlock()
		return ls, nil
	}
	if err := writeLogStart(p.dir, before); err != nil {
		p.mu.Unlock()
		return 0, fmt.Errorf("delete records of %s: %w", p.name, err)
	}
	p.logStart = before
	err := p.deleteSegmentsLocked(func(s *segment) bool { return s.end <= before })
	ls := p.logStart
	p.mu.Unlock()
	p.notify()
	return ls, err
}

// EnforceRetention deletes the oldest sealed segments that retention.ms or
// retention.bytes no longer keep and advances logStart past them. A tiered
// partition applies local.retention.ms and local.retention.bytes instead,
// and deletes only segments that end at or below the remote end. The
// active segment is never deleted. It returns how many segments went.
func (p *Partition) EnforceRetention(now time.Time) (int, error) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return 0, nil
	}
	var total int64
	for _, s := range p.segs {
		total += s.size
	}
	retMs, retBytes := p.cfg.RetentionMs, p.cfg.RetentionBytes
	if p.cfg.Tiered {
		retMs, retBytes = p.cfg.LocalRetentionMs, p.cfg.LocalRetentionBytes
	}
	n := len(p.segs)
	err := p.deleteSegmentsLocked(func(s *segment) bool {
		if p.cfg.Tiered && s.end > p.remoteEnd {
			return false // not yet committed remotely
		}
		expired := retMs >= 0 && s.maxTs >= 0 && now.Sub(time.UnixMilli(s.maxTs)) > retMs
		oversize := retBytes >= 0 && total-s.size >= retBytes
		if s.end <= p.logStart || expired || oversize {
			total -= s.size
			return true
		}
		return false
	})
	deleted := n - len(p.segs)
	p.mu.Unlock()
	if deleted > 0 {
		p.notify()
	}
	return deleted, err
}

// deleteSegmentsLocked deletes sealed segments from the front while del
// approves, moving logStart to the first segment kept. Files are unlinked
// now; a reader that pinned a segment keeps its open file until it is done.
func (p *Partition) deleteSegmentsLocked(del func(*segment) bool) error {
	k := 0
	for k < len(p.segs)-1 && del(p.segs[k]) {
		k++
	}
	if k == 0 {
		return nil
	}
	newStart := max(p.logStart, p.segs[k].base)
	if newStart != p.logStart {
		if err := writeLogStart(p.dir, newStart); err != nil {
			return fmt.Errorf("advance log start of %s: %w", p.name, err)
		}
		p.logStart = newStart
	}
	failpoint.Hit("local-retention")
	for _, s := range p.segs[:k] {
		for _, ext := range []string{".log", ".idx"} {
			if err := os.Remove(segmentPath(p.dir, s.base, ext)); err != nil && !os.IsNotExist(err) {
				p.log.cfg.Logger.Warn("delete segment file", "partition", p.name, "err", err)
			}
		}
		p.log.cfg.Logger.Info("segment deleted", "partition", p.name, "base", s.base, "end", s.end, "bytes", s.size)
		s.release()
	}
	p.segs = append(p.segs[:0:0], p.segs[k:]...)
	p.checkLocked()
	return nil
}
