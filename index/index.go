package index

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"sort"
)

// ErrCorrupt reports an encoded index that does not decode: a bad magic,
// version, length or checksum.
var ErrCorrupt = errors.New("index: corrupt")

// OffsetEntry says that the batch holding relative offset RelOffset starts at
// byte Pos of the segment.
type OffsetEntry struct {
	RelOffset uint32
	Pos       uint32
}

// TimeEntry says that every batch before byte Pos has a max timestamp of at
// most Timestamp; Timestamp never decreases along an index.
type TimeEntry struct {
	Timestamp int64
	Pos       uint32
}

// Offsets is a sparse offset index. The zero value is empty and usable.
type Offsets struct {
	entries []OffsetEntry
}

// Append adds an entry. Entries must grow in both columns; an entry that does
// not is ignored, so a caller's off-by-one can only make the index sparser.
func (x *Offsets) Append(rel, pos uint32) {
	if n := len(x.entries); n > 0 {
		last := x.entries[n-1]
		if rel <= last.RelOffset || pos <= last.Pos {
			return
		}
	}
	x.entries = append(x.entries, OffsetEntry{RelOffset: rel, Pos: pos})
}

// Lookup returns the position of the last entry whose relative offset is at
// most rel, or 0 (the segment's first batch) when there is none. The batch
// holding rel starts at or after the returned position.
func (x *Offsets) Lookup(rel uint32) uint32 {
	i := sort.Search(len(x.entries), func(i int) bool { return x.entries[i].RelOffset > rel })
	if i == 0 {
		return 0
	}
	return x.entries[i-1].Pos
}

// Len is the number of entries.
func (x *Offsets) Len() int { return len(x.entries) }

// Truncate keeps the first n entries (all of them if there are fewer).
func (x *Offsets) Truncate(n int) { x.entries = x.entries[:min(n, len(x.entries))] }

// Entries returns the entries; the caller must not modify them.
func (x *Offsets) Entries() []OffsetEntry { return x.entries }

// Times is a sparse time index. The zero value is empty and usable.
type Times struct {
	entries []TimeEntry
}

// Append adds an entry; as with Offsets, an entry whose position does not
// grow or whose timestamp falls is ignored.
func (x *Times) Append(ts int64, pos uint32) {
	if n := len(x.entries); n > 0 {
		last := x.entries[n-1]
		if pos <= last.Pos || ts < last.Timestamp {
			return
		}
	}
	x.entries = append(x.entries, TimeEntry{Timestamp: ts, Pos: pos})
}

// Lookup returns the position from which a scan for the first record with a
// timestamp of at least ts must start: the position of the last entry whose
// timestamp is below ts (every batch before it is older than ts), or 0.
func (x *Times) Lookup(ts int64) uint32 {
	i := sort.Search(len(x.entries), func(i int) bool { return x.entries[i].Timestamp >= ts })
	if i == 0 {
		return 0
	}
	return x.entries[i-1].Pos
}

// Len is the number of entries.
func (x *Times) Len() int { return len(x.entries) }

// Truncate keeps the first n entries (all of them if there are fewer).
func (x *Times) Truncate(n int) { x.entries = x.entries[:min(n, len(x.entries))] }

// Entries returns the entries; the caller must not modify them.
func (x *Times) Entries() []TimeEntry { return x.entries }

// Encoding, version 1, all integers big-endian:
//
//	magic    [4]byte  "SIX1"
//	nOff     uint32   number of offset entries
//	nTime    uint32   number of time entries
//	offsets  nOff  × (relOffset uint32, pos uint32)
//	times    nTime × (timestamp int64, pos uint32)
//	crc      uint32   CRC-32C of every byte before it
const (
	encodingMagic  = "SIX1"
	offsetEntryLen = 8
	timeEntryLen   = 12
	headerLen      = 12
	trailerLen     = 4
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Encode returns the binary form of the pair of indexes.
func Encode(offs *Offsets, times *Times) []byte {
	n := headerLen + offs.Len()*offsetEntryLen + times.Len()*timeEntryLen + trailerLen
	b := make([]byte, 0, n)
	b = append(b, encodingMagic...)
	b = binary.BigEndian.AppendUint32(b, uint32(offs.Len()))
	b = binary.BigEndian.AppendUint32(b, uint32(times.Len()))
	for _, e := range offs.entries {
		b = binary.BigEndian.AppendUint32(b, e.RelOffset)
		b = binary.BigEndian.AppendUint32(b, e.Pos)
	}
	for _, e := range times.entries {
		b = binary.BigEndian.AppendUint64(b, uint64(e.Timestamp))
		b = binary.BigEndian.AppendUint32(b, e.Pos)
	}
	return binary.BigEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
}

// Decode parses what Encode wrote. It returns ErrCorrupt, naming the problem,
// for any input Encode could not have produced.
func Decode(b []byte) (*Offsets, *Times, error) {
	if len(b) < headerLen+trailerLen {
		return nil, nil, fmt.Errorf("%w: %d bytes is shorter than an empty index", ErrCorrupt, len(b))
	}
	if string(b[:4]) != encodingMagic {
		return nil, nil, fmt.Errorf("%w: bad magic %q", ErrCorrupt, b[:4])
	}
	nOff := uint64(binary.BigEndian.Uint32(b[4:]))
	nTime := uint64(binary.BigEndian.Uint32(b[8:]))
	want := headerLen + nOff*offsetEntryLen + nTime*timeEntryLen + trailerLen
	if want != uint64(len(b)) {
		return nil, nil, fmt.Errorf("%w: %d offset and %d time entries need %d bytes, have %d", ErrCorrupt, nOff, nTime, want, len(b))
	}
	body := b[:len(b)-trailerLen]
	if got, sum := crc32.Checksum(body, castagnoli), binary.BigEndian.Uint32(b[len(body):]); got != sum {
		return nil, nil, fmt.Errorf("%w: checksum %08x, computed %08x", ErrCorrupt, sum, got)
	}
	offs := &Offsets{entries: make([]OffsetEntry, 0, nOff)}
	p := body[headerLen:]
	for range nOff {
		offs.Append(binary.BigEndian.Uint32(p), binary.BigEndian.Uint32(p[4:]))
		p = p[offsetEntryLen:]
	}
	times := &Times{entries: make([]TimeEntry, 0, nTime)}
	for range nTime {
		times.Append(int64(binary.BigEndian.Uint64(p)), binary.BigEndian.Uint32(p[8:]))
		p = p[timeEntryLen:]
	}
	if offs.Len() != int(nOff) || times.Len() != int(nTime) {
		return nil, nil, fmt.Errorf("%w: entries are not increasing", ErrCorrupt)
	}
	return offs, times, nil
}
