package tiering

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"math"

	"github.com/strata-io/strata/objectstore"
)

// The manifest head, object P+"manifest", format version 1. All integers
// are big-endian:
//
//	magic           [4]byte  "STMH"
//	version         uint16   ManifestVersion
//	flags           uint16   0; version 1 defines no flags
//	writerEpoch     int64    fencing epoch of the only writer that may commit
//	writerID        [16]byte random identity of that writer
//	generation      int64    1 for the first commit, +1 for every later one
//	logStartOffset  int64
//	remoteEnd       int64
//	nChunks         uint32
//	nTail           uint32
//	chunkRefs       nChunks × chunkRef, in offset order
//	tail            nTail × entry, in offset order, after the chunks
//	crc             uint32   CRC-32C (Castagnoli) of every byte before it
//
//	chunkRef:  keyLen uint16, key [keyLen]byte, firstBase int64,
//	           endOffset int64, count uint32, minTimestamp int64,
//	           maxTimestamp int64, bytes int64
//	entry:     keyLen uint16, key [keyLen]byte, baseOffset int64,
//	           endOffset int64, sizeBytes int64, minTimestamp int64,
//	           maxTimestamp int64, epoch int64, records int64
//
// A chunk, object P+ChunkRef.Key, immutable once written, same version:
//
//	magic    [4]byte "STMC"
//	version  uint16  ManifestVersion
//	flags    uint16  0
//	count    uint32
//	entries  count × entry, in offset order
//	crc      uint32  CRC-32C of every byte before it
//
// Keys are relative to the partition prefix P. Decoders reject any head or
// chunk that breaks the invariants listed at Manifest, so a decoded head can
// be searched without further checks.
const (
	// ManifestVersion is the format version of the manifest head and its
	// chunks.
	ManifestVersion = 1

	headMagic     = "STMH"
	chunkMagic    = "STMC"
	headFixedLen  = 4 + 2 + 2 + 8 + 16 + 8 + 8 + 8 + 4 + 4
	chunkFixedLen = 4 + 2 + 2 + 4
	crcLen        = 4
	chunkRefLen   = 2 + 8 + 8 + 4 + 8 + 8 + 8 // without the key bytes
	entryLen      = 2 + 7*8                   // without the key bytes
)

func appendKey(b []byte, key string) []byte {
	b = binary.BigEndian.AppendUint16(b, uint16(len(key)))
	return append(b, key...)
}

func appendEntry(b []byte, e Entry) []byte {
	be := binary.BigEndian
	b = appendKey(b, e.Key)
	b = be.AppendUint64(b, uint64(e.BaseOffset))
	b = be.AppendUint64(b, uint64(e.EndOffset))
	b = be.AppendUint64(b, uint64(e.SizeBytes))
	b = be.AppendUint64(b, uint64(e.MinTimestamp))
	b = be.AppendUint64(b, uint64(e.MaxTimestamp))
	b = be.AppendUint64(b, uint64(e.Epoch))
	return be.AppendUint64(b, uint64(e.Records))
}

func appendChunkRef(b []byte, c ChunkRef) []byte {
	be := binary.BigEndian
	b = appendKey(b, c.Key)
	b = be.AppendUint64(b, uint64(c.FirstBase))
	b = be.AppendUint64(b, uint64(c.EndOffset))
	b = be.AppendUint32(b, uint32(c.Count))
	b = be.AppendUint64(b, uint64(c.MinTimestamp))
	b = be.AppendUint64(b, uint64(c.MaxTimestamp))
	return be.AppendUint64(b, uint64(c.Bytes))
}

