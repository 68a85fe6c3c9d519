package broker

import (
	"errors"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-io/strata/objectstore"
)

// Prometheus metrics, all named strata_*, one family prefix per activity so
// a dashboard finds them: strata_requests_* and strata_request_* (every
// Kafka API), strata_sasl_*, strata_wal_*, strata_produce_*, strata_fetch_*, strata_partition_*,
// strata_upload_*, strata_cache_*, strata_objectstore_* and strata_cost_*.
// Counters on the request path are updated as requests go; everything the
// broker already tracks (partition offsets, upload state, the cache's and
// the uploader's counters, stored bytes) is read when scraped.

// metrics is a broker's instrumentation and its registry.
type metrics struct {
	reg *prometheus.Registry

	requests map[int16]prometheus.Counter // by API key, made once
	latency  map[int16]prometheus.Observer

	produceBytes, produceRecords, fetchBytes prometheus.Counter
	fetchErrors                              *prometheus.CounterVec // by cause

	saslAuths *prometheus.CounterVec // by mechanism and outcome
	walSync   prometheus.Histogram

	objRequests *prometheus.CounterVec   // by op and outcome
	objLatency  *prometheus.HistogramVec // by op

	cost costRequests
}

// latencyBuckets cover 100 µs to about 26 s.
var latencyBuckets = prometheus.ExponentialBuckets(0.0001, 2, 19)

func newMetrics(b *Broker) *metrics {
	m := &metrics{
		reg:      prometheus.NewRegistry(),
		requests: make(map[int16]prometheus.Counter),
		latency:  make(map[int16]prometheus.Observer),
		cost:     costRequests{n: make(map[costKey]int64)},
	}
	requests := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "strata_requests_total", Help: "Kafka requests decoded, by API.",
	}, []string{"api"})
	latency := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "strata_request_duration_seconds", Help: "Time from reading a Kafka request to writing its answer, by API.",
		Buckets: latencyBuckets,
	}, []string{"api"})
	for _, a := range apis {
		name := kmsg.NameForKey(a.key)
		m.requests[a.key] = requests.WithLabelValues(name)
		m.latency[a.key] = latency.WithLabelValues(name)
	}
	counter := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Name: name, Help: help})
	}
	m.produceBytes = counter("strata_produce_bytes_total", "Record batch bytes appended by Produce.")
	m.produceRecords = counter("strata_produce_records_total", "Records appended by Produce.")
	m.fetchBytes = counter("strata_fetch_bytes_total", "Record batch bytes answered to Fetch, from either tier.")
	m.fetchErrors = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "strata_fetch_errors_total", Help: "Fetch partitions answered with an error, by Kafka error.",
	}, []string{"cause"})
	m.saslAuths = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "strata_sasl_authentications_total", Help: "SASL authentications and re-authentications, by mechanism and outcome (success, failure).",
	}, []string{"mechanism", "outcome"})
	m.walSync = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "strata_wal_fsync_seconds", Help: "Time of each fdatasync of the write-ahead log (--fsync always), which acks=all produce requests wait for.",
		Buckets: latencyBuckets,
	})
	m.objRequests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "strata_objectstore_requests_total", Help: "Object-store calls (each retry counts), by operation and outcome.",
	}, []string{"op", "outcome"})
	m.objLatency = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "strata_objectstore_request_duration_seconds", Help: "Object-store call latency, by operation.",
		Buckets: latencyBuckets,
	}, []string{"op"})
	m.reg.MustRegister(requests, latency, m.produceBytes, m.produceRecords, m.fetchBytes, m.fetchErrors, m.saslAuths, m.walSync,
		m.objRequests, m.objLatency, brokerCollector{b},
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// request counts one decoded request of API key.
func (m *metrics) request(key int16) {
	if c := m.requests[key]; c != nil {
		c.Inc()
	}
}

// answered records how long a request of API key took, from reading it.
func (m *metrics) answered(key int16, since time.Time) {
	if o := m.latency[key]; o != nil {
		o.Observe(time.Since(since).Seconds())
	}
}

// saslAuthentication counts one finished SASL exchange.
func (m *metrics) saslAuthentication(mechanism string, ok bool) {
	outcome := "failure"
	if ok {
		outcome = "success"
	}
	m.saslAuths.WithLabelValues(mechanism, outcome).Inc()
}

// fetchFailed counts a fetch partition answered with err.
func (m *metrics) fetchFailed(err error) {
	cause := "UNKNOWN"
	var ke *kerr.Error
	if errors.As(kerr.ErrorForCode(errorCode(err)), &ke) {
		cause = ke.Message
	}
	m.fetchErrors.WithLabelValues(cause).Inc()
}

// observeBucket is the broker's objectstore.Observer: request counts and
// latency, and the request side of the cost estimate.
func (m *metrics) observeBucket(op objectstore.Op, key string, err error, d time.Duration) {
	m.objRequests.WithLabelValues(string(op), outcome(err)).Inc()
	m.objLatency.WithLabelValues(string(op)).Observe(d.Seconds())
	m.cost.add(op, key)
}

// outcome names how an object-store call ended.
func outcome(err error) string {
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, objectstore.ErrNotExist):
		return "not_found"
	case errors.Is(err, objectstore.ErrPreconditionFailed):
		return "precondition_failed"
	case errors.Is(err, objectstore.ErrUnavailable):
		return "unavailable"
	}
	return "error"
}

