package locallog

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/strata-io/strata/batch"
	"github.com/strata-io/strata/index"
)

// segment is one file of batches. Fields other than the immutable ones are
// guarded by the owning Partition's mu.
type segment struct {
	base int64  // offset of the first record; immutable
	path string // the .log file; immutable
	f    File   // immutable while refs > 0

	size   int64 // bytes of complete batches
	end    int64 // next offset after the last record
	sealed bool

	offs        index.Offsets
	times       index.Times
	lastIndexed int64 // position of the newest index entry (or 0)

	maxTs       int64 // largest batch max timestamp, -1 when empty
	maxTsPos    int64 // position of the first batch carrying maxTs
	maxTsSoFar  int64 // running max for the time index
	firstAppend time.Time

	refs atomic.Int32 // 1 for the partition's list plus one per pinned reader
}

func segmentPath(dir string, base int64, ext string) string {
	return filepath.Join(dir, fmt.Sprintf("%020d%s", base, ext))
}

func newSegment(f File, path string, base int64) *segment {
	s := &segment{base: base, path: path, f: f, end: base, maxTs: -1, maxTsSoFar: -1}
	s.refs.Store(1)
	return s
}

// acquire pins s for a read outside the partition lock.
func (s *segment) acquire() { s.refs.Add(1) }

// release drops a pin; the last one closes the file.
func (s *segment) release() {
	if s.refs.Add(-1) == 0 {
		_ = s.f.Close()
	}
}

// track records a batch of size n at pos in the segment's bounds and
// indexes. indexInterval is the minimum byte distance between index entries.
func (s *segment) track(h batch.Header, pos int64, indexInterval int64) {
	if s.size == 0 || pos-s.lastIndexed >= indexInterval {
		if pos > 0 && pos <= math.MaxUint32 && h.BaseOffset-s.base <= math.MaxUint32 {
			s.offs.Append(uint32(h.BaseOffset-s.base), uint32(pos))
			s.times.Append(s.maxTsSoFar, uint32(pos))
			s.lastIndexed = pos
		}
	}
	if h.MaxTimestamp > s.maxTs {
		s.maxTs = h.MaxTimestamp
		s.maxTsPos = pos
	}
	if h.MaxTimestamp > s.maxTsSoFar {
		s.maxTsSoFar = h.MaxTimestamp
	}
	s.size = pos + int64(h.Size())
	s.end = h.LastOffset() + 1
}

// segmentState is what an append changes in a segment, for undoing it.
type segmentState struct {
	size, end                   int64
	nOffs, nTimes               int
	lastIndexed                 int64
	maxTs, maxTsPos, maxTsSoFar int64
	firstAppend                 time.Time
}

func (s *segment) state() segmentState {
	return segmentState{s.size, s.end, s.offs.Len(), s.times.Len(), s.lastIndexed, s.maxTs, s.maxTsPos, s.maxTsSoFar, s.firstAppend}
}

func (s *segment) setState(st segmentState) {
	s.size, s.end, s.lastIndexed = st.size, st.end, st.lastIndexed
	s.offs.Truncate(st.nOffs)
	s.times.Truncate(st.nTimes)
	s.maxTs, s.maxTsPos, s.maxTsSoFar, s.firstAppend = st.maxTs, st.maxTsPos, st.maxTsSoFar, st.firstAppend
}

// fits reports whether a batch of n bytes and nRecords can go into s without
// overflowing the 32-bit relative offsets and positions of its index.
func (s *segment) fits(n int, lastOffset int64) bool {
	return s.size+int64(n) <= math.MaxUint32 && lastOffset-s.base <= math.MaxUint32
}

