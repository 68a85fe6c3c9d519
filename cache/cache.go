package cache

import (
	"context"
	"math"
	"sync"

	"github.com/hashicorp/golang-lru/v2/simplelru"
)

// Cache is a byte-bounded LRU cache of immutable values with single-flight
// loading. It is safe for concurrent use. The zero value is not usable; call
// New.
type Cache struct {
	maxBytes int64
	loads    sync.WaitGroup // one per running load goroutine

	mu      sync.Mutex // guards below
	lru     *simplelru.LRU[string, []byte]
	bytes   int64 // sum of len(value) over lru; kept by onEvict and addLocked
	flights map[string]*flight
	closed  bool
	stats   Stats // Bytes and Entries are filled in by Stats
}

// flight is one running load. val and err are written once, before done is
// closed; waiters read them only after done is closed.
type flight struct {
	done   chan struct{}
	val    []byte
	err    error
	cancel context.CancelFunc

	waiters int // guarded by Cache.mu
}

// Stats counts a Cache's work since New. Hits and Misses count lookups by Get
// and GetOrLoad (a GetOrLoad that joins another caller's load is a miss);
// Loads counts load calls started; Evictions counts entries dropped to make
// room. Bytes and Entries describe the cache at the time of the call.
type Stats struct {
	Hits, Misses, Loads, Evictions int64
	Bytes, Entries                 int64
}

// New returns an empty memory cache holding at most maxBytes bytes of values.
// With maxBytes <= 0 nothing is cached, but GetOrLoad still runs one load
// for concurrent callers of a key.
func New(maxBytes int64) *Cache {
	c := &Cache{maxBytes: max(maxBytes, 0), flights: make(map[string]*flight)}
	// The entry count is never the limit (bytes are), so size the LRU so that
	// it never evicts on its own. onEvict runs for every removal, under c.mu.
	lru, err := simplelru.NewLRU(math.MaxInt, func(_ string, v []byte) {
		c.bytes -= int64(len(v))
	})
	if err != nil {
		panic(err) // only for a non-positive size
	}
	c.lru = lru
	return c
}

// Get returns the value cached under key and marks it recently used. The
// caller must not modify the returned slice.
func (c *Cache) Get(key string) ([]byte, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.getLocked(key)
}

// Add caches value under key as the most recently used entry, replacing any
// previous value, and evicts least recently used entries until the cache is
// within its bound. A value that is empty or larger than the bound is not
// cached (and a previous value under key is dropped). The cache keeps value
// without copying it: neither the caller nor anyone else may modify it
// afterwards.
func (c *Cache) Add(key string, value []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.addLocked(key, value)
}

// GetOrLoad returns the value cached under key or, on a miss, the result of
// load, which it caches if load succeeds. Concurrent callers for one key
// share one call of load and all receive its result, error included; errors
// are not cached, so the next caller after a failed load loads again.
//
// load runs on a goroutine of the cache with a context that carries ctx's
// values but not its deadline, and that is cancelled once no caller waits
// for the result any more: when ctx ends, the caller stops waiting and
// returns ctx.Err(), and the load goes on for the remaining callers; when
// the last waiting caller leaves, the load's context is cancelled and its
// result, if it still comes, is cached only if it succeeded. A caller that
// arrives after that starts a new load. After Close, a miss returns
// ErrClosed.
//
// The caller must not modify the returned slice, and load must not modify it
// after returning it.
func (c *Cache) GetOrLoad(ctx context.Context, key string, load func(ctx context.Context) ([]byte, error)) ([]byte, error) {
	c.mu.Lock()
	if v, ok := c.getLocked(key); ok {
		c.mu.Unlock()
		return v, nil
	}
	f, ok := c.flights[key]
	if !ok {
		if c.closed {
			c.mu.Unlock()
			return nil, ErrClosed
		}
		if err := ctx.Err(); err != nil {
			c.mu.Unlock()
			return nil, err
		}
		f = c.startLocked(ctx, key, load)
	}
	f.waiters++
	c.mu.Unlock()

	select {
	case <-f.done:
		return f.val, f.err
	case <-ctx.Done():
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	select {
	case <-f.done: // finished while we were leaving: take the result
		return f.val, f.err
	default:
	}
	f.waiters--
	if f.waiters == 0 {
		f.cancel()
		if c.flights[key] == f {
			delete(c.flights, key) // the next caller starts afresh
		}
	}
	return nil, ctx.Err()
}

// startLocked registers and starts a load of key.
func (c *Cache) startLocked(ctx context.Context, key string, load func(context.Context) ([]byte, error)) *flight {
	lctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	f := &flight{done: make(chan struct{}), cancel: cancel}
	c.flights[key] = f
	c.stats.Loads++
	c.loads.Go(func() {
		defer cancel()
		v, err := load(lctx)
		c.mu.Lock()
		defer c.mu.Unlock()
		if err == nil {
			c.addLocked(key, v)
		}
		if c.flights[key] == f {
			delete(c.flights, key)
		}
		f.val, f.err = v, err
		close(f.done)
	})
	return f
}

func (c *Cache) getLocked(key string) ([]byte, bool) {
	v, ok := c.lru.Get(key)
	if ok {
		c.stats.Hits++
	} else {
		c.stats.Misses++
	}
	return v, ok
}

func (c *Cache) addLocked(key string, value []byte) {
	c.lru.Remove(key) // onEvict subtracts the old value, if any
	n := int64(len(value))
	if n == 0 || n > c.maxBytes {
		return
	}
	c.lru.Add(key, value)
	c.bytes += n
	for c.bytes > c.maxBytes {
		// The newest entry fits on its own, so this stops before reaching it.
		c.lru.RemoveOldest()
		c.stats.Evictions++
	}
}

// Stats returns the cache's counters and current size.
func (c *Cache) Stats() Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.stats
	s.Bytes = c.bytes
	s.Entries = int64(c.lru.Len())
	return s
}

// Close stops the cache from starting loads, cancels the contexts of running
// loads and waits for them to return; their callers receive whatever the
// loads return. Cached values stay readable through Get. Close is idempotent
// and returns once every load has honoured its cancellation.
func (c *Cache) Close() error {
	c.mu.Lock()
	c.closed = true
	for _, f := range c.flights {
		f.cancel()
	}
	c.mu.Unlock()
	c.loads.Wait()
	return nil
}
