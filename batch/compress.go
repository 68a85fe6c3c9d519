package batch

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"runtime"
	"slices"
	"sync"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
)

// maxDecompressed bounds what one batch's records may decompress to. Kafka
// clients fetch at most a few MiB per partition, so a larger batch is an
// attack or damage, not data.
const maxDecompressed = 256 << 20

// decompressLimit is maxDecompressed; fuzz tests lower it so that a
// mutated length claim cannot allocate hundreds of MiB per input.
var decompressLimit = maxDecompressed

// errTooLarge reports records that would decompress past the limit.
var errTooLarge = errors.New("decompressed size exceeds the limit")

// xerialMagic opens snappy records framed the way the Java producer writes
// them: the magic, two int32 versions, then chunks of an int32 length and a
// raw snappy block. Other clients write one raw snappy block.
var xerialMagic = []byte{0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0}

// gzipPool holds *gzip.Reader values, whose inflate state is the bulk of
// a gzip decode's allocation.
var gzipPool sync.Pool

// decompress returns the records region src decompressed with codec c,
// allocating no more than about twice limit. It calls the codec libraries
// directly because franz-go's DefaultDecompressor bounds a batch only at
// 2 GiB, and its zstd and snappy paths allocate a frame's declared size, up
// to that bound, before decoding a byte.
func decompress(c Codec, src []byte, limit int) ([]byte, error) {
	switch c {
	case CodecGzip:
		zr, _ := gzipPool.Get().(*gzip.Reader)
		if zr == nil {
			zr = new(gzip.Reader)
		}
		defer gzipPool.Put(zr)
		if err := zr.Reset(bytes.NewReader(src)); err != nil {
			return nil, err
		}
		return readLimited(zr, limit)
	case CodecSnappy:
		if len(src) >= 16 && bytes.HasPrefix(src, xerialMagic) {
			return unxerial(src[16:], limit)
		}
		return unsnappy(nil, src, limit)
	case CodecLZ4:
		return readLimited(lz4.NewReader(bytes.NewReader(src)), limit)
	case CodecZstd:
		return unzstd(src, limit)
	}
	return nil, fmt.Errorf("unknown codec %d", int8(c))
}

// readLimited reads r to its end, failing once it yields more than limit
// bytes.
func readLimited(r io.Reader, limit int) ([]byte, error) {
	var buf bytes.Buffer
	n, err := buf.ReadFrom(io.LimitReader(r, int64(limit)+1))
	if err != nil {
		return nil, err
	}
	if n > int64(limit) {
		return nil, errTooLarge
	}
	return buf.Bytes(), nil
}

// unxerial decodes xerial-framed snappy chunks, the header already skipped.
func unxerial(src []byte, limit int) ([]byte, error) {
	var out []byte
	for len(src) > 0 {
		if len(src) < 4 {
			return nil, errors.New("xerial: truncated chunk length")
		}
		size := binary.BigEndian.Uint32(src)
		src = src[4:]
		if uint64(size) > uint64(len(src)) {
			return nil, fmt.Errorf("xerial: chunk length %d, %d bytes left", size, len(src))
		}
		var err error
		if out, err = unsnappy(out, src[:size], limit); err != nil {
			return nil, err
		}
		src = src[size:]
	}
	return out, nil
}

// unsnappy appends the decoded snappy block src to dst, checking the
// block's declared length against what limit leaves before allocating.
func unsnappy(dst, src []byte, limit int) ([]byte, error) {
	n, err := s2.DecodedLen(src)
	if err != nil {
		return nil, err
	}
	if n > limit-len(dst) {
		return nil, errTooLarge
	}
	dst = slices.Grow(dst, n)
	if _, err := s2.Decode(dst[len(dst):len(dst)+n], src); err != nil {
		return nil, err
	}
	return dst[:len(dst)+n], nil
}

// zstdDecoder is a pooled zstd decoder and the limit it was built with.
type zstdDecoder struct {
	*zstd.Decoder
	limit int
}

var zstdPool sync.Pool

// unzstd decodes the zstd frames in src. The decoder refuses a frame whose
// declared size or window exceeds limit before allocating for it, and
// counts all frames against limit as it decodes.
func unzstd(src []byte, limit int) ([]byte, error) {
	d, _ := zstdPool.Get().(*zstdDecoder)
	if d == nil || d.limit != limit {
		zd, err := zstd.NewReader(nil,
			zstd.WithDecoderConcurrency(1),
			zstd.WithDecoderLowmem(true),
			zstd.WithDecoderMaxMemory(uint64(limit)),
			zstd.WithDecoderMaxWindow(uint64(max(limit, zstd.MinWindowSize))),
		)
		if err != nil {
			return nil, err
		}
		d = &zstdDecoder{Decoder: zd, limit: limit}
		runtime.AddCleanup(d, func(zd *zstd.Decoder) { zd.Close() }, zd)
	}
	defer zstdPool.Put(d)
	return d.DecodeAll(src, nil)
}