// encodeHead returns the head object of m, which must satisfy validateHead.
func encodeHead(m *Manifest) []byte {
	n := headFixedLen + crcLen
	for _, c := range m.Chunks {
		n += chunkRefLen + len(c.Key)
	}
	for _, e := range m.Tail {
		n += entryLen + len(e.Key)
	}
	be := binary.BigEndian
	b := make([]byte, 0, n)
	b = append(b, headMagic...)
	b = be.AppendUint16(b, ManifestVersion)
	b = be.AppendUint16(b, 0)
	b = be.AppendUint64(b, uint64(m.WriterEpoch))
	b = append(b, m.WriterID[:]...)
	b = be.AppendUint64(b, uint64(m.Generation))
	b = be.AppendUint64(b, uint64(m.LogStartOffset))
	b = be.AppendUint64(b, uint64(m.RemoteEnd))
	b = be.AppendUint32(b, uint32(len(m.Chunks)))
	b = be.AppendUint32(b, uint32(len(m.Tail)))
	for _, c := range m.Chunks {
		b = appendChunkRef(b, c)
	}
	for _, e := range m.Tail {
		b = appendEntry(b, e)
	}
	return be.AppendUint32(b, crc32.Checksum(b, castagnoli))
}

// encodeChunk returns the chunk object holding entries.
func encodeChunk(entries []Entry) []byte {
	n := chunkFixedLen + crcLen
	for _, e := range entries {
		n += entryLen + len(e.Key)
	}
	be := binary.BigEndian
	b := make([]byte, 0, n)
	b = append(b, chunkMagic...)
	b = be.AppendUint16(b, ManifestVersion)
	b = be.AppendUint16(b, 0)
	b = be.AppendUint32(b, uint32(len(entries)))
	for _, e := range entries {
		b = appendEntry(b, e)
	}
	return be.AppendUint32(b, crc32.Checksum(b, castagnoli))
}

// reader reads big-endian fields from a body whose CRC has been checked,
// remembering the first failure (a length running past the end).
type reader struct {
	b   []byte
	pos int
	err error
}

func (r *reader) need(n int, what string) bool {
	if r.err != nil {
		return false
	}
	if n > len(r.b)-r.pos {
		r.err = fmt.Errorf("%s at byte %d needs %d bytes, %d left", what, r.pos, n, len(r.b)-r.pos)
		return false
	}
	return true
}

func (r *reader) u16(what string) uint16 {
	if !r.need(2, what) {
		return 0
	}
	v := binary.BigEndian.Uint16(r.b[r.pos:])
	r.pos += 2
	return v
}

func (r *reader) u32(what string) uint32 {
	if !r.need(4, what) {
		return 0
	}
	v := binary.BigEndian.Uint32(r.b[r.pos:])
	r.pos += 4
	return v
}

func (r *reader) i64(what string) int64 {
	if !r.need(8, what) {
		return 0
	}
	v := int64(binary.BigEndian.Uint64(r.b[r.pos:]))
	r.pos += 8
	return v
}

func (r *reader) bytes(n int, what string) []byte {
	if !r.need(n, what) {
		return nil
	}
	v := r.b[r.pos : r.pos+n]
	r.pos += n
	return v
}

func (r *reader) key(what string) string {
	n := int(r.u16(what + " key length"))
	return string(r.bytes(n, what+" key"))
}

func (r *reader) entry() Entry {
	return Entry{
		Key:          r.key("entry"),
		BaseOffset:   r.i64("entry baseOffset"),
		EndOffset:    r.i64("entry endOffset"),
		SizeBytes:    r.i64("entry sizeBytes"),
		MinTimestamp: r.i64("entry minTimestamp"),
		MaxTimestamp: r.i64("entry maxTimestamp"),
		Epoch:        Epoch(r.i64("entry epoch")),
		Records:      r.i64("entry records"),
	}
}

func (r *reader) chunkRef() ChunkRef {
	return ChunkRef{
		Key:          r.key("chunk ref"),
		FirstBase:    r.i64("chunk ref firstBase"),
		EndOffset:    r.i64("chunk ref endOffset"),
		Count:        int(r.u32("chunk ref count")),
		MinTimestamp: r.i64("chunk ref minTimestamp"),
		MaxTimestamp: r.i64("chunk ref maxTimestamp"),
		Bytes:        r.i64("chunk ref bytes"),
	}
}

