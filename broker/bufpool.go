package broker

import (
	"math/bits"
	"sync"
)

// Large response buffers (fetch answers of up to maxFetchBytes) are reused
// through size-classed pools. A fresh buffer of many megabytes is zeroed by
// the runtime and page-faulted in 4 KiB at a time as it is first written:
// in a catch-up read from the bucket that was a seventh of the process's CPU
// (BENCHMARKS.md), spent on bytes that were overwritten at once. A reused
// buffer costs neither. Pooled buffers are dropped by the garbage collector
// like any sync.Pool entry, so an idle broker holds none for long.
const (
	minPooledShift = 20 // 1 MiB: smaller answers use the connection's own buffer
	maxPooledShift = 26 // 64 MiB
	minPooledBuf   = 1 << minPooledShift
	maxPooledBuf   = 1 << maxPooledShift
)

// bufPools[i] holds buffers whose capacity is at least minPooledBuf<<i.
var bufPools [maxPooledShift - minPooledShift + 1]sync.Pool

// bufClass returns the pool of buffers of at least n bytes, or -1 if n is
// beyond the largest class.
func bufClass(n int) int {
	if n <= minPooledBuf {
		return 0
	}
	c := bits.Len(uint(n-1)) - minPooledShift
	if c >= len(bufPools) {
		return -1
	}
	return c
}

// getBuf returns an empty buffer with a capacity of at least n bytes.
func getBuf(n int) []byte {
	c := bufClass(n)
	if c < 0 {
		return make([]byte, 0, n)
	}
	if p, ok := bufPools[c].Get().(*[]byte); ok {
		return (*p)[:0]
	}
	return make([]byte, 0, minPooledBuf<<c)
}

// putBuf gives b back for reuse; the caller must not use it afterwards. A
// buffer outside the pooled sizes is left to the garbage collector.
func putBuf(b []byte) {
	n := cap(b)
	if n < minPooledBuf || n > maxPooledBuf {
		return
	}
	// The class whose every buffer b can serve: the largest power of two
	// (times minPooledBuf) not above its capacity.
	c := bits.Len(uint(n)) - 1 - minPooledShift
	b = b[:0]
	bufPools[c].Put(&b)
}
