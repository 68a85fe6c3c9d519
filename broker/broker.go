package broker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/strata-io/strata/auth"
	"github.com/strata-io/strata/locallog"
	"github.com/strata-io/strata/objectstore/bucketurl"
	"github.com/strata-io/strata/tiering"
)

// drainTimeout bounds how long shutdown waits for in-flight requests before
// it closes the connections that still have some.
const drainTimeout = 5 * time.Second

// partitionsDir is the local log's directory under Config.DataDir.
const partitionsDir = "partitions"

// ErrClosed is returned by Run on a broker that was closed before it ran.
var ErrClosed = errors.New("broker: closed")

// Broker is a single Kafka-compatible broker serving topics from a local
// log. Open recovers it and binds its listeners, Run serves until its
// context ends, Close releases everything.
type Broker struct {
	cfg       Config
	logger    *slog.Logger
	log       *locallog.Log
	tiers     *tiers   // nil when tiering is off
	tierNames sync.Map // local partition name → its tiering prefix, for onSeal
	groups    *coordinator
	budget    localBudget
	listeners []*listener // as configured, in order; bound by Open
	dirLock   *os.File
	clusterID string
	nodeID    int32

	topicSet atomic.Pointer[topicSet] // replaced under adminMu

	adminMu     sync.Mutex // guards below; serializes metadata changes and their persistence
	pidNext     int64      // next producer ID to hand out
	pidBlockEnd int64      // producer IDs below this are persisted as possibly used

	// acls are the ACLs (acls_store.go); authz enforces them, and is nil
	// when authentication is off: then everything is allowed.
	acls  *auth.ACLs
	authz *auth.Authorizer
	aclMu sync.Mutex // serializes ACL changes and their persistence

	connMu   sync.Mutex // guards below
	conns    map[*conn]struct{}
	draining bool
	connWG   sync.WaitGroup // one per serving connection

	// afterResolve, when set (by tests, before any traffic), runs between
	// resolving an offset to the local tier and reading it.
	afterResolve func(p *partition, offset int64, r resolution)
	// onRequest, when set (by tests, before Run), sees every decoded
	// request before its handler.
	onRequest func(rc *request)

	// users are the SCRAM credentials clients authenticate against
	// (users_store.go); usersMu serializes their changes and persistence.
	users   *auth.Users
	usersMu sync.Mutex

	metrics *metrics
	started time.Time // when Open began; cost request counts start here

	ready          atomic.Bool
	waitingFetches atomic.Int64 // long-poll fetches now waiting for appends

	stateMu sync.Mutex // guards below
	running bool
	closed  bool

	quit      chan struct{} // closed by Close
	quitOnce  sync.Once
	runDone   chan struct{} // closed when Run returns
	closeOnce sync.Once
	closeErr  error
}

// PartitionStatus is one partition's bounds, as GET /v1/partitions reports
// them.
type PartitionStatus struct {
	Topic          string `json:"topic"`
	Partition      int32  `json:"partition"`
	LogStartOffset int64  `json:"logStartOffset"`
	HighWatermark  int64  `json:"highWatermark"`
	LogEndOffset   int64  `json:"logEndOffset"`
	*TierStatus           // nil, and left out of the JSON, with tiering off
}

// TierStatus is a tiered partition's part of PartitionStatus.
type TierStatus struct {
	RemoteEndOffset int64 `json:"remoteEndOffset"`
	LocalSegments   int   `json:"localSegments"`
	RemoteSegments  int   `json:"remoteSegments"` // segments in the manifest
	RemoteBytes     int64 `json:"remoteBytes"`    // their object bytes
	UploadLagBytes  int64 `json:"uploadLagBytes"` // sealed bytes not yet uploaded
	// UploadLagSeconds is how long the oldest record not yet in the bucket
	// has waited (since this process appended it; 0 when everything is
	// uploaded).
	UploadLagSeconds float64 `json:"uploadLagSeconds"`
}

