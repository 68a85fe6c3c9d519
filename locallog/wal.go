package locallog

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/strata-io/strata/batch"
	"github.com/strata-io/strata/internal/failpoint"
)

// The write-ahead log makes acks=all durable with one fsync for every
// partition (FsyncAlways only). Each append goes to its partition's segment
// file and, behind it, to the broker-wide WAL; a group commit fsyncs only
// the WAL, and the high watermarks of all partitions move with it. Segment
// files are fsynced when sealed and at checkpoints, after which the WAL files
// before the checkpoint are recycled or deleted. Recovery replays the WAL records beyond
// each partition's recovered end, so a segment that lost bytes the page cache
// had not written back gets them again from the WAL.
//
// On ext4 one fsync costs the same for 1 KiB as for 1 MiB, but each file
// fsynced costs one journal commit: eight partitions' fsyncs took 2 ms where
// one took 0.3 ms (BENCHMARKS.md). The WAL trades a second write of every
// byte for a single fsync per commit.
//
// WAL files are named wal-%020d.log, numbered from 0 upwards. Format
// version 2, all integers big-endian:
//
//	header   16 bytes: magic "SWAL", version uint16 (2), flags uint16 (0),
//	         number uint64 (the file's own number)
//	records  each:
//	  length   uint32  bytes after this field and the crc
//	  crc      uint32  CRC-32C of the file's number (8 bytes) and then of
//	                   the bytes after this field
//	  nameLen  uint16  then the partition name
//	  name     []byte
//	  batch    []byte  the record batch as appended, base offset assigned
//	end      length 0 and the CRC-32C of the file's number alone: written
//	         when the file is closed for the next one
//
// Files are recycled: once a checkpoint no longer needs a file it becomes a
// spare (spare-wal-%020d.log), and the next file is a spare renamed and
// overwritten from its start, not a new file. Overwriting blocks a file
// already has changes no metadata, so the fdatasync of a group commit
// writes the records alone; a growing file's fdatasync also commits its new
// size to the file system's journal, which waits for the other files'
// writeback that the journal orders before it: the segment files a
// checkpoint is fsyncing (BENCHMARKS.md). A recycled file still holds its
// previous life's records after the new ones; their CRCs were made with
// another number, so reading stops at the first of them.
//
// A file ends at its end record, or at its last byte. In the last file a
// record that does not check out (torn by a crash, or left from the file's
// previous life) also ends it, and the file is cut there; in an earlier
// file it is corruption. A last file whose header is another file's (a
// spare renamed just before a crash) holds nothing and is cut to nothing.
//
// Version 1 files (no header; the CRC covers only the bytes after it; no
// end record; never recycled before version 2) are still read.
const (
	walPrefix        = "wal-"
	walSuffix        = ".log"
	walSparePrefix   = "spare-wal-"
	walHeaderLen     = 8 // of a record
	walFileHeaderLen = 16
	walMagic         = "SWAL"
	walVersion       = 2
	walMaxFileBytes  = 64 << 20
	// walMaxSpares is how many checkpointed files are kept for reuse; the
	// rest are deleted.
	walMaxSpares = 2
)

type wal struct {
	dir  string
	open OpenFileFunc
	// maxFileBytes is walMaxFileBytes; tests make it small.
	maxFileBytes int64
	onSync       func(time.Duration) // Config.OnWALSync

	syncMu sync.Mutex // serializes fsyncs; taken before mu

	mu     sync.Mutex // guards below
	f      File
	seq    int64   // number of the current file
	size   int64   // bytes in the current file
	end    int64   // bytes appended across all files: a record's position is its end
	synced int64   // end of what is durable
	closed []int64 // numbers of earlier files, all fsynced, oldest first
	spares []int64 // numbers in the names of spare files, for reuse
	failed error   // sticky: the WAL may hold a torn record
	buf    []byte
	seqCRC uint32 // CRC-32C of the current file's number
}

// walRecord is a record read back at recovery.
type walRecord struct {
	base, last int64
	batch      []byte
}

