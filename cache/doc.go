// Package cache is a bounded read cache for bytes that live in the bucket:
// ranges of segment objects, their footers and their indexes. The tiering
// remote reader puts every ranged GET behind it, so that repeated reads are
// served from memory and concurrent readers of one range cause one GET.
//
// A Cache maps string keys to immutable byte slices. Keys name exactly the
// bytes they hold (the reader uses objectKey+"@"+offset+"+"+length or
// objectKey+"#footer"); since segment objects are never rewritten, a key's
// bytes never change and the cache never needs invalidating.
//
// Invariants:
//   - Bytes (the sum of len(value) over cached entries) never exceeds the
//     maxBytes given to New. Entries are evicted least recently used first;
//     a value larger than maxBytes, or an empty one, is handed back to the
//     caller but not cached, so Entries <= Bytes <= maxBytes.
//   - The cache never copies: Get, GetOrLoad and Add share the caller's
//     slice, and nobody may modify a slice once it is given to or returned by
//     the cache.
//   - At most one load per key runs at a time; its result goes to every
//     caller waiting for it, and only a successful result is cached.
//   - Every load goroutine belongs to the Cache: it ends when its load
//     returns, its context is cancelled once no caller waits for it, and
//     Close cancels and waits for all of them.
//
// Today there is only a memory tier. A disk tier (for footers and indexes
// that outlive a restart, or ranges too many for memory) may be added behind
// the same API, consulted between the memory tier and the load.
//
// cache is a leaf: it imports only the standard library and golang-lru/v2;
// no Strata package.
package cache