// Open recovers the broker in cfg.DataDir — the topic metadata and every
// partition's local log, removing partition directories no topic owns — and
// binds the Kafka listeners. The broker answers requests once Run is called.
// The data directory is locked until Close.
func Open(ctx context.Context, cfg Config) (_ *Broker, err error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	b := &Broker{
		started: time.Now(),
		budget:  localBudget{limit: cfg.LocalBudgetBytes},
		cfg:     cfg,
		logger:  cfg.Logger,
		conns:   make(map[*conn]struct{}),
		quit:    make(chan struct{}),
		runDone: make(chan struct{}),
	}
	b.metrics = newMetrics(b)
	if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
		return nil, fmt.Errorf("open broker: %w", err)
	}
	if b.dirLock, err = lockDir(cfg.DataDir); err != nil {
		return nil, fmt.Errorf("open broker: %w", err)
	}
	defer func() {
		if err != nil {
			_ = b.closeResources()
		}
	}()

	meta, fresh, err := loadMeta(cfg.DataDir)
	if err != nil {
		return nil, fmt.Errorf("open broker: %w", err)
	}
	b.clusterID, b.nodeID = meta.ClusterID, meta.NodeID
	if fresh {
		if err := saveMeta(cfg.DataDir, meta); err != nil {
			return nil, fmt.Errorf("open broker: %w", err)
		}
	}

	if b.tiers, err = openTiers(ctx, &b.cfg, b.metrics.observeBucket); err != nil {
		return nil, fmt.Errorf("open broker: %w", err)
	}
	logCfg := locallog.Config{Fsync: cfg.Fsync, Logger: b.logger, OpenFile: cfg.openFile, RetentionInterval: cfg.RetentionCheckInterval,
		OnWALSync: func(d time.Duration) { b.metrics.walSync.Observe(d.Seconds()) }}
	if b.tiers != nil {
		logCfg.OnSeal = b.onSeal
	}
	b.log, err = locallog.Open(filepath.Join(cfg.DataDir, partitionsDir), logCfg)
	if err != nil {
		return nil, fmt.Errorf("open broker: %w", err)
	}
	if b.tiers != nil && !cfg.ReadOnly {
		// The bucket is the source of truth for the remote tier: a data
		// directory with no topics (fresh, or wiped) takes the cluster id
		// and the topics recorded there.
		rebuild := len(meta.Topics) == 0
		changed, err := b.syncClusterMeta(ctx, &meta)
		if err != nil {
			return nil, fmt.Errorf("open broker: %w", err)
		}
		if changed {
			b.clusterID = meta.ClusterID
			if err := saveMeta(cfg.DataDir, meta); err != nil {
				return nil, fmt.Errorf("open broker: %w", err)
			}
		}
		if rebuild {
			if err := b.rebuildFromBucket(ctx, &meta); err != nil {
				return nil, fmt.Errorf("open broker: %w", err)
			}
		}
	}
	b.pidNext, b.pidBlockEnd = meta.ProducerIDBlockEnd, meta.ProducerIDBlockEnd
	if err := b.openACLs(ctx); err != nil {
		return nil, fmt.Errorf("open broker: %w", err)
	}
	if b.users, err = b.loadUsers(ctx); err != nil {
		return nil, fmt.Errorf("open broker: %w", err)
	}
	if err := b.openGroups(ctx); err != nil {
		return nil, fmt.Errorf("open broker: groups: %w", err)
	}
	var topics map[string]*topic
	if cfg.ReadOnly {
		topics, err = b.openReadOnly(ctx)
	} else {
		topics, err = b.recoverTopics(ctx, meta)
	}
	if err != nil {
		return nil, fmt.Errorf("open broker: %w", err)
	}
	b.topicSet.Store(newTopicSet(topics))
	if b.tiers != nil && !cfg.ReadOnly {
		b.reconcileTopicMeta(ctx, topics)
	}
	if err := b.removeOrphans(topics); err != nil {
		return nil, fmt.Errorf("open broker: %w", err)
	}

	if b.listeners, err = listen(&b.cfg); err != nil {
		return nil, fmt.Errorf("open broker: %w", err)
	}
	for _, l := range b.listeners {
		b.logger.Info("kafka listener", "name", l.Name, "protocol", string(l.Protocol), "listen", l.ln.Addr().String(),
			"advertised", net.JoinHostPort(l.host, strconv.Itoa(int(l.port))))
	}
	b.logger.Info("broker open", "listen", b.Addr(), "cluster", b.clusterID, "topics", len(topics),
		"fsync", cfg.Fsync.String(), "bucket", bucketurl.Redact(cfg.Bucket))
	return b, nil
}

