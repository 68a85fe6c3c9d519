package broker

import (
	"crypto/tls"
	"log/slog"
	"time"

	"github.com/strata-io/strata/locallog"
	"github.com/strata-io/strata/objectstore"
	"github.com/strata-io/strata/tiering"
)

// Config is everything a Broker needs; cmd/strata fills it from flags,
// environment and the config file.
type Config struct {
	Listen            string        // Kafka listener, e.g. "localhost:9092"; port 0 picks a free one
	AdvertisedAddr    string        // host:port given to clients in Metadata; empty means the listener's address
	DataDir           string        // root of the local tier and broker metadata
	AutoCreateTopics  bool          // Metadata and Produce create unknown topics
	DefaultPartitions int32         // partitions of auto-created topics and CreateTopics with -1
	SegmentBytes      int64         // default segment.bytes of new topics
	SegmentMs         time.Duration // default segment.ms of new topics
	Fsync             locallog.FsyncPolicy
	MaxRequestBytes   int32 // frames larger than this close the connection; default 100 MiB
	Logger            *slog.Logger
	// Listeners are the named Kafka listeners, each with its own security
	// protocol. Empty means one PLAINTEXT listener named "PLAINTEXT" on
	// Listen, advertised as AdvertisedAddr; Listen and AdvertisedAddr must
	// be empty when Listeners is set.
	Listeners []Listener
	// ReadOnly makes the broker serve the topics that another broker writes
	// to Bucket, following its manifests every PollInterval, and never
	// write to the bucket: produce and admin writes are refused. Its local
	// data directory holds only empty placeholders (and, later, consumer
	// group offsets).
	ReadOnly bool
	// PollInterval is how often a read-only broker reloads the bucket's
	// topics and manifests; default DefaultPollInterval.
	PollInterval time.Duration
	// Prices are the object-store prices of the cost estimate (GET
	// /v1/cost, strata_cost_* metrics); zero means DefaultPrices.
	Prices Prices
	// IdleTimeout closes a connection that has sent nothing and has nothing
	// in flight for this long, like Kafka's connections.max.idle.ms;
	// default DefaultIdleTimeout, negative never.
	IdleTimeout time.Duration
	// RequestTimeout bounds how long a request frame may take to arrive
	// once its first byte has: a client that announces a frame and then
	// trickles or stalls is disconnected instead of holding its memory;
	// default DefaultRequestTimeout.
	RequestTimeout time.Duration

	// SASLMechanisms turns authentication on: the SASL mechanisms clients
	// may use (auth.ScramSHA256, auth.ScramSHA512, auth.Plain). Empty means
	// off: every client is auth.Anonymous and everything is allowed. When
	// on, the default listener (or each listener whose protocol is
	// SASL_PLAINTEXT or SASL_SSL) requires a connection to authenticate
	// before any request other than ApiVersions and SaslHandshake, and
	// ACLs are enforced: what no ACL allows is denied.
	SASLMechanisms []string
	// SuperUsers are the principals ("User:admin", or a bare name "admin")
	// allowed everything when authentication is on.
	SuperUsers []string
	// ReauthMax is Kafka's connections.max.reauth.ms: an authenticated
	// session lasts at most this long, after which the client must
	// re-authenticate (KIP-368) or the connection closes at its next
	// request. Zero: sessions never expire.
	ReauthMax time.Duration

	// Bucket is the URL of the remote tier (see objectstore/bucketurl), e.g.
	// "file:///var/lib/strata/bucket" or "s3://bucket/prefix?region=…".
	// Empty turns tiering off: every partition lives only in the local log.
	Bucket string
	// LocalRetentionMs and LocalRetentionBytes are the defaults of the topic
	// configs local.retention.ms and local.retention.bytes: how much of a
	// tiered partition's uploaded data stays on local disk as well. Zero
	// means the default (DefaultLocalRetentionMs, DefaultLocalRetentionBytes);
	// negative keeps everything. A topic may set 0 to keep nothing that is
	// uploaded.
	LocalRetentionMs    int64
	LocalRetentionBytes int64
	// RetentionCheckInterval is how often retention runs, locally and on the
	// remote tier; default 10s.
	RetentionCheckInterval time.Duration
	// UploadFailpoint, if set, is called by the uploader between the steps
	// of each upload ("after-put", "after-verify", "after-commit"); crash
	// tests make it kill the process there.
	UploadFailpoint func(step string) error
	// LocalBudgetBytes bounds the bytes of tiered partitions held only on
	// local disk (not yet in the bucket: the active segments and the sealed
	// segments not uploaded). When the bucket is unavailable produce goes on
	// into local disk up to it, then fails with a retriable error until
	// uploads catch up. Zero means DefaultLocalBudgetBytes; negative means
	// unlimited. It should be well above max.message.bytes and a few
	// segments.
	LocalBudgetBytes int64
	// SweepInterval is how often the orphan objects of every tiered
	// partition are swept from the bucket; default 10m.
	SweepInterval time.Duration
	// OrphanAge is how old an unreferenced object must be before the sweep
	// deletes it; default 1h. It must exceed the clock skew between the
	// broker and the bucket.
	OrphanAge time.Duration
	// BucketTimeout bounds one try of a bucket request: a try with no
	// answer by then is retried as if the store were unavailable; zero
	// means objectstore.DefaultAttemptTimeout.
	BucketTimeout time.Duration

	// OffsetsRetention is offsets.retention.minutes: how long the committed
	// offsets of a group without members are kept (counted from when the
	// group became empty, or from the commit for a group that only stores
	// offsets). Zero means DefaultOffsetsRetention.
	OffsetsRetention time.Duration
	// GroupInitialRebalanceDelay is group.initial.rebalance.delay.ms: how
	// long the first join of an empty group waits for more members. Zero
	// means DefaultGroupInitialRebalanceDelay; negative means none.
	GroupInitialRebalanceDelay time.Duration
	// GroupMinSessionTimeout and GroupMaxSessionTimeout bound the session
	// timeouts members may ask for; zero means Kafka's defaults, 6s and 30m.
	GroupMinSessionTimeout time.Duration
	GroupMaxSessionTimeout time.Duration

	// principalOf, when set (by tests only), gives each request the
	// principal it returns for the request's client id, in place of the
	// connection's: it stands in for SASL, so that ACL tests can act as
	// several users. It turns authentication (and so ACL enforcement) on.
	principalOf func(clientID string) string
	// offsetsRetentionCheck, when set (by tests), is how often expired
	// offsets are looked for; default DefaultOffsetsRetentionCheck.
	offsetsRetentionCheck time.Duration
	// openFile, when set (by tests), opens the local log's segment files.
	openFile locallog.OpenFileFunc
	// wrapBucket, when set (by tests), wraps the remote tier's bucket
	// (under the retries), e.g. to inject faults.
	wrapBucket func(objectstore.Bucket) objectstore.Bucket
	// readerConfig, when set (by tests), tunes the remote tier's reader,
	// e.g. small blocks, so that fetch answers span many of them.
	readerConfig tiering.ReaderConfig
	// uploadBackoff, when set (by tests), spaces the uploader's retries.
	uploadBackoff tiering.Backoff
	// bucketBackoff spaces the retries of bucket reads and manifest
	// take-overs at start-up and in admin requests; set by setDefaults,
	// and by tests.
	bucketBackoff tiering.Backoff
}