func walPath(dir string, seq int64) string {
	return filepath.Join(dir, fmt.Sprintf("%s%020d%s", walPrefix, seq, walSuffix))
}

func sparePath(dir string, n int64) string {
	return filepath.Join(dir, fmt.Sprintf("%s%020d%s", walSparePrefix, n, walSuffix))
}

// numberCRC is the CRC-32C of a file number, where every record CRC of the
// file starts.
func numberCRC(seq int64) uint32 {
	return crc32.Checksum(binary.BigEndian.AppendUint64(nil, uint64(seq)), castagnoli)
}

// openWAL reads every WAL file in dir, returns the records by partition name
// and starts a new file after them for appends.
func openWAL(dir string, open OpenFileFunc) (*wal, map[string][]walRecord, error) {
	seqs, err := listWAL(dir, walPrefix)
	if err != nil {
		return nil, nil, err
	}
	spares, err := listWAL(dir, walSparePrefix)
	if err != nil {
		return nil, nil, err
	}
	records := make(map[string][]walRecord)
	for i, seq := range seqs {
		if err := readWALFile(walPath(dir, seq), seq, i == len(seqs)-1, records); err != nil {
			return nil, nil, err
		}
	}
	w := &wal{dir: dir, open: open, maxFileBytes: walMaxFileBytes, spares: spares}
	if len(seqs) > 0 {
		w.seq = seqs[len(seqs)-1] + 1
		w.closed = seqs
	}
	if err := w.startFile(); err != nil {
		return nil, nil, err
	}
	return w, records, nil
}

// listWAL returns the numbers of the files in dir named prefix, a number
// and walSuffix, in order.
func listWAL(dir, prefix string) ([]int64, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var seqs []int64
	for _, e := range ents {
		name := e.Name()
		if e.IsDir() || !strings.HasPrefix(name, prefix) || !strings.HasSuffix(name, walSuffix) {
			continue
		}
		seq, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimPrefix(name, prefix), walSuffix), 10, 64)
		if err == nil && seq >= 0 {
			seqs = append(seqs, seq)
		}
	}
	slices.Sort(seqs)
	return seqs, nil
}

// readWALFile adds the records of file number seq to records. In the last
// file a record that does not check out ends it and the file is cut there.
func readWALFile(path string, seq int64, last bool, records map[string][]walRecord) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	pos, version := 0, 1
	if len(b) >= len(walMagic) && string(b[:len(walMagic)]) == walMagic {
		// (A version 1 file cannot start so: as a length, "SWAL" is 1.4 GB.)
		if len(b) < walFileHeaderLen || binary.BigEndian.Uint16(b[4:]) != walVersion || int64(binary.BigEndian.Uint64(b[8:])) != seq {
			if !last {
				return fmt.Errorf("%w: %s: header of version %d or of another file", ErrCorrupt, path, binary.BigEndian.Uint16(b[4:min(6, len(b))]))
			}
			// A spare renamed to be this file just before a crash, its
			// header not yet rewritten: none of its records are this
			// file's.
			return os.Truncate(path, 0)
		}
		pos, version = walFileHeaderLen, walVersion
	}
	seqCRC := numberCRC(seq)
	for pos < len(b) {
		name, batchBytes, n, perr := parseWALRecord(b[pos:], version, seqCRC)
		if perr == errWALEnd {
			break
		}
		if perr != nil {
			if !last {
				return fmt.Errorf("%w: %s at %d: %w", ErrCorrupt, path, pos, perr)
			}
			if err := os.Truncate(path, int64(pos)); err != nil {
				return err
			}
			break
		}
		h, herr := batch.ParseHeader(batchBytes)
		if herr != nil {
			return fmt.Errorf("%w: %s at %d: %w", ErrCorrupt, path, pos, herr)
		}
		records[name] = append(records[name], walRecord{base: h.BaseOffset, last: h.LastOffset(), batch: batchBytes})
		pos += n
	}
	return nil
}

// errWALEnd is parseWALRecord's answer to a file's end record.
var errWALEnd = errors.New("end of WAL file")

