package main

import (
	"cmp"
	"encoding/json"
	"net/http"
	"slices"
	"sync/atomic"

	"github.com/strata-io/strata/broker"
)

// statusSource is what the HTTP endpoints read from the broker.
type statusSource interface {
	Ready() bool
	Partitions() []broker.PartitionStatus
	Groups() []broker.GroupStatus
	// Cost is the live cost estimate; false before the broker is open.
	Cost() (broker.CostReport, bool)
	// Metrics serves the Prometheus metrics; nil before the broker is open.
	Metrics() http.Handler
}

// newHTTPHandler serves the operator endpoints:
//
//	GET /healthz        200 "ok" while the process serves HTTP
//	GET /readyz         200 once src is ready, else 503
//	GET /v1/partitions  JSON array of partition status, sorted by topic and partition
//	GET /v1/groups      JSON array of consumer groups, sorted by group id: state,
//	                    members and their assignments, committed offsets and lag
//	GET /v1/cost        JSON: the live object-store cost estimate (broker.CostReport)
//	GET /metrics        Prometheus metrics, text format
//
// /v1/cost and /metrics answer 503 until the broker is open.
func newHTTPHandler(src statusSource) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeText(w, http.StatusOK, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !src.Ready() {
			writeText(w, http.StatusServiceUnavailable, "not ready")
			return
		}
		writeText(w, http.StatusOK, "ok")
	})
	mux.HandleFunc("GET /v1/partitions", func(w http.ResponseWriter, _ *http.Request) {
		ps := slices.Clone(src.Partitions())
		if ps == nil {
			ps = []broker.PartitionStatus{} // encode [] rather than null
		}
		slices.SortFunc(ps, func(a, b broker.PartitionStatus) int {
			return cmp.Or(cmp.Compare(a.Topic, b.Topic), cmp.Compare(a.Partition, b.Partition))
		})
		writeJSON(w, ps)
	})
	mux.HandleFunc("GET /v1/groups", func(w http.ResponseWriter, _ *http.Request) {
		gs := slices.Clone(src.Groups())
		if gs == nil {
			gs = []broker.GroupStatus{}
		}
		slices.SortFunc(gs, func(a, b broker.GroupStatus) int { return cmp.Compare(a.Group, b.Group) })
		writeJSON(w, gs)
	})
	mux.HandleFunc("GET /v1/cost", func(w http.ResponseWriter, _ *http.Request) {
		c, ok := src.Cost()
		if !ok {
			writeText(w, http.StatusServiceUnavailable, "not ready")
			return
		}
		writeJSON(w, c)
	})
	mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, r *http.Request) {
		h := src.Metrics()
		if h == nil {
			writeText(w, http.StatusServiceUnavailable, "not ready")
			return
		}
		h.ServeHTTP(w, r)
	})
	return mux
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	// An encoding error here means the client went away; there is no one
	// left to tell.
	_ = json.NewEncoder(w).Encode(v)
}

func writeText(w http.ResponseWriter, code int, body string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_, _ = w.Write([]byte(body))
}

// brokerRef is a statusSource for a broker that may not be open yet: the
// HTTP endpoints are up during recovery and report "not ready" until set.
type brokerRef struct {
	b atomic.Pointer[broker.Broker]
}

func (r *brokerRef) set(b *broker.Broker) { r.b.Store(b) }

func (r *brokerRef) Ready() bool {
	b := r.b.Load()
	return b != nil && b.Ready()
}

func (r *brokerRef) Partitions() []broker.PartitionStatus {
	if b := r.b.Load(); b != nil {
		return b.Partitions()
	}
	return nil
}

func (r *brokerRef) Groups() []broker.GroupStatus {
	if b := r.b.Load(); b != nil {
		return b.Groups()
	}
	return nil
}

func (r *brokerRef) Cost() (broker.CostReport, bool) {
	if b := r.b.Load(); b != nil {
		return b.Cost(), true
	}
	return broker.CostReport{}, false
}

func (r *brokerRef) Metrics() http.Handler {
	if b := r.b.Load(); b != nil {
		return b.MetricsHandler()
	}
	return nil
}