// MetricsHandler serves the broker's metrics in the Prometheus text format.
func (b *Broker) MetricsHandler() http.Handler {
	return promhttp.HandlerFor(b.metrics.reg, promhttp.HandlerOpts{})
}

// brokerCollector reads, at each scrape, what the broker tracks anyway.
type brokerCollector struct{ b *Broker }

var (
	descLogStart   = prometheus.NewDesc("strata_partition_log_start_offset", "A partition's first offset (the remote tier's when it holds offsets).", []string{"topic", "partition"}, nil)
	descRemoteEnd  = prometheus.NewDesc("strata_partition_remote_end_offset", "The end of a partition's remote tier: offsets below it are in the bucket.", []string{"topic", "partition"}, nil)
	descHW         = prometheus.NewDesc("strata_partition_high_watermark", "A partition's high watermark.", []string{"topic", "partition"}, nil)
	descLagBytes   = prometheus.NewDesc("strata_upload_lag_bytes", "Sealed bytes of a partition not yet in the bucket.", []string{"topic", "partition"}, nil)
	descLagSeconds = prometheus.NewDesc("strata_upload_lag_seconds", "Age of a partition's oldest record not yet in the bucket.", []string{"topic", "partition"}, nil)

	descUploads        = prometheus.NewDesc("strata_upload_segments_total", "Segment objects stored in the bucket (a retry stores a new one).", nil, nil)
	descUploadBytes    = prometheus.NewDesc("strata_upload_bytes_total", "Bytes of the segment objects stored.", nil, nil)
	descUploadFailures = prometheus.NewDesc("strata_upload_failures_total", "Uploads that failed and were retried.", nil, nil)
	descCommits        = prometheus.NewDesc("strata_upload_manifest_commits_total", "Manifest commits.", nil, nil)
	descCommitFailures = prometheus.NewDesc("strata_upload_manifest_commit_failures_total", "Manifest commits that failed.", nil, nil)

	descCacheHits   = prometheus.NewDesc("strata_cache_hits_total", "Remote read cache hits.", nil, nil)
	descCacheMisses = prometheus.NewDesc("strata_cache_misses_total", "Remote read cache misses.", nil, nil)
	descCacheBytes  = prometheus.NewDesc("strata_cache_bytes", "Bytes in the remote read cache.", nil, nil)

	descCostRequests = prometheus.NewDesc("strata_cost_requests_total", "Billable object-store requests, by price class (put, get, list, delete) and topic.", []string{"class", "topic"}, nil)
	descCostStored   = prometheus.NewDesc("strata_cost_stored_bytes", "Bytes of segment objects a topic's manifests reference.", []string{"topic"}, nil)
	descGroupLag     = prometheus.NewDesc("strata_consumer_group_lag", "Records between a group's committed offset and the partition's high watermark.", []string{"group", "topic", "partition"}, nil)
	descCostDollars  = prometheus.NewDesc("strata_cost_dollars", `Estimated object-store cost in US dollars: kind="requests" since the broker started, kind="storage_month" per month at the bytes stored now.`, []string{"kind"}, nil)
)

