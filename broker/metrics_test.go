package broker

import (
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	dto "github.com/prometheus/client_model/go"
)

// metricValue returns the value of the one sample of family name whose
// labels include want, failing the test if there is none.
func metricValue(t *testing.T, tb *testBroker, name string, want map[string]string) float64 {
	t.Helper()
	fams, err := tb.metrics.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
	samples:
		for _, m := range f.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			for k, v := range want {
				if labels[k] != v {
					continue samples
				}
			}
			return sampleValue(m)
		}
	}
	t.Fatalf("no sample of %s with labels %v", name, want)
	return 0
}

func sampleValue(m *dto.Metric) float64 {
	switch {
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	case m.Histogram != nil:
		return float64(m.Histogram.GetSampleCount())
	}
	return 0
}

// The metrics follow what the broker did: requests and their latency by
// API, produced and fetched bytes, fetch errors by cause, partition
// offsets, uploads, cache and object-store activity, and the cost
// estimate, which agrees with the /v1/partitions bytes.
func TestMetricsAndCost(t *testing.T) {
	tb := startTieredBroker(t, fileBucketURL(t))
	const topic = "metered"
	tb.createTopic(topic, 1, tieredConfigs())
	ctx := testContext(t)
	const n = 200
	if err := produceTimed(ctx, tb.producer(), topic, 0, n); err != nil {
		t.Fatal(err)
	}
	st := tb.waitAllRemote(topic)
	cl := tb.client(kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().At(0)}}))
	if err := consumeExactlyOnce(ctx, cl, 0, n-1); err != nil {
		t.Fatal(err)
	}
	rc := dialRaw(t, tb.Addr())
	if rp := rc.roundTrip(fetchRequest(12, topic, [16]byte{}, 0, n+5, 0)).(*kmsg.FetchResponse).Topics[0].Partitions[0]; rp.ErrorCode != kerr.OffsetOutOfRange.Code {
		t.Fatalf("fetch beyond the end: %v", kerr.ErrorForCode(rp.ErrorCode))
	}

	offs := kadm.Offsets{}
	offs.Add(kadm.Offset{Topic: topic, Partition: 0, At: n - 50, LeaderEpoch: -1})
	if _, err := tb.admin().CommitOffsets(ctx, "lagging", offs); err != nil {
		t.Fatal(err)
	}

	p0 := map[string]string{"topic": topic, "partition": "0"}
	checks := []struct {
		name   string
		labels map[string]string
		ok     func(float64) bool
		want   string
	}{
		{"strata_produce_records_total", nil, func(v float64) bool { return v == n }, "n"},
		{"strata_produce_bytes_total", nil, func(v float64) bool { return v > n*10 }, "> 10 bytes a record"},
		{"strata_wal_fsync_seconds", nil, func(v float64) bool { return v >= 1 }, ">= 1 observation"},
		{"strata_requests_total", map[string]string{"api": "Produce"}, func(v float64) bool { return v >= 1 }, ">= 1"},
		{"strata_request_duration_seconds", map[string]string{"api": "Fetch"}, func(v float64) bool { return v >= 2 }, ">= 2 observations"},
		{"strata_fetch_bytes_total", nil, func(v float64) bool { return v > n*10 }, "> 10 bytes a record"},
		{"strata_fetch_errors_total", map[string]string{"cause": "OFFSET_OUT_OF_RANGE"}, func(v float64) bool { return v == 1 }, "1"},
		{"strata_partition_high_watermark", p0, func(v float64) bool { return v == n }, "n"},
		{"strata_partition_remote_end_offset", p0, func(v float64) bool { return v == float64(st.RemoteEndOffset) }, "the remote end"},
		{"strata_partition_log_start_offset", p0, func(v float64) bool { return v == 0 }, "0"},
		{"strata_upload_lag_bytes", p0, func(v float64) bool { return v == 0 }, "0"},
		{"strata_upload_segments_total", nil, func(v float64) bool { return v == float64(st.RemoteSegments) }, "the remote segments"},
		{"strata_upload_manifest_commits_total", nil, func(v float64) bool { return v >= float64(st.RemoteSegments) }, ">= the remote segments"},
		{"strata_cache_misses_total", nil, func(v float64) bool { return v >= 1 }, ">= 1"},
		{"strata_objectstore_requests_total", map[string]string{"op": "put-if-absent", "outcome": "ok"}, func(v float64) bool { return v >= float64(st.RemoteSegments) }, ">= the remote segments"},
		{"strata_objectstore_request_duration_seconds", map[string]string{"op": "get-range"}, func(v float64) bool { return v >= 1 }, ">= 1 observation"},
		{"strata_cost_requests_total", map[string]string{"class": "put", "topic": topic}, func(v float64) bool { return v >= float64(2*st.RemoteSegments) }, "a put and a commit per segment"},
		{"strata_cost_stored_bytes", map[string]string{"topic": topic}, func(v float64) bool { return v == float64(st.RemoteBytes) && v > 0 }, "the remote bytes"},
		{"strata_cost_dollars", map[string]string{"kind": "requests"}, func(v float64) bool { return v > 0 }, "> 0"},
		{"strata_consumer_group_lag", map[string]string{"group": "lagging", "topic": topic, "partition": "0"}, func(v float64) bool { return v == 50 }, "50"},
	}
	for _, c := range checks {
		if v := metricValue(t, tb, c.name, c.labels); !c.ok(v) {
			t.Errorf("%s%v = %v, want %s", c.name, c.labels, v, c.want)
		}
	}

	r := tb.Cost()
	var tc *TopicCost
	for i := range r.Topics {
		if r.Topics[i].Topic == topic {
			tc = &r.Topics[i]
		}
	}
	if tc == nil {
		t.Fatalf("no cost for %s in %+v", topic, r)
	}
	wantDollars := (float64(tc.Requests["put"]+tc.Requests["list"])*DefaultPrices.PutPer1000 + float64(tc.Requests["get"])*DefaultPrices.GetPer1000) / 1000
	if tc.StoredBytes != st.RemoteBytes || tc.RequestDollars != wantDollars || r.Total.RequestDollars < tc.RequestDollars {
		t.Errorf("cost of %s: %+v (total %+v), want %d bytes stored and $%g of requests", topic, *tc, r.Total, st.RemoteBytes, wantDollars)
	}
	var cluster bool
	for _, t := range r.Topics {
		cluster = cluster || strings.HasPrefix(t.Topic, "(cluster)")
	}
	if !cluster {
		t.Errorf("no (cluster) share for cluster.json and topic listings: %+v", r.Topics)
	}
}
