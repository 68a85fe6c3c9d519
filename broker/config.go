package broker

import (
	"log/slog"
	"time"

	"github.com/strata-io/strata/locallog"
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

	// openFile, when set (by tests), opens the local log's segment files.
	openFile locallog.OpenFileFunc
}

// Defaults for the zero values of Config.
const (
	DefaultListen          = "localhost:9092"
	DefaultSegmentBytes    = 128 << 20
	DefaultSegmentMs       = 10 * time.Minute
	DefaultMaxRequestBytes = 100 << 20
)