// setDefaults fills zero fields of cfg and checks the rest.
func (cfg *Config) setDefaults() error {
	if cfg.DataDir == "" {
		return errors.New("broker config: DataDir is required")
	}
	if err := cfg.validateListeners(); err != nil {
		return err
	}
	if cfg.DefaultPartitions == 0 {
		cfg.DefaultPartitions = 1
	}
	if cfg.SegmentBytes == 0 {
		cfg.SegmentBytes = DefaultSegmentBytes
	}
	if cfg.SegmentMs == 0 {
		cfg.SegmentMs = DefaultSegmentMs
	}
	if cfg.MaxRequestBytes == 0 {
		cfg.MaxRequestBytes = DefaultMaxRequestBytes
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.LocalRetentionMs == 0 {
		cfg.LocalRetentionMs = DefaultLocalRetentionMs
	}
	if cfg.LocalRetentionBytes == 0 {
		cfg.LocalRetentionBytes = DefaultLocalRetentionBytes
	}
	if cfg.RetentionCheckInterval == 0 {
		cfg.RetentionCheckInterval = DefaultRetentionCheckInterval
	}
	if cfg.LocalBudgetBytes == 0 {
		cfg.LocalBudgetBytes = DefaultLocalBudgetBytes
	}
	if cfg.SweepInterval <= 0 {
		cfg.SweepInterval = DefaultSweepInterval
	}
	if cfg.OrphanAge <= 0 {
		cfg.OrphanAge = DefaultOrphanAge
	}
	if cfg.OffsetsRetention <= 0 {
		cfg.OffsetsRetention = DefaultOffsetsRetention
	}
	if cfg.offsetsRetentionCheck <= 0 {
		cfg.offsetsRetentionCheck = DefaultOffsetsRetentionCheck
	}
	if cfg.GroupInitialRebalanceDelay == 0 {
		cfg.GroupInitialRebalanceDelay = DefaultGroupInitialRebalanceDelay
	}
	if cfg.GroupMinSessionTimeout <= 0 {
		cfg.GroupMinSessionTimeout = DefaultGroupMinSessionTimeout
	}
	if cfg.GroupMaxSessionTimeout <= 0 {
		cfg.GroupMaxSessionTimeout = DefaultGroupMaxSessionTimeout
	}
	switch {
	case cfg.DefaultPartitions < 1 || cfg.DefaultPartitions > maxPartitions:
		return fmt.Errorf("broker config: default partitions %d, want 1 to %d", cfg.DefaultPartitions, maxPartitions)
	case cfg.SegmentBytes < minSegmentBytes || cfg.SegmentBytes > math.MaxInt32:
		return fmt.Errorf("broker config: segment bytes %d, want %d to %d", cfg.SegmentBytes, minSegmentBytes, math.MaxInt32)
	case cfg.SegmentMs < time.Millisecond:
		return fmt.Errorf("broker config: segment.ms %v, want at least 1ms", cfg.SegmentMs)
	case cfg.MaxRequestBytes < minRequestHeader:
		return fmt.Errorf("broker config: max request bytes %d is too small", cfg.MaxRequestBytes)
	case cfg.GroupMinSessionTimeout > cfg.GroupMaxSessionTimeout:
		return fmt.Errorf("broker config: group session timeouts: minimum %v above maximum %v", cfg.GroupMinSessionTimeout, cfg.GroupMaxSessionTimeout)
	}
	for _, m := range cfg.SASLMechanisms {
		if !auth.SupportedMechanism(m) {
			return fmt.Errorf("broker config: SASL mechanism %q: want %s, %s or %s", m, auth.ScramSHA256, auth.ScramSHA512, auth.Plain)
		}
	}
	if cfg.ReauthMax < 0 {
		return fmt.Errorf("broker config: negative ReauthMax %v", cfg.ReauthMax)
	}
	if cfg.ReadOnly {
		if cfg.Bucket == "" {
			return errors.New("broker config: a read-only broker needs a bucket to serve")
		}
		cfg.AutoCreateTopics = false
	}
	if cfg.Prices == (Prices{}) {
		cfg.Prices = DefaultPrices
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = DefaultPollInterval
	}
	if cfg.IdleTimeout == 0 {
		cfg.IdleTimeout = DefaultIdleTimeout
	}
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = DefaultRequestTimeout
	}
	if cfg.bucketBackoff == (tiering.Backoff{}) {
		cfg.bucketBackoff = tiering.Backoff{Min: 50 * time.Millisecond, Max: 2 * time.Second}
	}
	return nil
}

