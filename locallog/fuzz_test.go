package locallog

import (
	"bytes"
	"errors"
	"testing"

	"github.com/strata-io/strata/batch"
)

// FuzzDecodeProducers: a producer snapshot read from disk never panics the
// decoder, a failure wraps ErrCorrupt, and what decodes encodes back to the
// same bytes.
func FuzzDecodeProducers(f *testing.F) {
	ps := producers{}
	for pid := int64(1); pid <= 3; pid++ {
		for seq := int32(0); seq < 7; seq++ {
			ps.update(batch.Header{ProducerID: pid, ProducerEpoch: int16(pid), BaseSequence: seq * 2, LastOffsetDelta: 1}, int64(seq)*2)
		}
	}
	f.Add(ps.encode())
	f.Add(producers{}.encode())
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := decodeProducers(b)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v does not wrap ErrCorrupt", err)
			}
			return
		}
		back, err := decodeProducers(got.encode())
		if err != nil || !bytes.Equal(back.encode(), got.encode()) {
			t.Fatalf("decode → encode → decode changed the state: %v", err)
		}
	})
}