// SecurityProtocol is a listener's security protocol, as Kafka's
// listener.security.protocol.map names it.
type SecurityProtocol string

// The security protocols of Kafka.
const (
	ProtocolPlaintext     SecurityProtocol = "PLAINTEXT"
	ProtocolSSL           SecurityProtocol = "SSL"
	ProtocolSASLPlaintext SecurityProtocol = "SASL_PLAINTEXT"
	ProtocolSASLSSL       SecurityProtocol = "SASL_SSL"
)

// TLS reports whether connections of protocol p are wrapped in TLS.
func (p SecurityProtocol) TLS() bool { return p == ProtocolSSL || p == ProtocolSASLSSL }

// SASL reports whether clients of protocol p authenticate with SASL.
func (p SecurityProtocol) SASL() bool { return p == ProtocolSASLPlaintext || p == ProtocolSASLSSL }

// Valid reports whether p is one of Kafka's four security protocols.
func (p SecurityProtocol) Valid() bool {
	switch p {
	case ProtocolPlaintext, ProtocolSSL, ProtocolSASLPlaintext, ProtocolSASLSSL:
		return true
	}
	return false
}

// Listener is one named Kafka listener.
type Listener struct {
	Name string // e.g. "PLAINTEXT", "INTERNAL"; unique among the listeners
	Addr string // host:port to bind; port 0 picks a free one
	// Advertised is the host:port given (in Metadata, FindCoordinator and
	// DescribeCluster) to clients that connect to this listener; empty
	// means the bound address, with the host name for a wildcard host.
	Advertised string
	// Protocol is the listener's security protocol; empty means the one
	// its Name spells, if it spells one.
	Protocol SecurityProtocol
	// TLS is the server configuration of a listener whose Protocol.TLS();
	// its ClientAuth decides whether clients present certificates. A
	// verified client certificate makes the connection's principal
	// "User:" and the certificate's subject.
	TLS *tls.Config
}

