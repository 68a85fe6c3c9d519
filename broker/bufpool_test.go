package broker

import "testing"

func TestGetBufHoldsTheAskedSizeInEveryClass(t *testing.T) {
	for _, n := range []int{0, 1, minPooledBuf - 1, minPooledBuf, minPooledBuf + 1, 3 << 20, 4 << 20, 4<<20 + 1, maxPooledBuf - 1, maxPooledBuf, maxPooledBuf + 1} {
		b := getBuf(n)
		if len(b) != 0 || cap(b) < n {
			t.Fatalf("getBuf(%d): len %d cap %d", n, len(b), cap(b))
		}
		b = b[:n]
		putBuf(b)
		// Whatever the pools now hold, every class serves its size.
		if c := getBuf(n); len(c) != 0 || cap(c) < n {
			t.Fatalf("getBuf(%d) after a put: len %d cap %d", n, len(c), cap(c))
		}
	}
}

func TestPutBufFilesABufferWhereItServesEveryRequest(t *testing.T) {
	// A buffer that grew to an odd capacity goes to the class below it: a
	// get from that class must never receive a buffer too small.
	for _, n := range []int{minPooledBuf, minPooledBuf + 12345, 5<<20 + 7, maxPooledBuf} {
		for c := range bufPools {
			for bufPools[c].Get() != nil {
			}
		}
		putBuf(make([]byte, 0, n))
		for c := range bufPools {
			if p, ok := bufPools[c].Get().(*[]byte); ok {
				if cap(*p) < minPooledBuf<<c {
					t.Fatalf("capacity %d filed in class %d (%d bytes)", cap(*p), c, minPooledBuf<<c)
				}
			}
		}
	}
}
