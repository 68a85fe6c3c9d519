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

	"github.com/strata-io/strata/batch"
	"github.com/strata-io/strata/internal/failpoint"
)

// The write-ahead log makes acks=all durable with one fsync for every
// partition (FsyncAlways only). Each append goes to its partition's segment
// file and, behind it, to the broker-wide WAL; a group commit fsyncs only
// the WAL, and the high watermarks of all partitions move with it. Segment
// files are fsynced when sealed and at checkpoints, after which the WAL files
// before the checkpoint are deleted. Recovery replays the WAL records beyond
// each partition's recovered end, so a segment that lost bytes the page cache
// had not written back gets them again from the WAL.
//
// On ext4 one fsync costs the same for 1 KiB as for 1 MiB, but each file
// fsynced costs one journal commit: eight partitions' fsyncs took 2 ms where
// one took 0.3 ms (BENCHMARKS.md). The WAL trades a second write of every
// byte for a single fsync per commit.
//
// WAL file (wal-%020d.log, numbered from 0 upwards), a run of records, version
// 1, big-endian:
//
//	length   uint32  bytes after this field and the crc
//	crc      uint32  CRC-32C of the bytes after it
//	nameLen  uint16  then the partition name
//	name     []byte
//	batch    []byte  the record batch as appended, base offset assigned
//
// A torn or corrupt record ends the last file (it is cut there); in an
// earlier file it is corruption.
const (
	walPrefix       = "wal-"
	walSuffix       = ".log"
	walHeaderLen    = 8
	walMaxFileBytes = 64 << 20
)

type wal struct {
	dir  string
	open OpenFileFunc

	syncMu sync.Mutex // serializes fsyncs; taken before mu

	mu     sync.Mutex // guards below
	f      File
	seq    int64   // number of the current file
	size   int64   // bytes in the current file
	end    int64   // bytes appended across all files: a record's position is its end
	synced int64   // end of what is durable
	closed []int64 // numbers of earlier files, all fsynced, oldest first
	failed error   // sticky: the WAL may hold a torn record
	buf    []byte
}

// walRecord is a record read back at recovery.
type walRecord struct {
	base, last int64
	batch      []byte
}

func walPath(dir string, seq int64) string {
	return filepath.Join(dir, fmt.Sprintf("%s%020d%s", walPrefix, seq, walSuffix))
}

// openWAL reads every WAL file in dir, returns the records by partition name
// and starts a new file after them for appends.
func openWAL(dir string, open OpenFileFunc) (*wal, map[string][]walRecord, error) {
	seqs, err := listWAL(dir)
	if err != nil {
		return nil, nil, err
	}
	records := make(map[string][]walRecord)
	for i, seq := range seqs {
		if err := readWALFile(walPath(dir, seq), i == len(seqs)-1, records); err != nil {
			return nil, nil, err
		}
	}
	w := &wal{dir: dir, open: open}
	if len(seqs) > 0 {
		w.seq = seqs[len(seqs)-1] + 1
		w.closed = seqs
	}
	if err := w.startFile(); err != nil {
		return nil, nil, err
	}
	return w, records, nil
}

func listWAL(dir string) ([]int64, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var seqs []int64
	for _, e := range ents {
		name := e.Name()
		if e.IsDir() || !strings.HasPrefix(name, walPrefix) || !strings.HasSuffix(name, walSuffix) {
			continue
		}
		seq, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimPrefix(name, walPrefix), walSuffix), 10, 64)
		if err == nil && seq >= 0 {
			seqs = append(seqs, seq)
		}
	}
	slices.Sort(seqs)
	return seqs, nil
}

// readWALFile adds the records of one file to records. In the last file a
// torn or corrupt record ends it and the file is cut there.
func readWALFile(path string, last bool, records map[string][]walRecord) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	pos := 0
	for pos < len(b) {
		name, batchBytes, n, perr := parseWALRecord(b[pos:])
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

func parseWALRecord(b []byte) (name string, batchBytes []byte, n int, err error) {
	if len(b) < walHeaderLen+2 {
		return "", nil, 0, errors.New("torn record header")
	}
	length := int(binary.BigEndian.Uint32(b))
	if length < 2 || walHeaderLen+length > len(b) {
		return "", nil, 0, fmt.Errorf("record of %d bytes, %d left", length, len(b)-walHeaderLen)
	}
	body := b[walHeaderLen : walHeaderLen+length]
	if crc32.Checksum(body, castagnoli) != binary.BigEndian.Uint32(b[4:]) {
		return "", nil, 0, errors.New("record checksum")
	}
	nameLen := int(binary.BigEndian.Uint16(body))
	if 2+nameLen > len(body) {
		return "", nil, 0, errors.New("record name length")
	}
	return string(body[2 : 2+nameLen]), body[2+nameLen:], walHeaderLen + length, nil
}

func (w *wal) startFile() error {
	f, err := w.open(walPath(w.dir, w.seq), os.O_CREATE|os.O_RDWR|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("create WAL file: %w", err)
	}
	if err := syncDir(w.dir); err != nil {
		_ = f.Close()
		return fmt.Errorf("create WAL file: %w", err)
	}
	w.f, w.size = f, 0
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
	if w.size >= walMaxFileBytes {
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
	crc := crc32.Update(crc32.Checksum(w.buf[walHeaderLen:], castagnoli), castagnoli, batchBytes)
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

// rotateLocked fsyncs the current file and starts the next one.
func (w *wal) rotateLocked() error {
	if err := w.f.Sync(); err != nil {
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
	err := f.Sync()
	if err == nil {
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

// remove deletes checkpointed WAL files.
func (w *wal) remove(seqs []int64) error {
	for _, seq := range seqs {
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