// scanFile reads the batches of s from position 0, feeding each to track and
// fn. It stops at the first incomplete or invalid batch and returns the
// position where valid data ends and why it stopped (nil at a clean end).
// When verify is set each batch is fully validated (CRC and records).
func (s *segment) scan(fileSize int64, indexInterval int64, verify bool, fn func(h batch.Header, raw []byte)) (stop error, err error) {
	const chunk = 1 << 20
	var buf []byte
	pos := int64(0)
	for pos < fileSize {
		var hdr [batch.HeaderSize]byte
		if fileSize-pos < batch.HeaderSize {
			return fmt.Errorf("%d trailing bytes at %d: %w", fileSize-pos, pos, batch.ErrTruncated), nil
		}
		if err := readFull(s.f, hdr[:], pos); err != nil {
			return nil, fmt.Errorf("read %s at %d: %w", s.path, pos, err)
		}
		h, perr := batch.ParseHeader(hdr[:])
		if perr != nil {
			return fmt.Errorf("batch at %d: %w", pos, perr), nil
		}
		n := int64(h.Size())
		if pos+n > fileSize {
			return fmt.Errorf("batch at %d needs %d bytes, file has %d: %w", pos, n, fileSize-pos, batch.ErrTruncated), nil
		}
		if h.BaseOffset < s.end || (s.size > 0 && h.BaseOffset != s.end) || (s.size == 0 && h.BaseOffset != s.base) {
			return fmt.Errorf("batch at %d has base offset %d, want %d: %w", pos, h.BaseOffset, s.end, ErrCorrupt), nil
		}
		if verify || fn != nil {
			if cap(buf) < int(n) {
				buf = make([]byte, max(int(n), chunk))
			}
			raw := buf[:n]
			if err := readFull(s.f, raw, pos); err != nil {
				return nil, fmt.Errorf("read %s at %d: %w", s.path, pos, err)
			}
			if verify {
				if _, verr := batch.Validate(raw); verr != nil {
					return fmt.Errorf("batch at %d: %w", pos, verr), nil
				}
			}
			if fn != nil {
				fn(h, raw)
			}
		}
		s.track(h, pos, indexInterval)
		pos += n
	}
	return nil, nil
}

// Segment metadata file (.idx), written when a segment is sealed. Version 1,
// big-endian:
//
//	magic     [4]byte "SSM1"
//	size      int64   bytes of batches in the .log file
//	end       int64   next offset after the segment
//	maxTs     int64   largest batch max timestamp (-1 when empty)
//	maxTsPos  int64   position of the first batch with maxTs
//	indexes   []byte  index.Encode of the offset and time indexes
//	crc       uint32  CRC-32C of everything before it
const (
	segmentMetaMagic  = "SSM1"
	segmentMetaHeader = 4 + 4*8
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func (s *segment) encodeMeta() []byte {
	b := make([]byte, 0, segmentMetaHeader+64)
	b = append(b, segmentMetaMagic...)
	b = binary.BigEndian.AppendUint64(b, uint64(s.size))
	b = binary.BigEndian.AppendUint64(b, uint64(s.end))
	b = binary.BigEndian.AppendUint64(b, uint64(s.maxTs))
	b = binary.BigEndian.AppendUint64(b, uint64(s.maxTsPos))
	b = append(b, index.Encode(&s.offs, &s.times)...)
	return binary.BigEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
}

// loadMeta fills s from its .idx file if that exists, is intact and matches
// the .log file's size.
func (s *segment) loadMeta(fileSize int64) error {
	b, err := os.ReadFile(segmentPath(filepath.Dir(s.path), s.base, ".idx"))
	if err != nil {
		return err
	}
	if len(b) < segmentMetaHeader+4 || string(b[:4]) != segmentMetaMagic {
		return fmt.Errorf("%w: segment metadata header", ErrCorrupt)
	}
	body := b[:len(b)-4]
	if crc32.Checksum(body, castagnoli) != binary.BigEndian.Uint32(b[len(body):]) {
		return fmt.Errorf("%w: segment metadata checksum", ErrCorrupt)
	}
	size := int64(binary.BigEndian.Uint64(b[4:]))
	end := int64(binary.BigEndian.Uint64(b[12:]))
	if size != fileSize || end < s.base {
		return fmt.Errorf("%w: metadata says %d bytes up to offset %d, file has %d bytes", ErrCorrupt, size, end, fileSize)
	}
	offs, times, err := index.Decode(body[segmentMetaHeader:])
	if err != nil {
		return err
	}
	s.size, s.end = size, end
	s.maxTs = int64(binary.BigEndian.Uint64(b[20:]))
	s.maxTsPos = int64(binary.BigEndian.Uint64(b[28:]))
	s.offs, s.times = *offs, *times
	s.sealed = true
	return nil
}

// readFull reads exactly len(p) bytes at off, treating a short read as an
// error even at EOF.
func readFull(f File, p []byte, off int64) error {
	n, err := f.ReadAt(p, off)
	if n == len(p) {
		return nil
	}
	if err == nil || errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF
	}
	return err
}
