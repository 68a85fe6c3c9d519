package cache

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"testing"
	"testing/synctest"
)

// op is one step of a table test: add Size bytes under Key, or get Key.
type op struct {
	add  bool
	key  string
	size int
}

func add(key string, size int) op { return op{add: true, key: key, size: size} }
func get(key string) op           { return op{key: key} }

func run(c *Cache, ops []op) {
	for _, o := range ops {
		if o.add {
			c.Add(o.key, make([]byte, o.size))
		} else {
			c.Get(o.key)
		}
	}
}

// keys lists the cached keys from least to most recently used.
func keys(c *Cache) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lru.Keys()
}

func TestGetReportsHitsAndMisses(t *testing.T) {
	c := New(100)
	if v, ok := c.Get("a"); ok || v != nil {
		t.Fatalf("Get on empty cache = %q, %v; want nil, false", v, ok)
	}
	want := []byte("hello")
	c.Add("a", want)
	got, ok := c.Get("a")
	if !ok || &got[0] != &want[0] {
		t.Fatalf("Get(a) = %q, %v; want the added slice itself", got, ok)
	}
	if _, ok := c.Get("b"); ok {
		t.Fatal("Get(b) hit a key never added")
	}
	c.Add("a", []byte("bye"))
	if got, _ := c.Get("a"); string(got) != "bye" {
		t.Fatalf("Get(a) after replacing = %q, want bye", got)
	}
	want2 := Stats{Hits: 2, Misses: 2, Bytes: 3, Entries: 1}
	if s := c.Stats(); s != want2 {
		t.Fatalf("Stats = %+v, want %+v", s, want2)
	}
}

func TestEvictsLeastRecentlyUsedByBytes(t *testing.T) {
	tests := []struct {
		name      string
		maxBytes  int64
		ops       []op
		want      []string // least to most recently used
		bytes     int64
		evictions int64
	}{
		{"fits exactly", 10, []op{add("a", 4), add("b", 6)}, []string{"a", "b"}, 10, 0},
		{"oldest goes first", 10, []op{add("a", 4), add("b", 4), add("c", 4)}, []string{"b", "c"}, 8, 1},
		{"get refreshes", 10, []op{add("a", 4), add("b", 4), get("a"), add("c", 4)}, []string{"a", "c"}, 8, 1},
		{"re-add refreshes", 10, []op{add("a", 4), add("b", 4), add("a", 4), add("c", 4)}, []string{"a", "c"}, 8, 1},
		{"entry of exactly the bound evicts all others", 10, []op{add("a", 4), add("b", 1), add("c", 10)}, []string{"c"}, 10, 2},
		{"large entry evicts several", 10, []op{add("a", 3), add("b", 3), add("c", 3), add("d", 9)}, []string{"d"}, 9, 3},
		{"evicts only as many as needed", 10, []op{add("a", 3), add("b", 3), add("c", 3), add("d", 4)}, []string{"b", "c", "d"}, 10, 1},
		{"growing a value evicts others", 10, []op{add("a", 4), add("b", 4), add("b", 8)}, []string{"b"}, 8, 1},
		{"shrinking a value frees bytes", 10, []op{add("a", 4), add("b", 6), add("b", 1), add("c", 5)}, []string{"a", "b", "c"}, 10, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := New(tt.maxBytes)
			run(c, tt.ops)
			if got := keys(c); !slices.Equal(got, tt.want) {
				t.Errorf("keys = %q, want %q", got, tt.want)
			}
			s := c.Stats()
			if s.Bytes != tt.bytes || s.Entries != int64(len(tt.want)) || s.Evictions != tt.evictions {
				t.Errorf("Stats = %+v, want Bytes %d, Entries %d, Evictions %d", s, tt.bytes, len(tt.want), tt.evictions)
			}
		})
	}
}

func TestValuesTooLargeOrEmptyAreNotCached(t *testing.T) {
	tests := []struct {
		name     string
		maxBytes int64
		ops      []op
		want     []string
	}{
		{"larger than the bound", 10, []op{add("a", 4), add("big", 11)}, []string{"a"}},
		{"replacing with too large drops the old value", 10, []op{add("a", 4), add("b", 4), add("a", 11)}, []string{"b"}},
		{"empty", 10, []op{add("a", 4), add("empty", 0)}, []string{"a"}},
		{"zero bound caches nothing", 0, []op{add("a", 1)}, nil},
		{"negative bound caches nothing", -5, []op{add("a", 1)}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := New(tt.maxBytes)
			run(c, tt.ops)
			if got := keys(c); !slices.Equal(got, tt.want) {
				t.Errorf("keys = %q, want %q", got, tt.want)
			}
			if s := c.Stats(); s.Evictions != 0 {
				t.Errorf("Evictions = %d, want 0: a value not cached evicts nothing", s.Evictions)
			}
		})
	}
}