// DefaultListenerName names the one listener of a Config without
// Listeners.
const DefaultListenerName = "PLAINTEXT"

// authenticationOn reports whether clients authenticate, and so whether
// ACLs are enforced (deny by default, super-users bypass): SASL is enabled,
// or a listener requires client certificates. When it is off every request
// is allowed.
func (cfg *Config) authenticationOn() bool {
	if len(cfg.SASLMechanisms) > 0 || cfg.principalOf != nil {
		return true
	}
	for _, l := range cfg.Listeners {
		if l.Protocol.SASL() || l.Protocol.TLS() && l.TLS != nil && l.TLS.ClientAuth == tls.RequireAndVerifyClientCert {
			return true
		}
	}
	return false
}

// Defaults for the zero values of Config.
const (
	DefaultListen          = "localhost:9092"
	DefaultSegmentBytes    = 128 << 20
	DefaultSegmentMs       = 10 * time.Minute
	DefaultMaxRequestBytes = 100 << 20
	DefaultIdleTimeout     = 10 * time.Minute
	DefaultPollInterval    = 10 * time.Second
	DefaultRequestTimeout  = 30 * time.Second

	// DefaultLocalRetentionMs keeps the last three hours of a tiered
	// partition on local disk, so tailing and slightly lagging consumers are
	// served without a bucket read.
	DefaultLocalRetentionMs       = int64(3 * time.Hour / time.Millisecond)
	DefaultLocalRetentionBytes    = -1
	DefaultRetentionCheckInterval = 10 * time.Second
	DefaultLocalBudgetBytes       = 10 << 30
	DefaultSweepInterval          = 10 * time.Minute
	DefaultOrphanAge              = time.Hour
	// DefaultCacheBytes bounds the read cache of remote segment bytes.
	DefaultCacheBytes = 256 << 20
)

// Group coordinator defaults, Kafka's: offsets.retention.minutes (7 days),
// offsets.retention.check.interval.ms, group.initial.rebalance.delay.ms,
// group.min.session.timeout.ms and group.max.session.timeout.ms.
const (
	DefaultOffsetsRetention           = 7 * 24 * time.Hour
	DefaultOffsetsRetentionCheck      = 10 * time.Minute
	DefaultGroupInitialRebalanceDelay = 3 * time.Second
	DefaultGroupMinSessionTimeout     = 6 * time.Second
	DefaultGroupMaxSessionTimeout     = 30 * time.Minute
)