// checkFrame checks an object's magic, version, flags and trailing CRC and
// returns a reader positioned after the flags, over the bytes before the CRC.
func checkFrame(b []byte, magic string, fixedLen int, what string) (*reader, error) {
	if len(b) < fixedLen+crcLen {
		return nil, fmt.Errorf("%s of %d bytes is shorter than its %d-byte header", what, len(b), fixedLen+crcLen)
	}
	if string(b[:4]) != magic {
		return nil, fmt.Errorf("%s magic %q, want %q", what, b[:4], magic)
	}
	body := b[:len(b)-crcLen]
	if c, want := crc32.Checksum(body, castagnoli), binary.BigEndian.Uint32(b[len(body):]); c != want {
		return nil, fmt.Errorf("%s crc %08x, computed %08x", what, want, c)
	}
	r := &reader{b: body, pos: 4}
	if v := r.u16("version"); v != ManifestVersion {
		return nil, fmt.Errorf("%s version %d, want %d", what, v, ManifestVersion)
	}
	if f := r.u16("flags"); f != 0 {
		return nil, fmt.Errorf("%s has unknown flags %#04x", what, f)
	}
	return r, nil
}

// decodeHead parses a head object. Every error wraps ErrCorrupt.
func decodeHead(b []byte) (*Manifest, error) {
	m, err := decodeHeadFields(b)
	if err != nil {
		return nil, fmt.Errorf("%w: manifest head: %v", ErrCorrupt, err)
	}
	return m, nil
}

func decodeHeadFields(b []byte) (*Manifest, error) {
	r, err := checkFrame(b, headMagic, headFixedLen, "head")
	if err != nil {
		return nil, err
	}
	m := &Manifest{WriterEpoch: Epoch(r.i64("writerEpoch"))}
	copy(m.WriterID[:], r.bytes(len(m.WriterID), "writerID"))
	m.Generation = r.i64("generation")
	m.LogStartOffset = r.i64("logStartOffset")
	m.RemoteEnd = r.i64("remoteEnd")
	nChunks := uint64(r.u32("nChunks"))
	nTail := uint64(r.u32("nTail"))
	if r.err != nil {
		return nil, r.err
	}
	// Bound the allocations by the bytes that could hold the records.
	if left := uint64(len(r.b) - r.pos); nChunks*chunkRefLen+nTail*entryLen > left {
		return nil, fmt.Errorf("%d chunk refs and %d tail entries cannot fit in %d bytes", nChunks, nTail, left)
	}
	if nChunks > 0 {
		m.Chunks = make([]ChunkRef, 0, nChunks)
	}
	for range nChunks {
		m.Chunks = append(m.Chunks, r.chunkRef())
	}
	if nTail > 0 {
		m.Tail = make([]Entry, 0, nTail)
	}
	for range nTail {
		m.Tail = append(m.Tail, r.entry())
	}
	if r.err != nil {
		return nil, r.err
	}
	if r.pos != len(r.b) {
		return nil, fmt.Errorf("%d bytes after the last entry", len(r.b)-r.pos)
	}
	if err := m.validateHead(); err != nil {
		return nil, err
	}
	return m, nil
}

// decodeChunk parses the chunk object that ref names and checks it against
// ref. Every error wraps ErrCorrupt.
func decodeChunk(b []byte, ref ChunkRef) ([]Entry, error) {
	entries, err := decodeChunkFields(b, ref)
	if err != nil {
		return nil, fmt.Errorf("%w: manifest chunk %s: %v", ErrCorrupt, ref.Key, err)
	}
	return entries, nil
}