// recoverTopics opens every partition of the topics in meta.
func (b *Broker) recoverTopics(ctx context.Context, meta metaState) (map[string]*topic, error) {
	topics := make(map[string]*topic, len(meta.Topics))
	for _, mt := range meta.Topics {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		id, err := parseTopicID(mt.ID)
		if err != nil {
			return nil, err
		}
		t := &topic{name: mt.Name, id: id, configs: topicConfigs(mt.Configs)}
		if t.configs == nil {
			t.configs = topicConfigs{}
		}
		if t.settings, err = t.configs.settings(&b.cfg); err != nil {
			return nil, fmt.Errorf("topic %s: %w", t.name, err)
		}
		if err := b.openPartitionsLocked(ctx, t, 0, int(mt.Partitions), true); err != nil {
			return nil, err
		}
		topics[t.name] = t
	}
	return topics, nil
}

// partitionDirPattern matches the directory names partitionDir makes.
var partitionDirPattern = regexp.MustCompile(`^[0-9a-f]{32}-[0-9]+$`)

// removeOrphans deletes partition directories that no topic owns: left by
// a crash between creating a topic's directories and saving the metadata,
// or between saving a deletion and removing the directories.
func (b *Broker) removeOrphans(topics map[string]*topic) error {
	names, err := b.log.Names()
	if err != nil {
		return err
	}
	known := make(map[string]bool)
	for _, t := range topics {
		for _, p := range t.partitions {
			known[partitionDir(t.id, p.index)] = true
		}
	}
	for _, name := range names {
		if known[name] || !partitionDirPattern.MatchString(name) {
			continue
		}
		b.logger.Warn("removing orphan partition directory", "dir", name)
		if err := b.log.RemovePartition(name); err != nil {
			return err
		}
	}
	return nil
}

// Addr returns the address the first Kafka listener is bound to.
func (b *Broker) Addr() string { return b.listeners[0].ln.Addr().String() }

// ListenerAddr returns the address the listener called name is bound to,
// or "" if there is none of that name.
func (b *Broker) ListenerAddr(name string) string {
	for _, l := range b.listeners {
		if l.Name == name {
			return l.ln.Addr().String()
		}
	}
	return ""
}

// Ready reports whether the broker is recovered and accepting connections.
func (b *Broker) Ready() bool { return b.ready.Load() }

// Partitions returns the bounds of every partition, ordered by topic name
// and partition; an empty slice, not nil, when there are none. The log
// start is the effective one: the remote tier's when it holds offsets.
func (b *Broker) Partitions() []PartitionStatus {
	set := b.topics()
	names := make([]string, 0, len(set.byName))
	for name := range set.byName {
		names = append(names, name)
	}
	slices.Sort(names)
	out := []PartitionStatus{}
	for _, name := range names {
		for _, p := range set.byName[name].partitions {
			o := p.log.Offsets()
			st := PartitionStatus{
				Topic:          name,
				Partition:      p.index,
				LogStartOffset: o.LogStart,
				HighWatermark:  o.HighWatermark,
				LogEndOffset:   o.LogEnd,
			}
			if p.tier != nil {
				m := p.tier.manifest()
				segs := p.log.Segments()
				st.LogStartOffset = logStart(o, m)
				st.TierStatus = &TierStatus{
					RemoteEndOffset:  m.RemoteEnd,
					LocalSegments:    len(segs),
					RemoteSegments:   liveEntries(m),
					RemoteBytes:      remoteBytes(m),
					UploadLagSeconds: uploadLagSeconds(segs, m.RemoteEnd, time.Now()),
				}
				if us, ok := b.tiers.uploader.Status(p.tier.prefix); ok {
					st.UploadLagBytes = us.UploadLagBytes
				}
			}
			out = append(out, st)
		}
	}
	return out
}