// parseWALRecord parses the record at the start of b, of a file of the
// given format version whose number's CRC is seqCRC.
func parseWALRecord(b []byte, version int, seqCRC uint32) (name string, batchBytes []byte, n int, err error) {
	if len(b) < walHeaderLen {
		return "", nil, 0, errors.New("torn record header")
	}
	length := int(binary.BigEndian.Uint32(b))
	crc := binary.BigEndian.Uint32(b[4:])
	if version >= 2 && length == 0 {
		if crc != seqCRC {
			return "", nil, 0, errors.New("end record checksum")
		}
		return "", nil, 0, errWALEnd
	}
	if length < 2 || walHeaderLen+length > len(b) {
		return "", nil, 0, fmt.Errorf("record of %d bytes, %d left", length, len(b)-walHeaderLen)
	}
	body := b[walHeaderLen : walHeaderLen+length]
	want := crc32.Checksum(body, castagnoli)
	if version >= 2 {
		want = crc32.Update(seqCRC, castagnoli, body)
	}
	if crc != want {
		return "", nil, 0, errors.New("record checksum")
	}
	nameLen := int(binary.BigEndian.Uint16(body))
	if 2+nameLen > len(body) {
		return "", nil, 0, errors.New("record name length")
	}
	return string(body[2 : 2+nameLen]), body[2+nameLen:], walHeaderLen + length, nil
}

// startFile opens file number w.seq for appends: a spare renamed, or a new
// file, with its header written. The caller holds mu (or is openWAL).
func (w *wal) startFile() error {
	path := walPath(w.dir, w.seq)
	var f File
	for f == nil && len(w.spares) > 0 {
		spare := sparePath(w.dir, w.spares[0])
		w.spares = w.spares[1:]
		if err := os.Rename(spare, path); err != nil {
			_ = os.Remove(spare) // not reusable; a new file instead
			continue
		}
		var err error
		if f, err = w.open(path, os.O_RDWR, 0o644); err != nil {
			return fmt.Errorf("open recycled WAL file: %w", err)
		}
	}
	if f == nil {
		var err error
		if f, err = w.open(path, os.O_CREATE|os.O_RDWR|os.O_TRUNC, 0o644); err != nil {
			return fmt.Errorf("create WAL file: %w", err)
		}
	}
	hdr := make([]byte, 0, walFileHeaderLen)
	hdr = append(hdr, walMagic...)
	hdr = binary.BigEndian.AppendUint16(hdr, walVersion)
	hdr = binary.BigEndian.AppendUint16(hdr, 0)
	hdr = binary.BigEndian.AppendUint64(hdr, uint64(w.seq))
	if _, err := f.WriteAt(hdr, 0); err != nil {
		_ = f.Close()
		return fmt.Errorf("start WAL file: %w", err)
	}
	if err := syncDir(w.dir); err != nil {
		_ = f.Close()
		return fmt.Errorf("start WAL file: %w", err)
	}
	w.f, w.size, w.seqCRC = f, walFileHeaderLen, numberCRC(w.seq)
	return nil
}

// append writes one record and returns its end position. A failed write
// (a full disk) is cut back off the file, and the WAL goes on taking
// appends; if the cut fails too, the WAL is failed for good: it may hold a
// torn record, and anything written after it would be unreadable at
// recovery.
func (w *wal) append(name string, batchBytes []byte) (int64, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.failed != nil {
		return 0, w.failed
	}
	if w.size >= w.maxFileBytes {
		if err := w.rotateLocked(); err != nil {
			w.failed = fmt.Errorf("WAL rotation: %w", err)
			return 0, w.failed
		}
	}
	length := 2 + len(name) + len(batchBytes)
	w.buf = w.buf[:0]
	w.buf = binary.BigEndian.AppendUint32(w.buf, uint32(length))
	w.buf = binary.BigEndian.AppendUint32(w.buf, 0)
	w.buf = binary.BigEndian.AppendUint16(w.buf, uint16(len(name)))
	w.buf = append(w.buf, name...)
	crc := crc32.Update(crc32.Update(w.seqCRC, castagnoli, w.buf[walHeaderLen:]), castagnoli, batchBytes)
	binary.BigEndian.PutUint32(w.buf[4:], crc)
	_, err := w.f.WriteAt(w.buf, w.size)
	if err == nil {
		_, err = w.f.WriteAt(batchBytes, w.size+int64(len(w.buf)))
	}
	if err != nil {
		if terr := w.f.Truncate(w.size); terr != nil {
			w.failed = fmt.Errorf("WAL write: %w (and cutting it back: %v)", err, terr)
			return 0, w.failed
		}
		return 0, fmt.Errorf("WAL write: %w", err)
	}
	n := int64(walHeaderLen + length)
	w.size += n
	w.end += n
	return w.end, nil
}

