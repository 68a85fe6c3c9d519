package locallog

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Config configures a Log.
type Config struct {
	Fsync              FsyncPolicy
	IndexIntervalBytes int              // bytes between sparse index entries; default 4096
	Logger             *slog.Logger     // default slog.Default()
	Now                func() time.Time // clock for segment.ms and retention.ms; default time.Now
	OpenFile           OpenFileFunc     // opens segment files; default os.OpenFile
	// TickInterval is how often Run checks segment.ms and interval fsyncs;
	// default 100ms.
	TickInterval time.Duration
	// RetentionInterval is how often Run applies retention; default 10s.
	RetentionInterval time.Duration
	// OnSeal, if set, is called with a partition's name after one of its
	// segments is sealed (so the uploader can pick it up). It runs with the
	// partition locked and must not block or call back into the partition.
	OnSeal func(name string)
	// OnWALSync, if set, is told how long each fdatasync of the
	// write-ahead log took (FsyncAlways): the wait every acks=all produce
	// shares. It runs on the syncing goroutine and must not block.
	OnWALSync func(time.Duration)
}

// Log is the set of local partitions under one directory.
type Log struct {
	dir string
	cfg Config

	wal *wal // FsyncAlways only

	mu     sync.Mutex // guards below
	parts  map[string]*Partition
	replay map[string][]walRecord // WAL records of partitions not yet opened
	closed bool

	// pendMu guards pending, the partitions with appends waiting for a WAL
	// fsync. It is a leaf: taken under a Partition's mu, never before it.
	pendMu  sync.Mutex
	pending map[*Partition]struct{}

	wake chan struct{} // cap 1: the flusher has work
}

// Open prepares the log rooted at dir, creating it if needed. Partitions are
// opened one by one with OpenPartition.
func Open(dir string, cfg Config) (*Log, error) {
	if cfg.IndexIntervalBytes <= 0 {
		cfg.IndexIntervalBytes = 4096
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.OpenFile == nil {
		cfg.OpenFile = osOpenFile
	}
	if cfg.TickInterval <= 0 {
		cfg.TickInterval = 100 * time.Millisecond
	}
	if cfg.Fsync.Mode == FsyncInterval && cfg.Fsync.Interval < cfg.TickInterval {
		cfg.TickInterval = cfg.Fsync.Interval
	}
	if cfg.RetentionInterval <= 0 {
		cfg.RetentionInterval = 10 * time.Second
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("open local log: %w", err)
	}
	l := &Log{
		dir:     dir,
		cfg:     cfg,
		parts:   make(map[string]*Partition),
		pending: make(map[*Partition]struct{}),
		wake:    make(chan struct{}, 1),
	}
	if cfg.Fsync.Mode == FsyncAlways {
		w, recs, err := openWAL(dir, cfg.OpenFile)
		if err != nil {
			return nil, fmt.Errorf("open local log: write-ahead log: %w", err)
		}
		// Records of partitions whose directory is gone (removed while the
		// broker was down) would hold every WAL file forever.
		for name := range recs {
			if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
				cfg.Logger.Warn("dropping write-ahead log records of a partition with no directory", "partition", name, "batches", len(recs[name]))
				delete(recs, name)
			}
		}
		w.onSync = cfg.OnWALSync
		l.wal, l.replay = w, recs
	}
	return l, nil
}

// Names lists the partition directories present on disk, opened or not, so
// the owner can remove the ones it no longer knows.
func (l *Log) Names() ([]string, error) {
	ents, err := os.ReadDir(l.dir)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range ents {
		if e.IsDir() {
			out = append(out, e.Name())
		}
	}
	return out, nil
}