// Run serves Kafka clients and runs the local log's background work (and,
// with a bucket, the uploader and remote retention) until ctx ends or Close
// is called. Then it stops accepting, lets in-flight requests answer (long
// polls answer at once; after drainTimeout the rest are cut off), closes
// the connections, stops the uploader (an upload in flight is abandoned,
// deleting nothing), syncs and closes the local log, and returns after
// every goroutine it started has exited. A clean
// shutdown returns nil.
func (b *Broker) Run(ctx context.Context) error {
	b.stateMu.Lock()
	switch {
	case b.closed:
		b.stateMu.Unlock()
		return ErrClosed
	case b.running:
		b.stateMu.Unlock()
		return errors.New("broker: Run called twice")
	}
	b.running = true
	b.stateMu.Unlock()
	defer close(b.runDone)

	// The log outlives the connections: acks=all requests being drained
	// still wait for its flusher.
	logCtx, stopLog := context.WithCancel(context.WithoutCancel(ctx))
	defer stopLog()
	logDone := make(chan error, 1)
	go func() { logDone <- b.log.Run(logCtx) }()
	// The uploader, remote retention and the orphan sweep stop after the
	// connections are drained and before the log closes.
	tierCtx, stopTier := context.WithCancel(context.WithoutCancel(ctx))
	defer stopTier()
	tierDone := make(chan error, 3)
	tierRuns := 0
	switch {
	case b.cfg.ReadOnly:
		tierRuns = 1
		go func() { b.runFollow(tierCtx); tierDone <- nil }()
	case b.tiers != nil:
		tierRuns = 3
		go func() { tierDone <- b.tiers.uploader.Run(tierCtx) }()
		go func() { b.runRemoteRetention(tierCtx); tierDone <- nil }()
		go func() { b.runSweep(tierCtx); tierDone <- nil }()
	}
	// The groups' bucket writer and offset expiry stop with the uploader:
	// after the connections, so that the last commits reach the bucket.
	groupsDone := make(chan struct{}, 2)
	go func() { b.groups.store.run(tierCtx); groupsDone <- struct{}{} }()
	go func() { b.runOffsetExpiry(tierCtx); groupsDone <- struct{}{} }()
	stopAccept := make(chan struct{})
	acceptDone := make(chan error, len(b.listeners))
	accepting := len(b.listeners) // accept loops not yet returned
	for _, l := range b.listeners {
		go func() { acceptDone <- b.acceptLoop(context.WithoutCancel(ctx), l, stopAccept) }()
	}
	b.ready.Store(true)

	var errs []error
	select {
	case <-ctx.Done():
	case <-b.quit:
	case err := <-logDone:
		logDone = nil
		if err != nil {
			errs = append(errs, fmt.Errorf("local log: %w", err))
		}
	case err := <-acceptDone:
		accepting--
		if err != nil {
			errs = append(errs, fmt.Errorf("accept: %w", err))
		}
	}
	b.ready.Store(false)
	b.logger.Info("broker shutting down")

	close(stopAccept)
	for _, l := range b.listeners {
		_ = l.ln.Close()
	}
	for range accepting {
		if err := <-acceptDone; err != nil {
			errs = append(errs, fmt.Errorf("accept: %w", err))
		}
	}
	b.drainConns()
	stopTier()
	b.groups.close()
	<-groupsDone
	<-groupsDone
	if tierRuns > 0 {
		for range tierRuns {
			if err := <-tierDone; err != nil {
				errs = append(errs, fmt.Errorf("uploader: %w", err))
			}
		}
	}
	stopLog()
	if logDone != nil {
		if err := <-logDone; err != nil && !errors.Is(err, context.Canceled) {
			errs = append(errs, fmt.Errorf("local log: %w", err))
		}
	}
	if err := b.closeResources(); err != nil {
		errs = append(errs, err)
	}
	b.logger.Info("broker stopped")
	return errors.Join(errs...)
}

