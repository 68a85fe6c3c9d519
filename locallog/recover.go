package locallog

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/strata-io/strata/batch"
)

// recover loads p's segments from disk (see OpenPartition).
func (p *Partition) recover() error {
	if err := os.MkdirAll(p.dir, 0o755); err != nil {
		return err
	}
	if err := removeTemps(p.dir); err != nil {
		return err
	}
	checkpoint, err := readLogStart(p.dir)
	if err != nil {
		return err
	}
	bases, err := listByExt(p.dir, ".log")
	if err != nil {
		return err
	}
	for i, base := range bases {
		s, err := p.openSegment(base)
		if err != nil {
			p.closeSegments()
			return err
		}
		p.segs = append(p.segs, s)
		size, err := fileSize(s.path)
		if err != nil {
			p.closeSegments()
			return err
		}
		last := i == len(bases)-1
		if err := p.recoverSegment(s, size, last); err != nil {
			p.closeSegments()
			return err
		}
		if i > 0 && p.segs[i-1].end != s.base {
			p.closeSegments()
			return fmt.Errorf("segment %s starts at %d but the previous one ends at %d: %w", s.path, s.base, p.segs[i-1].end, ErrCorrupt)
		}
	}
	if len(p.segs) == 0 {
		s, err := p.createSegment(max(checkpoint, 0))
		if err != nil {
			return err
		}
		p.segs = append(p.segs, s)
	}
	act := p.segs[len(p.segs)-1]
	if err := act.f.Sync(); err != nil {
		p.closeSegments()
		return fmt.Errorf("fsync %s: %w", act.path, err)
	}
	// The active segment's age counts from recovery: its first record's
	// append time is not stored.
	act.firstAppend = p.log.cfg.Now()
	p.logEnd = act.end
	p.hw, p.synced, p.hwPos = p.logEnd, p.logEnd, act.size
	p.logStart = max(checkpoint, p.segs[0].base)
	if p.logStart > p.logEnd {
		p.logStart = p.logEnd
	}
	if err := p.recoverProducers(); err != nil {
		p.closeSegments()
		return err
	}
	p.checkLocked()
	return nil
}

// recoverSegment loads a sealed segment's bounds and indexes from its
// metadata file, or rebuilds them by scanning the batches. The active (last)
// segment is always scanned and cut at the first torn or corrupt batch; a
// sealed segment with a bad batch is refused.
func (p *Partition) recoverSegment(s *segment, size int64, last bool) error {
	if !last && s.loadMeta(size) == nil {
		return nil
	}
	stop, err := s.scan(size, int64(p.log.cfg.IndexIntervalBytes), true, nil)
	if err != nil {
		return err
	}
	if last {
		if stop != nil {
			p.log.cfg.Logger.Warn("truncating torn tail", "partition", p.name, "segment", s.path, "at", s.size, "file_bytes", size, "reason", stop)
			if err := s.f.Truncate(s.size); err != nil {
				return fmt.Errorf("truncate %s: %w", s.path, err)
			}
		}
		return nil
	}
	if stop != nil {
		return fmt.Errorf("sealed segment %s: %w (%w)", s.path, ErrCorrupt, stop)
	}
	s.sealed = true
	return writeFileAtomic(segmentPath(p.dir, s.base, ".idx"), s.encodeMeta())
}

func (p *Partition) openSegment(base int64) (*segment, error) {
	path := segmentPath(p.dir, base, ".log")
	f, err := p.log.cfg.OpenFile(path, os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	return newSegment(f, path, base), nil
}

func (p *Partition) closeSegments() {
	for _, s := range p.segs {
		s.release()
	}
	p.segs = nil
}

// recoverProducers loads the newest usable producer snapshot and replays the
// batches after it.
func (p *Partition) recoverProducers() error {
	snaps, err := listByExt(p.dir, ".snapshot")
	if err != nil {
		return err
	}
	from := p.segs[0].base
	for i := len(snaps) - 1; i >= 0; i-- {
		off := snaps[i]
		path := segmentPath(p.dir, off, ".snapshot")
		if off > p.logEnd {
			// Written before a torn tail was cut away: it describes batches
			// that no longer exist.
			_ = os.Remove(path)
			continue
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		ps, err := decodeProducers(b)
		if err != nil {
			p.log.cfg.Logger.Warn("ignoring producer snapshot", "partition", p.name, "file", path, "err", err)
			continue
		}
		p.producers, from = ps, off
		break
	}
	for _, s := range p.segs {
		if s.end <= from {
			continue
		}
		err := s.walkHeaders(int64(s.offs.Lookup(uint32(max(from-s.base, 0)))), s.size, func(h batch.Header, _ int64) bool {
			if h.BaseOffset >= from {
				p.producers.update(h, h.BaseOffset)
			}
			return true
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// walkHeaders calls fn with each batch header (and its position) in [from,
// to) of s, until fn returns false. The bytes must already be validated.
func (s *segment) walkHeaders(from, to int64, fn func(h batch.Header, pos int64) bool) error {
	var hdr [batch.HeaderSize]byte
	for pos := from; pos < to; {
		if err := readFull(s.f, hdr[:], pos); err != nil {
			return fmt.Errorf("read %s at %d: %w", s.path, pos, err)
		}
		h, err := batch.ParseHeader(hdr[:])
		if err != nil {
			return fmt.Errorf("%s at %d: %w", s.path, pos, err)
		}
		if !fn(h, pos) {
			return nil
		}
		pos += int64(h.Size())
	}
	return nil
}

func fileSize(path string) (int64, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return 0, err
	}
	return fi.Size(), nil
}

func removeTemps(dir string) error {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), ".tmp") {
			if err := os.Remove(filepath.Join(dir, e.Name())); err != nil {
				return err
			}
		}
	}
	return nil
}

const logStartFile = "logstart"

func readLogStart(dir string) (int64, error) {
	b, err := os.ReadFile(filepath.Join(dir, logStartFile))
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	off, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil || off < 0 {
		return 0, fmt.Errorf("%w: %s: %q", ErrCorrupt, logStartFile, b)
	}
	return off, nil
}

func writeLogStart(dir string, off int64) error {
	return writeFileAtomic(filepath.Join(dir, logStartFile), []byte(strconv.FormatInt(off, 10)+"\n"))
}