func TestGetOrLoadReturnsTooLargeValueWithoutCachingIt(t *testing.T) {
	c := New(10)
	c.Add("a", make([]byte, 4))
	big := make([]byte, 11)
	load := func(context.Context) ([]byte, error) { return big, nil }
	for i := range 2 {
		got, err := c.GetOrLoad(t.Context(), "big", load)
		if err != nil || len(got) != 11 || &got[0] != &big[0] {
			t.Fatalf("GetOrLoad #%d = %d bytes, %v; want the loaded slice", i, len(got), err)
		}
	}
	want := Stats{Misses: 2, Loads: 2, Bytes: 4, Entries: 1}
	if s := c.Stats(); s != want {
		t.Fatalf("Stats = %+v, want %+v", s, want)
	}
}

func TestGetOrLoadCachesTheLoadedValue(t *testing.T) {
	c := New(100)
	calls := 0
	load := func(context.Context) ([]byte, error) {
		calls++
		return []byte("footer"), nil
	}
	for range 3 {
		got, err := c.GetOrLoad(t.Context(), "obj#footer", load)
		if err != nil || string(got) != "footer" {
			t.Fatalf("GetOrLoad = %q, %v; want footer", got, err)
		}
	}
	if calls != 1 {
		t.Fatalf("load ran %d times, want 1", calls)
	}
	want := Stats{Hits: 2, Misses: 1, Loads: 1, Bytes: 6, Entries: 1}
	if s := c.Stats(); s != want {
		t.Fatalf("Stats = %+v, want %+v", s, want)
	}
}

// gatedLoad is a load that blocks until release is closed (or its context
// ends), counting its calls and keeping the context it ran with.
type gatedLoad struct {
	release chan struct{}
	val     []byte
	err     error

	mu    sync.Mutex // guards below
	calls int
	ctx   context.Context
}

func newGatedLoad(val []byte, err error) *gatedLoad {
	return &gatedLoad{release: make(chan struct{}), val: val, err: err}
}

func (g *gatedLoad) load(ctx context.Context) ([]byte, error) {
	g.mu.Lock()
	g.calls++
	g.ctx = ctx
	g.mu.Unlock()
	select {
	case <-g.release:
		return g.val, g.err
	case <-ctx.Done():
		return nil, fmt.Errorf("gated load: %w", ctx.Err())
	}
}

func (g *gatedLoad) state() (int, context.Context) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.calls, g.ctx
}

type result struct {
	val []byte
	err error
}

// startCallers starts n GetOrLoad calls of key with ctx and returns their
// results, in no particular order, on a channel with room for all of them.
func startCallers(ctx context.Context, c *Cache, n int, key string, load func(context.Context) ([]byte, error)) chan result {
	results := make(chan result, n)
	for range n {
		go func() {
			v, err := c.GetOrLoad(ctx, key, load)
			results <- result{v, err}
		}()
	}
	return results
}

func TestConcurrentGetOrLoadRunsOneLoad(t *testing.T) {
	for _, n := range []int{1, 2, 16, 100} {
		t.Run(strconv.Itoa(n), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				c := New(1 << 20)
				g := newGatedLoad([]byte("segment bytes"), nil)
				results := startCallers(t.Context(), c, n, "seg@0+13", g.load)
				synctest.Wait() // every caller is waiting, on the load or in it
				if calls, _ := g.state(); calls != 1 {
					t.Fatalf("load started %d times before release, want 1", calls)
				}
				if s := c.Stats(); s.Loads != 1 || s.Misses != int64(n) || s.Entries != 0 {
					t.Fatalf("Stats while loading = %+v, want Loads 1, Misses %d, Entries 0", s, n)
				}
				close(g.release)
				for range n {
					r := <-results
					if r.err != nil || &r.val[0] != &g.val[0] {
						t.Fatalf("GetOrLoad = %q, %v; want the loaded slice", r.val, r.err)
					}
				}
				if calls, _ := g.state(); calls != 1 {
					t.Fatalf("load ran %d times, want 1", calls)
				}
				if got, ok := c.Get("seg@0+13"); !ok || &got[0] != &g.val[0] {
					t.Fatalf("Get after load = %q, %v; want the loaded slice", got, ok)
				}
			})
		})
	}
}