func decodeChunkFields(b []byte, ref ChunkRef) ([]Entry, error) {
	r, err := checkFrame(b, chunkMagic, chunkFixedLen, "chunk")
	if err != nil {
		return nil, err
	}
	n := uint64(r.u32("count"))
	if left := uint64(len(r.b) - r.pos); n*entryLen > left {
		return nil, fmt.Errorf("%d entries cannot fit in %d bytes", n, left)
	}
	if n != uint64(ref.Count) {
		return nil, fmt.Errorf("holds %d entries, its ref says %d", n, ref.Count)
	}
	entries := make([]Entry, 0, n)
	for range n {
		entries = append(entries, r.entry())
	}
	if r.err != nil {
		return nil, r.err
	}
	if r.pos != len(r.b) {
		return nil, fmt.Errorf("%d bytes after the last entry", len(r.b)-r.pos)
	}
	if err := checkRun(entries); err != nil {
		return nil, err
	}
	if got := summarizeChunk(ref.Key, entries); got != ref {
		return nil, fmt.Errorf("entries sum up to %+v, its ref says %+v", got, ref)
	}
	return entries, nil
}

// summarizeChunk returns the ref of a chunk under key holding entries, a
// non-empty run that checkRun accepts.
func summarizeChunk(key string, entries []Entry) ChunkRef {
	c := ChunkRef{
		Key:          key,
		FirstBase:    entries[0].BaseOffset,
		EndOffset:    entries[len(entries)-1].EndOffset,
		Count:        len(entries),
		MinTimestamp: entries[0].MinTimestamp,
		MaxTimestamp: entries[0].MaxTimestamp,
	}
	for _, e := range entries {
		c.MinTimestamp = min(c.MinTimestamp, e.MinTimestamp)
		c.MaxTimestamp = max(c.MaxTimestamp, e.MaxTimestamp)
		c.Bytes += e.SizeBytes
	}
	return c
}

// validate reports an entry no writer could have committed.
func (e Entry) validate() error {
	switch {
	case objectstore.ValidateKey(e.Key) != nil:
		return fmt.Errorf("entry [%d, %d): %w", e.BaseOffset, e.EndOffset, objectstore.ValidateKey(e.Key))
	case e.BaseOffset < 0 || e.EndOffset <= e.BaseOffset:
		return fmt.Errorf("entry %s has offsets [%d, %d)", e.Key, e.BaseOffset, e.EndOffset)
	case e.SizeBytes < MinFooterSize:
		return fmt.Errorf("entry %s has size %d, below a footer's", e.Key, e.SizeBytes)
	case e.Records < 0 || e.Records > e.EndOffset-e.BaseOffset:
		return fmt.Errorf("entry %s has %d records for offsets [%d, %d)", e.Key, e.Records, e.BaseOffset, e.EndOffset)
	case e.MinTimestamp > e.MaxTimestamp:
		return fmt.Errorf("entry %s has min timestamp %d above max %d", e.Key, e.MinTimestamp, e.MaxTimestamp)
	case e.Epoch < 1:
		return fmt.Errorf("entry %s has epoch %d", e.Key, e.Epoch)
	}
	return nil
}

// checkRun checks that entries are valid, contiguous and non-overlapping,
// and that their epochs do not fall.
func checkRun(entries []Entry) error {
	for i, e := range entries {
		if err := e.validate(); err != nil {
			return err
		}
		if i == 0 {
			continue
		}
		prev := entries[i-1]
		if e.BaseOffset != prev.EndOffset {
			return fmt.Errorf("entry %s starts at %d, the one before ends at %d", e.Key, e.BaseOffset, prev.EndOffset)
		}
		if e.Epoch < prev.Epoch {
			return fmt.Errorf("entry %s has epoch %d after epoch %d", e.Key, e.Epoch, prev.Epoch)
		}
	}
	return nil
}