// acceptLoop accepts connections on l until it is closed. Connections get
// their contexts from base. A TLS handshake runs on the connection's own
// goroutine, so a slow or silent client does not hold up the next accept.
func (b *Broker) acceptLoop(base context.Context, l *listener, stop <-chan struct{}) error {
	var backoff time.Duration
	for {
		nc, err := l.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			// Out of file descriptors and the like: wait and retry, as
			// net/http does.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			b.logger.Error("accept", "listener", l.Name, "err", err, "retry_in", backoff)
			t := time.NewTimer(backoff)
			select {
			case <-stop:
				t.Stop()
				return nil
			case <-t.C:
			}
			continue
		}
		backoff = 0
		b.logger.Debug("connection accepted", "listener", l.Name, "remote", nc.RemoteAddr().String())
		c := newConn(base, b, l, nc)
		b.connMu.Lock()
		if b.draining {
			b.connMu.Unlock()
			_ = nc.Close()
			continue
		}
		b.conns[c] = struct{}{}
		b.connWG.Add(1)
		b.connMu.Unlock()
		go func() {
			defer b.connWG.Done()
			c.serve()
			b.connMu.Lock()
			delete(b.conns, c)
			b.connMu.Unlock()
		}()
	}
}

// drainConns asks every connection to answer what it has read and close,
// waits up to drainTimeout, then cuts off the rest and waits for them.
func (b *Broker) drainConns() {
	b.connMu.Lock()
	b.draining = true
	for c := range b.conns {
		c.drain()
	}
	b.connMu.Unlock()
	done := make(chan struct{})
	go func() {
		b.connWG.Wait()
		close(done)
	}()
	t := time.NewTimer(drainTimeout)
	defer t.Stop()
	select {
	case <-done:
		return
	case <-t.C:
	}
	b.connMu.Lock()
	b.logger.Warn("closing connections with unanswered requests", "conns", len(b.conns))
	for c := range b.conns {
		c.abort()
	}
	b.connMu.Unlock()
	<-done
}

// Close stops a running broker as cancelling Run's context does, waits for
// Run to return, and releases the listeners, the local log and the data
// directory lock. It is idempotent.
func (b *Broker) Close() error {
	b.stateMu.Lock()
	b.closed = true
	running := b.running
	b.stateMu.Unlock()
	b.quitOnce.Do(func() { close(b.quit) })
	if running {
		<-b.runDone
	}
	return b.closeResources()
}

// closeResources closes what Open acquired, once.
func (b *Broker) closeResources() error {
	b.closeOnce.Do(func() {
		var errs []error
		for _, l := range b.listeners {
			_ = l.ln.Close()
		}
		if b.groups != nil {
			b.groups.close()
		}
		if b.log != nil {
			if err := b.log.Close(); err != nil {
				errs = append(errs, fmt.Errorf("close local log: %w", err))
			}
		}
		if err := b.tiers.close(); err != nil {
			errs = append(errs, fmt.Errorf("close read cache: %w", err))
		}
		if b.dirLock != nil {
			if err := b.dirLock.Close(); err != nil {
				errs = append(errs, err)
			}
		}
		b.closeErr = errors.Join(errs...)
	})
	return b.closeErr
}

// validClientSoftware mirrors Kafka's check of ApiVersions v3+ client
// software names and versions: [a-zA-Z0-9](?:[a-zA-Z0-9\-.]*[a-zA-Z0-9])?
func validClientSoftware(s string) bool {
	alnum := func(c byte) bool {
		return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
	}
	if s == "" || !alnum(s[0]) || !alnum(s[len(s)-1]) {
		return false
	}
	return !strings.ContainsFunc(s, func(r rune) bool {
		return r > 127 || !alnum(byte(r)) && r != '-' && r != '.'
	})
}