func (c brokerCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descLogStart, descRemoteEnd, descHW, descLagBytes, descLagSeconds,
		descUploads, descUploadBytes, descUploadFailures, descCommits, descCommitFailures,
		descCacheHits, descCacheMisses, descCacheBytes, descGroupLag, descCostRequests, descCostStored, descCostDollars} {
		ch <- d
	}
}

func (c brokerCollector) Collect(ch chan<- prometheus.Metric) {
	b := c.b
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	count := func(d *prometheus.Desc, v int64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	parts := b.Partitions()
	for _, p := range parts {
		pi := strconv.Itoa(int(p.Partition))
		gauge(descLogStart, float64(p.LogStartOffset), p.Topic, pi)
		gauge(descHW, float64(p.HighWatermark), p.Topic, pi)
		if p.TierStatus != nil {
			gauge(descRemoteEnd, float64(p.RemoteEndOffset), p.Topic, pi)
			gauge(descLagBytes, float64(p.UploadLagBytes), p.Topic, pi)
			gauge(descLagSeconds, p.UploadLagSeconds, p.Topic, pi)
		}
	}
	for _, g := range b.Groups() {
		for _, o := range g.Offsets {
			gauge(descGroupLag, float64(o.Lag), g.Group, o.Topic, strconv.Itoa(int(o.Partition)))
		}
	}
	if b.tiers == nil {
		return
	}
	us := b.tiers.uploader.Stats()
	count(descUploads, us.Uploads)
	count(descUploadBytes, us.UploadedBytes)
	count(descUploadFailures, us.Failures)
	count(descCommits, us.Commits)
	count(descCommitFailures, us.CommitFailures)
	cs := b.tiers.cache.Stats()
	count(descCacheHits, cs.Hits)
	count(descCacheMisses, cs.Misses)
	gauge(descCacheBytes, float64(cs.Bytes))
	report := b.cost(parts)
	for _, t := range report.Topics {
		for class, n := range t.Requests {
			count(descCostRequests, n, class, t.Topic)
		}
		gauge(descCostStored, float64(t.StoredBytes), t.Topic)
	}
	gauge(descCostDollars, report.Total.RequestDollars, "requests")
	gauge(descCostDollars, report.Total.StorageDollarsPerMonth, "storage_month")
}

// Prices are the object-store list prices the cost estimate uses, in US
// dollars.
type Prices struct {
	PutPer1000     float64 `json:"putPer1000"`     // PUT, COPY, POST and LIST requests, per 1,000
	GetPer1000     float64 `json:"getPer1000"`     // GET, HEAD and the rest, per 1,000
	StorageGBMonth float64 `json:"storageGBMonth"` // per GiB stored for a month
}

// DefaultPrices are AWS S3 Standard's list prices (us-east-1). DELETE
// requests are free.
var DefaultPrices = Prices{PutPer1000: 0.005, GetPer1000: 0.0004, StorageGBMonth: 0.023}

// costClass is the price class of an object-store operation.
func costClass(op objectstore.Op) string {
	switch op {
	case objectstore.OpPut, objectstore.OpPutIfAbsent, objectstore.OpPutIfMatch:
		return "put"
	case objectstore.OpList:
		return "list"
	case objectstore.OpDelete:
		return "delete"
	}
	return "get"
}

// costKey is one counter of costRequests: a price class and the topic ID
// the object belongs to (zero for cluster objects).
type costKey struct {
	class string
	topic [16]byte
}

// costRequests counts billable requests by class and topic.
type costRequests struct {
	mu sync.Mutex
	n  map[costKey]int64
}

func (c *costRequests) add(op objectstore.Op, key string) {
	k := costKey{class: costClass(op)}
	if rest, ok := strings.CutPrefix(key, "topics/"); ok {
		if hex, _, _ := strings.Cut(rest, "/"); len(hex) == 32 {
			k.topic, _ = parseTopicID(hex)
		}
	}
	c.mu.Lock()
	c.n[k]++
	c.mu.Unlock()
}

func (c *costRequests) snapshot() map[costKey]int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return maps.Clone(c.n)
}