// OpenPartition opens the partition stored under name, creating it empty if
// it does not exist, and recovers it: the active segment is validated batch
// by batch and cut at the first torn or corrupt batch, missing or damaged
// indexes are rebuilt and producer state is restored. A damaged sealed
// segment is an error wrapping ErrCorrupt.
func (l *Log) OpenPartition(name string, cfg PartitionConfig) (*Partition, error) {
	if name == "" || strings.ContainsAny(name, `/\`) || name == "." || name == ".." {
		return nil, fmt.Errorf("open partition: bad name %q", name)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil, ErrClosed
	}
	if p, ok := l.parts[name]; ok {
		return p, nil
	}
	p := &Partition{log: l, name: name, dir: filepath.Join(l.dir, name), cfg: cfg, producers: make(producers)}
	if err := p.recover(); err != nil {
		return nil, fmt.Errorf("open partition %s: %w", name, err)
	}
	if err := p.replayWAL(l.replay[name]); err != nil {
		p.closeSegments()
		return nil, fmt.Errorf("open partition %s: %w", name, err)
	}
	delete(l.replay, name)
	l.parts[name] = p
	return p, nil
}

// CreatePartitionAt creates the partition name empty, with its log starting
// at start (log start = log end = start), and opens it: for a partition
// whose offsets below start live elsewhere (the remote tier of a rebuilt
// broker), so that new appends continue at start. It fails if the
// partition is open or its directory already holds segments.
func (l *Log) CreatePartitionAt(name string, cfg PartitionConfig, start int64) (*Partition, error) {
	if name == "" || strings.ContainsAny(name, `/\`) || name == "." || name == ".." {
		return nil, fmt.Errorf("create partition: bad name %q", name)
	}
	if start < 0 {
		return nil, fmt.Errorf("create partition %s: negative start offset %d", name, start)
	}
	l.mu.Lock()
	closed, open := l.closed, l.parts[name] != nil
	l.mu.Unlock()
	switch {
	case closed:
		return nil, ErrClosed
	case open:
		return nil, fmt.Errorf("create partition %s: already open", name)
	}
	dir := filepath.Join(l.dir, name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create partition %s: %w", name, err)
	}
	bases, err := listByExt(dir, ".log")
	if err != nil {
		return nil, fmt.Errorf("create partition %s: %w", name, err)
	}
	if len(bases) > 0 {
		return nil, fmt.Errorf("create partition %s: the directory already holds %d segments", name, len(bases))
	}
	if err := writeLogStart(dir, start); err != nil {
		return nil, fmt.Errorf("create partition %s: %w", name, err)
	}
	if err := syncDir(l.dir); err != nil {
		return nil, fmt.Errorf("create partition %s: %w", name, err)
	}
	return l.OpenPartition(name, cfg)
}

// RemovePartition closes the partition and deletes its files. Removing a
// partition that does not exist is not an error.
func (l *Log) RemovePartition(name string) error {
	l.mu.Lock()
	p := l.parts[name]
	delete(l.parts, name)
	delete(l.replay, name)
	l.mu.Unlock()
	l.pendMu.Lock()
	delete(l.pending, p)
	l.pendMu.Unlock()
	if p != nil {
		p.mu.Lock()
		p.failed = ErrClosed // no fsync or snapshot for data about to be deleted
		p.mu.Unlock()
		_ = p.close()
	}
	if name == "" || strings.ContainsAny(name, `/\`) || name == "." || name == ".." {
		return fmt.Errorf("remove partition: bad name %q", name)
	}
	if err := os.RemoveAll(filepath.Join(l.dir, name)); err != nil {
		return fmt.Errorf("remove partition %s: %w", name, err)
	}
	return syncDir(l.dir)
}

// requestSync wakes the flusher so that records appended without a waiting
// acks=all producer still become durable and visible promptly; the WAL
// commit it runs covers every partition with pending appends.
func (l *Log) requestSync() {
	if l.cfg.Fsync.Mode != FsyncAlways {
		return
	}
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

// Run does the log's background work until ctx is done: the flusher (with
// FsyncAlways), rolling segments by segment.ms, interval fsyncs and
// retention. It returns after its goroutines have exited.
func (l *Log) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	if l.cfg.Fsync.Mode == FsyncAlways {
		wg.Go(func() { l.flush(ctx) })
	}
	tick := time.NewTicker(l.cfg.TickInterval)
	defer tick.Stop()
	lastFsync, lastRetention := l.cfg.Now(), l.cfg.Now()
	for {
		select {
		case <-ctx.Done():
			wg.Wait()
			return nil
		case <-tick.C:
		}
		now := l.cfg.Now()
		doFsync := l.cfg.Fsync.Mode == FsyncInterval && now.Sub(lastFsync) >= l.cfg.Fsync.Interval
		doRetention := now.Sub(lastRetention) >= l.cfg.RetentionInterval
		if doFsync {
			lastFsync = now
		}
		if doRetention {
			lastRetention = now
		}
		if err := l.checkpoint(); err != nil {
			l.cfg.Logger.Error("write-ahead log checkpoint", "err", err)
		}
		for _, p := range l.partitions() {
			if err := p.rollIfAged(now); err != nil {
				l.cfg.Logger.Error("roll segment", "partition", p.name, "err", err)
			}
			if doFsync {
				if err := p.sync(); err != nil {
					l.cfg.Logger.Error("fsync", "partition", p.name, "err", err)
				}
			}
			if doRetention {
				if _, err := p.EnforceRetention(now); err != nil {
					l.cfg.Logger.Error("retention", "partition", p.name, "err", err)
				}
			}
		}
	}
}

func (l *Log) flush(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-l.wake:
		}
		if err := l.commitWAL(); err != nil {
			l.cfg.Logger.Error("fsync write-ahead log", "err", err)
		}
	}
}

// commitWAL fsyncs the write-ahead log (one fsync for every partition) and
// moves the high watermark of each partition whose appends it covered.
func (l *Log) commitWAL() error { return l.commitWALTo(-1) }

// commitWALTo is commitWAL for a caller that needs the WAL durable up to
// target only (see wal.syncTo).
func (l *Log) commitWALTo(target int64) error {
	synced, err := l.wal.syncTo(target)
	if err != nil {
		return err
	}
	l.pendMu.Lock()
	ps := make([]*Partition, 0, len(l.pending))
	for p := range l.pending {
		ps = append(ps, p)
	}
	l.pendMu.Unlock()
	for _, p := range ps {
		p.advanceTo(synced)
	}
	return nil
}

// setPending adds p to or removes it from the partitions with appends
// waiting for a WAL fsync. The caller holds p.mu, so the set always agrees
// with p.pending.
func (l *Log) setPending(p *Partition, waiting bool) {
	l.pendMu.Lock()
	if waiting {
		l.pending[p] = struct{}{}
	} else {
		delete(l.pending, p)
	}
	l.pendMu.Unlock()
}

// checkpoint deletes the WAL files written before the current one, after
// fsyncing every partition's active segment so that their records are
// durable without them. It does nothing while a partition that has records
// in them is still to be opened.
func (l *Log) checkpoint() error {
	if l.wal == nil {
		return nil
	}
	seqs := l.wal.checkpointable()
	if len(seqs) == 0 {
		return nil
	}
	l.mu.Lock()
	waiting := len(l.replay)
	l.mu.Unlock()
	if waiting > 0 {
		return nil
	}
	for _, p := range l.partitions() {
		if err := p.sync(); err != nil {
			return fmt.Errorf("checkpoint %s: %w", p.name, err)
		}
	}
	return l.wal.remove(seqs)
}

func (l *Log) partitions() []*Partition {
	l.mu.Lock()
	defer l.mu.Unlock()
	ps := make([]*Partition, 0, len(l.parts))
	for _, p := range l.parts {
		ps = append(ps, p)
	}
	return ps
}

// Close syncs and closes every partition. It is idempotent; later calls on
// partitions return ErrClosed.
func (l *Log) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	ps := make([]*Partition, 0, len(l.parts))
	for _, p := range l.parts {
		ps = append(ps, p)
	}
	l.mu.Unlock()
	var errs []error
	for _, p := range ps {
		if err := p.close(); err != nil {
			errs = append(errs, fmt.Errorf("close %s: %w", p.name, err))
		}
	}
	if l.wal != nil {
		if err := l.wal.close(); err != nil {
			errs = append(errs, fmt.Errorf("close write-ahead log: %w", err))
		}
	}
	return errors.Join(errs...)
}

// listByExt returns the offsets named by files "%020d<ext>" in dir, sorted.
func listByExt(dir, ext string) ([]int64, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var offs []int64
	for _, e := range ents {
		name := e.Name()
		if !strings.HasSuffix(name, ext) || e.IsDir() {
			continue
		}
		off, err := strconv.ParseInt(strings.TrimSuffix(name, ext), 10, 64)
		if err != nil || off < 0 {
			continue
		}
		offs = append(offs, off)
	}
	sort.Slice(offs, func(i, j int) bool { return offs[i] < offs[j] })
	return offs, nil
}
