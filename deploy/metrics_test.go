package deploy

import (
	"context"
	"io"
	"log/slog"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/strata-io/strata/broker"
)

// The dashboard's list of metrics is what a real broker exports: every
// family, with exactly the listed labels, once it has a tiered topic, a
// produced record and a consumer group.
func TestBrokerExportsTheListedMetrics(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dir := t.TempDir()
	b, err := broker.Open(ctx, broker.Config{
		Listen:           "127.0.0.1:0",
		AutoCreateTopics: true,
		DataDir:          filepath.Join(dir, "data"),
		Bucket:           (&url.URL{Scheme: "file", Path: filepath.ToSlash(filepath.Join(dir, "bucket"))}).String(),
		Logger:           slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	rctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- b.Run(rctx) }()
	defer func() { stop(); <-done }()

	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()), kgo.DefaultProduceTopic("m"), kgo.AllowAutoTopicCreation())
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("v")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	offs := kadm.Offsets{}
	offs.Add(kadm.Offset{Topic: "m", Partition: 0, At: 1, LeaderEpoch: -1})
	if _, err := kadm.NewClient(cl).CommitOffsets(ctx, "g", offs); err != nil {
		t.Fatal(err)
	}
	fetch, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()), kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{"m": {0: kgo.NewOffset().At(0)}}))
	if err != nil {
		t.Fatal(err)
	}
	defer fetch.Close()
	if fs := fetch.PollFetches(ctx); fs.Err0() != nil {
		t.Fatal(fs.Err0())
	}

	rec := httptest.NewRecorder()
	b.MetricsHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(strings.NewReader(rec.Body.String()))
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	for name, m := range metrics {
		f := fams[name]
		if f == nil {
			if name == "strata_fetch_errors_total" {
				continue // no fetch failed; its labels are checked in the broker's tests
			}
			t.Errorf("the broker does not export %s", name)
			continue
		}
		if m.histogram != (f.GetType().String() == "HISTOGRAM") {
			t.Errorf("%s is a %s", name, f.GetType())
		}
		for _, s := range f.GetMetric() {
			var got []string
			for _, l := range s.GetLabel() {
				got = append(got, l.GetName())
			}
			want := slices.Clone(m.labels)
			slices.Sort(got)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Errorf("%s has labels %v, the list says %v", name, got, want)
				break
			}
		}
	}
	for name := range fams {
		if strings.HasPrefix(name, "strata_") {
			if _, ok := metrics[name]; !ok {
				t.Errorf("the broker exports %s, which the list (and so the dashboard check) lacks", name)
			}
		}
	}
}