// clusterTopic names the requests for objects outside any topic
// (cluster.json, topic listings).
const clusterTopic = "(cluster)"

// CostReport is the live estimate of what the bucket costs, as GET
// /v1/cost serves it.
type CostReport struct {
	Since  time.Time   `json:"since"` // request counts start here
	Prices Prices      `json:"prices"`
	Topics []TopicCost `json:"topics"`
	Total  TopicCost   `json:"total"`
}

// TopicCost is one topic's share (Topic is the name, the topic ID for a
// deleted topic, or "(cluster)").
type TopicCost struct {
	Topic                  string           `json:"topic"`
	Requests               map[string]int64 `json:"requests"` // by class: put, get, list, delete
	StoredBytes            int64            `json:"storedBytes"`
	RequestDollars         float64          `json:"requestDollars"`
	StorageDollarsPerMonth float64          `json:"storageDollarsPerMonth"`
}

// Cost returns the live cost estimate: requests since the broker started,
// by topic, and the bytes the manifests reference now.
func (b *Broker) Cost() CostReport { return b.cost(b.Partitions()) }

// cost is Cost from the partition status parts.
func (b *Broker) cost(parts []PartitionStatus) CostReport {
	pr := b.cfg.Prices
	r := CostReport{Since: b.started, Prices: pr, Topics: []TopicCost{}, Total: TopicCost{Topic: "total", Requests: map[string]int64{}}}
	byTopic := map[string]*TopicCost{}
	topicOf := func(name string) *TopicCost {
		t := byTopic[name]
		if t == nil {
			t = &TopicCost{Topic: name, Requests: map[string]int64{}}
			byTopic[name] = t
		}
		return t
	}
	for _, p := range parts {
		if p.TierStatus != nil {
			topicOf(p.Topic).StoredBytes += p.RemoteBytes
		}
	}
	set := b.topics()
	for k, n := range b.metrics.cost.snapshot() {
		name := clusterTopic
		if k.topic != ([16]byte{}) {
			if t := set.byID[k.topic]; t != nil {
				name = t.name
			} else {
				name = formatTopicID(k.topic)
			}
		}
		topicOf(name).Requests[k.class] += n
	}
	for _, t := range byTopic {
		t.RequestDollars = (float64(t.Requests["put"]+t.Requests["list"])*pr.PutPer1000 + float64(t.Requests["get"])*pr.GetPer1000) / 1000
		t.StorageDollarsPerMonth = float64(t.StoredBytes) / (1 << 30) * pr.StorageGBMonth
		for class, n := range t.Requests {
			r.Total.Requests[class] += n
		}
		r.Total.StoredBytes += t.StoredBytes
		r.Total.RequestDollars += t.RequestDollars
		r.Total.StorageDollarsPerMonth += t.StorageDollarsPerMonth
		r.Topics = append(r.Topics, *t)
	}
	slices.SortFunc(r.Topics, func(a, b TopicCost) int { return strings.Compare(a.Topic, b.Topic) })
	return r
}