// validateHead checks the invariants of a head that can be checked without
// reading its chunks; see Manifest.
func (m *Manifest) validateHead() error {
	switch {
	case m.WriterEpoch < 1 || m.WriterEpoch == math.MaxInt64:
		return fmt.Errorf("writer epoch %d", m.WriterEpoch)
	case m.Generation < 1:
		return fmt.Errorf("generation %d", m.Generation)
	case m.LogStartOffset < 0 || m.RemoteEnd < m.LogStartOffset:
		return fmt.Errorf("logStartOffset %d, remoteEnd %d", m.LogStartOffset, m.RemoteEnd)
	case len(m.Chunks) > math.MaxUint32 || len(m.Tail) > math.MaxUint32:
		return fmt.Errorf("%d chunks and %d tail entries", len(m.Chunks), len(m.Tail))
	}
	for i, c := range m.Chunks {
		switch {
		case objectstore.ValidateKey(c.Key) != nil:
			return fmt.Errorf("chunk ref %d: %w", i, objectstore.ValidateKey(c.Key))
		case c.FirstBase < 0 || c.EndOffset <= c.FirstBase:
			return fmt.Errorf("chunk %s has offsets [%d, %d)", c.Key, c.FirstBase, c.EndOffset)
		case c.Count < 1 || c.Count > math.MaxUint32 || int64(c.Count) > c.EndOffset-c.FirstBase:
			return fmt.Errorf("chunk %s has %d entries for offsets [%d, %d)", c.Key, c.Count, c.FirstBase, c.EndOffset)
		case c.MinTimestamp > c.MaxTimestamp:
			return fmt.Errorf("chunk %s has min timestamp %d above max %d", c.Key, c.MinTimestamp, c.MaxTimestamp)
		case c.Bytes < int64(c.Count)*MinFooterSize:
			return fmt.Errorf("chunk %s has %d bytes for %d entries", c.Key, c.Bytes, c.Count)
		case i > 0 && c.FirstBase != m.Chunks[i-1].EndOffset:
			return fmt.Errorf("chunk %s starts at %d, the one before ends at %d", c.Key, c.FirstBase, m.Chunks[i-1].EndOffset)
		}
	}
	if err := checkRun(m.Tail); err != nil {
		return err
	}
	for _, e := range m.Tail {
		if e.Epoch > m.WriterEpoch {
			return fmt.Errorf("entry %s has epoch %d above the writer's %d", e.Key, e.Epoch, m.WriterEpoch)
		}
	}
	var first, last int64 // offsets of the first and after the last entry
	var firstEnd int64    // end of the first chunk or tail entry
	switch {
	case len(m.Chunks) > 0:
		first, firstEnd = m.Chunks[0].FirstBase, m.Chunks[0].EndOffset
		last = m.Chunks[len(m.Chunks)-1].EndOffset
		if len(m.Tail) > 0 {
			if m.Tail[0].BaseOffset != last {
				return fmt.Errorf("tail starts at %d, the last chunk ends at %d", m.Tail[0].BaseOffset, last)
			}
			last = m.Tail[len(m.Tail)-1].EndOffset
		}
	case len(m.Tail) > 0:
		first, firstEnd = m.Tail[0].BaseOffset, m.Tail[0].EndOffset
		last = m.Tail[len(m.Tail)-1].EndOffset
	default:
		if m.LogStartOffset != m.RemoteEnd {
			return fmt.Errorf("no entries, yet logStartOffset %d is below remoteEnd %d", m.LogStartOffset, m.RemoteEnd)
		}
		return nil
	}
	switch {
	case last != m.RemoteEnd:
		return fmt.Errorf("entries end at %d, remoteEnd is %d", last, m.RemoteEnd)
	case first > m.LogStartOffset:
		return fmt.Errorf("entries start at %d, above logStartOffset %d", first, m.LogStartOffset)
	case firstEnd <= m.LogStartOffset:
		return fmt.Errorf("the first chunk or tail entry ends at %d, at or below logStartOffset %d", firstEnd, m.LogStartOffset)
	}
	return nil
}