func TestLoadErrorGoesToEveryWaiterAndIsNotCached(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := New(100)
		errBoom := errors.New("boom")
		g := newGatedLoad(nil, errBoom)
		results := startCallers(t.Context(), c, 5, "k", g.load)
		synctest.Wait()
		close(g.release)
		for range 5 {
			if r := <-results; !errors.Is(r.err, errBoom) || r.val != nil {
				t.Fatalf("GetOrLoad = %q, %v; want nil, %v", r.val, r.err, errBoom)
			}
		}
		if _, ok := c.Get("k"); ok {
			t.Fatal("a failed load left a cached value")
		}
		got, err := c.GetOrLoad(t.Context(), "k", func(context.Context) ([]byte, error) { return []byte("ok"), nil })
		if err != nil || string(got) != "ok" {
			t.Fatalf("GetOrLoad after a failed load = %q, %v; want ok", got, err)
		}
		if s := c.Stats(); s.Loads != 2 || s.Entries != 1 {
			t.Fatalf("Stats = %+v, want Loads 2, Entries 1", s)
		}
	})
}

func TestCancelledWaiterLeavesLoadRunningForOthers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := New(100)
		g := newGatedLoad([]byte("range"), nil)
		ctx, cancel := context.WithCancel(t.Context())
		// The cancelled caller arrives first, so it is the one that started
		// the load.
		first := startCallers(ctx, c, 1, "k", g.load)
		synctest.Wait()
		others := startCallers(t.Context(), c, 3, "k", g.load)
		synctest.Wait()

		cancel()
		if r := <-first; !errors.Is(r.err, context.Canceled) || r.val != nil {
			t.Fatalf("cancelled GetOrLoad = %q, %v; want nil, context.Canceled", r.val, r.err)
		}
		synctest.Wait()
		if _, lctx := g.state(); lctx.Err() != nil {
			t.Fatalf("load context ended (%v) while callers still wait", lctx.Err())
		}
		close(g.release)
		for range 3 {
			if r := <-others; r.err != nil || string(r.val) != "range" {
				t.Fatalf("GetOrLoad = %q, %v; want range", r.val, r.err)
			}
		}
		if calls, _ := g.state(); calls != 1 {
			t.Fatalf("load ran %d times, want 1", calls)
		}
	})
}

func TestLastWaiterLeavingCancelsLoad(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := New(100)
		g := newGatedLoad([]byte("range"), nil)
		ctx, cancel := context.WithCancel(t.Context())
		results := startCallers(ctx, c, 2, "k", g.load)
		synctest.Wait()
		cancel()
		for range 2 {
			if r := <-results; !errors.Is(r.err, context.Canceled) {
				t.Fatalf("GetOrLoad = %q, %v; want context.Canceled", r.val, r.err)
			}
		}
		synctest.Wait() // the load sees its context end and returns
		_, lctx := g.state()
		if !errors.Is(lctx.Err(), context.Canceled) {
			t.Fatalf("load context error = %v, want context.Canceled", lctx.Err())
		}

		// The abandoned load is gone, so the next caller loads afresh.
		got, err := c.GetOrLoad(t.Context(), "k", func(context.Context) ([]byte, error) { return []byte("again"), nil })
		if err != nil || string(got) != "again" {
			t.Fatalf("GetOrLoad after abandoned load = %q, %v; want again", got, err)
		}
		if s := c.Stats(); s.Loads != 2 || s.Entries != 1 {
			t.Fatalf("Stats = %+v, want Loads 2, Entries 1", s)
		}
	})
}

func TestLoadContextKeepsValuesButNotDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		type ctxKey struct{}
		ctx := context.WithValue(t.Context(), ctxKey{}, "trace")
		ctx, cancel := context.WithTimeout(ctx, 1<<40)
		defer cancel()
		var lctx context.Context
		_, err := New(100).GetOrLoad(ctx, "k", func(ctx context.Context) ([]byte, error) {
			lctx = ctx
			return []byte("v"), nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := lctx.Deadline(); ok {
			t.Error("load context has the caller's deadline; it should end only when no caller waits")
		}
		if v := lctx.Value(ctxKey{}); v != "trace" {
			t.Errorf("load context value = %v, want trace", v)
		}
	})
}