// rotateLocked ends the current file with its end record, fsyncs it and
// starts the next one.
func (w *wal) rotateLocked() error {
	end := binary.BigEndian.AppendUint32(make([]byte, 4, walHeaderLen), w.seqCRC)
	if _, err := w.f.WriteAt(end, w.size); err != nil {
		return err
	}
	if err := datasync(w.f); err != nil {
		return err
	}
	w.synced = w.end
	if err := w.f.Close(); err != nil {
		return err
	}
	w.closed = append(w.closed, w.seq)
	w.seq++
	return w.startFile()
}

// sync makes every record appended so far durable with one fsync and
// returns the durable end. Concurrent callers share fsyncs.
func (w *wal) sync() (int64, error) { return w.syncTo(-1) }

// syncTo makes the records up to target durable (every record appended so
// far when target is negative) and returns the durable end. A caller that
// waited for another's fsync and finds its records covered does not fsync
// again, even if more was appended meanwhile: under load each waiter would
// otherwise add an fsync of its own.
func (w *wal) syncTo(target int64) (int64, error) {
	w.syncMu.Lock()
	defer w.syncMu.Unlock()
	w.mu.Lock()
	if w.failed != nil {
		w.mu.Unlock()
		return 0, w.failed
	}
	if w.synced >= w.end || (target >= 0 && w.synced >= target) {
		s := w.synced
		w.mu.Unlock()
		return s, nil
	}
	f, target := w.f, w.end
	w.mu.Unlock()
	// An append may rotate f away meanwhile: rotation fsyncs f before it
	// closes it, which covers target, so an error from a rotated file
	// (already closed) loses nothing and is ignored below.
	start := time.Now()
	err := datasync(f)
	if err == nil {
		if w.onSync != nil {
			w.onSync(time.Since(start))
		}
		failpoint.Hit("wal-synced")
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if err != nil && w.f == f {
		w.failed = fmt.Errorf("WAL fsync: %w", err)
		return 0, w.failed
	}
	w.synced = max(w.synced, target)
	return w.synced, nil
}

// checkpointable returns the WAL files that hold only records written before
// the current file began; once every partition's segments are fsynced they
// can be deleted.
func (w *wal) checkpointable() []int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]int64(nil), w.closed...)
}

// remove retires checkpointed WAL files: up to walMaxSpares are kept as
// spares for startFile to reuse, the rest are deleted.
func (w *wal) remove(seqs []int64) error {
	for _, seq := range seqs {
		w.mu.Lock()
		keep := len(w.spares) < walMaxSpares
		w.mu.Unlock()
		if keep {
			// A crash before the directory is synced may bring the old
			// name back: a file every record of which is checkpointed,
			// which recovery reads and skips.
			if err := os.Rename(walPath(w.dir, seq), sparePath(w.dir, seq)); err == nil {
				w.mu.Lock()
				w.spares = append(w.spares, seq)
				w.mu.Unlock()
				continue
			}
		}
		if err := os.Remove(walPath(w.dir, seq)); err != nil && !os.IsNotExist(err) {
			return err
		}
	}
	w.mu.Lock()
	w.closed = w.closed[len(seqs):]
	w.mu.Unlock()
	return syncDir(w.dir)
}

func (w *wal) close() error {
	w.syncMu.Lock()
	defer w.syncMu.Unlock()
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f == nil {
		return nil
	}
	err := w.f.Close()
	w.f = nil
	if w.failed == nil {
		w.failed = ErrClosed
	}
	return err
}
