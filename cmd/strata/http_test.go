package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/strata-io/strata/broker"
)

type fakeSource struct {
	ready      atomic.Bool
	partitions []broker.PartitionStatus
	groups     []broker.GroupStatus
}

func (f *fakeSource) Groups() []broker.GroupStatus { return f.groups }

func (f *fakeSource) Cost() (broker.CostReport, bool) { return broker.CostReport{}, false }
func (f *fakeSource) Metrics() http.Handler           { return nil }

func (f *fakeSource) Ready() bool                          { return f.ready.Load() }
func (f *fakeSource) Partitions() []broker.PartitionStatus { return f.partitions }

func get(t *testing.T, srv *httptest.Server, method, path string) (int, string, http.Header) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, srv.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(body), resp.Header
}

func TestHTTPHealthAndReadiness(t *testing.T) {
	src := &fakeSource{}
	srv := httptest.NewServer(newHTTPHandler(src))
	defer srv.Close()

	if code, body, _ := get(t, srv, "GET", "/healthz"); code != 200 || body != "ok" {
		t.Errorf("healthz = %d %q, want 200 ok", code, body)
	}
	if code, _, _ := get(t, srv, "GET", "/readyz"); code != http.StatusServiceUnavailable {
		t.Errorf("readyz before ready = %d, want 503", code)
	}
	src.ready.Store(true)
	if code, body, _ := get(t, srv, "GET", "/readyz"); code != 200 || body != "ok" {
		t.Errorf("readyz when ready = %d %q, want 200 ok", code, body)
	}
	if code, _, _ := get(t, srv, "HEAD", "/healthz"); code != 200 {
		t.Errorf("HEAD healthz = %d, want 200", code)
	}
	if code, _, _ := get(t, srv, "POST", "/healthz"); code != http.StatusMethodNotAllowed {
		t.Errorf("POST healthz = %d, want 405", code)
	}
	if code, _, _ := get(t, srv, "GET", "/nope"); code != http.StatusNotFound {
		t.Errorf("GET /nope = %d, want 404", code)
	}
}

func TestHTTPPartitionsSortedJSON(t *testing.T) {
	src := &fakeSource{partitions: []broker.PartitionStatus{
		{Topic: "b", Partition: 0, LogStartOffset: 0, HighWatermark: 5, LogEndOffset: 6},
		{Topic: "a", Partition: 10, LogStartOffset: 1, HighWatermark: 2, LogEndOffset: 3},
		{Topic: "a", Partition: 2, LogStartOffset: 7, HighWatermark: 8, LogEndOffset: 9},
	}}
	srv := httptest.NewServer(newHTTPHandler(src))
	defer srv.Close()

	code, body, h := get(t, srv, "GET", "/v1/partitions")
	if code != 200 || h.Get("Content-Type") != "application/json" {
		t.Fatalf("status %d, content type %q", code, h.Get("Content-Type"))
	}
	const want = `[{"topic":"a","partition":2,"logStartOffset":7,"highWatermark":8,"logEndOffset":9},` +
		`{"topic":"a","partition":10,"logStartOffset":1,"highWatermark":2,"logEndOffset":3},` +
		`{"topic":"b","partition":0,"logStartOffset":0,"highWatermark":5,"logEndOffset":6}]`
	if strings.TrimSpace(body) != want {
		t.Errorf("body\n%s\nwant\n%s", body, want)
	}
	if src.partitions[0].Topic != "b" {
		t.Error("handler sorted the source's slice in place")
	}
}

func TestHTTPPartitionsEmptyIsArray(t *testing.T) {
	srv := httptest.NewServer(newHTTPHandler(&fakeSource{}))
	defer srv.Close()
	code, body, _ := get(t, srv, "GET", "/v1/partitions")
	if code != 200 || strings.TrimSpace(body) != "[]" {
		t.Errorf("got %d %q, want 200 []", code, body)
	}
	var ps []broker.PartitionStatus
	if err := json.Unmarshal([]byte(body), &ps); err != nil || ps == nil {
		t.Errorf("decode %q: %v, %v", body, ps, err)
	}
}

// Before the broker is open, the endpoints answer "not ready" and no
// partitions.
func TestHTTPBeforeBrokerOpens(t *testing.T) {
	srv := httptest.NewServer(newHTTPHandler(&brokerRef{}))
	defer srv.Close()
	if code, _, _ := get(t, srv, "GET", "/healthz"); code != 200 {
		t.Errorf("healthz = %d, want 200", code)
	}
	if code, _, _ := get(t, srv, "GET", "/readyz"); code != http.StatusServiceUnavailable {
		t.Errorf("readyz = %d, want 503", code)
	}
	if code, body, _ := get(t, srv, "GET", "/v1/partitions"); code != 200 || strings.TrimSpace(body) != "[]" {
		t.Errorf("partitions = %d %q, want 200 []", code, body)
	}
	for _, path := range []string{"/metrics", "/v1/cost"} {
		if code, _, _ := get(t, srv, "GET", path); code != http.StatusServiceUnavailable {
			t.Errorf("%s = %d, want 503", path, code)
		}
	}
}

func TestHTTPGroupsSortedJSON(t *testing.T) {
	src := &fakeSource{groups: []broker.GroupStatus{
		{Group: "workers", State: "Stable", ProtocolType: "consumer", Protocol: "range", Generation: 3, Leader: "m1",
			Members: []broker.GroupMemberStatus{{MemberID: "m1", ClientID: "c", ClientHost: "/127.0.0.1",
				Assignment: []broker.TopicPartitions{{Topic: "orders", Partitions: []int32{0, 1}}}}},
			Offsets: []broker.GroupOffsetStatus{{Topic: "orders", Partition: 0, CommittedOffset: 5, HighWatermark: 8, Lag: 3}}},
		{Group: "audit", State: "Empty", Members: []broker.GroupMemberStatus{}, Offsets: []broker.GroupOffsetStatus{}},
	}}
	srv := httptest.NewServer(newHTTPHandler(src))
	defer srv.Close()
	code, body, h := get(t, srv, "GET", "/v1/groups")
	if code != 200 || h.Get("Content-Type") != "application/json" {
		t.Fatalf("status %d, content type %q", code, h.Get("Content-Type"))
	}
	const want = `[{"group":"audit","state":"Empty","protocolType":"","protocol":"","generation":0,"members":[],"offsets":[]},` +
		`{"group":"workers","state":"Stable","protocolType":"consumer","protocol":"range","generation":3,"leader":"m1",` +
		`"members":[{"memberId":"m1","clientId":"c","clientHost":"/127.0.0.1","assignment":[{"topic":"orders","partitions":[0,1]}]}],` +
		`"offsets":[{"topic":"orders","partition":0,"committedOffset":5,"metadata":"","highWatermark":8,"lag":3}]}]`
	if strings.TrimSpace(body) != want {
		t.Errorf("body\n%s\nwant\n%s", body, want)
	}
	srv2 := httptest.NewServer(newHTTPHandler(&brokerRef{}))
	defer srv2.Close()
	if code, body, _ := get(t, srv2, "GET", "/v1/groups"); code != 200 || strings.TrimSpace(body) != "[]" {
		t.Errorf("before the broker opens: %d %q, want 200 []", code, body)
	}
}