func TestGetOrLoadWithEndedContext(t *testing.T) {
	c := New(100)
	c.Add("hit", []byte("v"))
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if got, err := c.GetOrLoad(ctx, "hit", nil); err != nil || string(got) != "v" {
		t.Fatalf("GetOrLoad of a cached key with an ended ctx = %q, %v; want v", got, err)
	}
	load := func(context.Context) ([]byte, error) { t.Fatal("load ran for an ended ctx"); return nil, nil }
	if _, err := c.GetOrLoad(ctx, "miss", load); !errors.Is(err, context.Canceled) {
		t.Fatalf("GetOrLoad of a missing key with an ended ctx: err = %v, want context.Canceled", err)
	}
	if s := c.Stats(); s.Loads != 0 {
		t.Fatalf("Loads = %d, want 0", s.Loads)
	}
}

func TestCloseCancelsLoadsAndRefusesNewOnes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := New(100)
		c.Add("cached", []byte("v"))
		g := newGatedLoad([]byte("never"), nil)
		results := startCallers(t.Context(), c, 2, "k", g.load)
		synctest.Wait()
		if err := c.Close(); err != nil {
			t.Fatalf("Close = %v", err)
		}
		for range 2 {
			if r := <-results; !errors.Is(r.err, context.Canceled) {
				t.Fatalf("GetOrLoad during Close = %q, %v; want the load's context.Canceled", r.val, r.err)
			}
		}
		if _, err := c.GetOrLoad(t.Context(), "other", g.load); !errors.Is(err, ErrClosed) {
			t.Fatalf("GetOrLoad after Close: err = %v, want ErrClosed", err)
		}
		if got, err := c.GetOrLoad(t.Context(), "cached", g.load); err != nil || string(got) != "v" {
			t.Fatalf("GetOrLoad of a cached key after Close = %q, %v; want v", got, err)
		}
		if err := c.Close(); err != nil {
			t.Fatalf("second Close = %v", err)
		}
	})
}

func TestStatsCountsEachKindOfWork(t *testing.T) {
	c := New(10)
	ctx := t.Context()
	value := func(n int) func(context.Context) ([]byte, error) {
		return func(context.Context) ([]byte, error) { return make([]byte, n), nil }
	}
	steps := []struct {
		name string
		do   func()
		want Stats
	}{
		{"miss", func() { c.Get("a") }, Stats{Misses: 1}},
		{"load", func() { _, _ = c.GetOrLoad(ctx, "a", value(6)) }, Stats{Misses: 2, Loads: 1, Bytes: 6, Entries: 1}},
		{"hit", func() { _, _ = c.GetOrLoad(ctx, "a", value(6)) }, Stats{Hits: 1, Misses: 2, Loads: 1, Bytes: 6, Entries: 1}},
		{"add", func() { c.Add("b", make([]byte, 4)) }, Stats{Hits: 1, Misses: 2, Loads: 1, Bytes: 10, Entries: 2}},
		{"evict", func() { _, _ = c.GetOrLoad(ctx, "c", value(5)) }, Stats{Hits: 1, Misses: 3, Loads: 2, Evictions: 1, Bytes: 9, Entries: 2}},
		{"hit after evict", func() { c.Get("b") }, Stats{Hits: 2, Misses: 3, Loads: 2, Evictions: 1, Bytes: 9, Entries: 2}},
	}
	for _, s := range steps {
		s.do()
		if got := c.Stats(); got != s.want {
			t.Fatalf("after %s: Stats = %+v, want %+v", s.name, got, s.want)
		}
	}
}

func BenchmarkGetParallel(b *testing.B) {
	const n = 1024
	c := New(n * 4096)
	ks := make([]string, n)
	for i := range ks {
		ks[i] = "tenant/topic/0/00000000000000000000-x.seg@" + strconv.Itoa(i*4096) + "+4096"
		c.Add(ks[i], make([]byte, 4096))
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			if _, ok := c.Get(ks[i%n]); !ok {
				b.Fatal("miss")
			}
			i++
		}
	})
}
