package broker

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Errors that end a connection: the protocol has no way to answer them.
var (
	errFrameTooLarge = errors.New("frame larger than the maximum request size")
	errFrameTooSmall = errors.New("frame too small for a request header")
	errUnknownAPI    = errors.New("unknown API key")
	errBadVersion    = errors.New("unsupported API version")
	errMalformed     = errors.New("malformed request")
)

// A frame on the wire is a 4-byte big-endian length followed by that many
// bytes. A request frame starts with the request header:
//
//	int16   api key
//	int16   api version
//	int32   correlation id
//	string  client id (int16 length, -1 for null)
//	tags    tagged fields, only in flexible versions (header v2)
//
// and the request body follows. A response frame starts with the
// correlation id, then an empty tagged-field section on flexible versions
// except ApiVersions (whose response header is always v0), then the body.
const (
	frameSizeLen = 4
	// minRequestHeader is key, version, correlation id and client id length.
	minRequestHeader = 2 + 2 + 4 + 2
)

// frameChunk is the most a frame's buffer is allocated ahead of the bytes
// that have arrived: a frame up to it is read into one buffer of its size,
// a larger one into a buffer that doubles as the bytes come, so a client
// that announces a large frame and sends little holds little memory.
const frameChunk = 1 << 20

// readFrame reads one length-prefixed frame from r. It returns
// errFrameTooLarge for a length above maxBytes and errFrameTooSmall for one
// that cannot hold a request header, both before reading the body, and
// io.ErrUnexpectedEOF for a frame cut short. A clean io.EOF before the
// first byte means the peer closed the connection between requests.
// started, if not nil, is called once the length has been read.
func readFrame(r io.Reader, maxBytes int32, started func()) ([]byte, error) {
	return readSizedFrame(r, minRequestHeader, maxBytes, started)
}

// readSizedFrame is readFrame for frames of minBytes to maxBytes: a raw
// SASL token (sasl.go) has no request header and may be empty.
func readSizedFrame(r io.Reader, minBytes, maxBytes int32, started func()) ([]byte, error) {
	var size [frameSizeLen]byte
	if _, err := io.ReadFull(r, size[:]); err != nil {
		return nil, err
	}
	if started != nil {
		started()
	}
	n := int32(binary.BigEndian.Uint32(size[:]))
	switch {
	case n < 0 || n > maxBytes:
		return nil, fmt.Errorf("%w: %d bytes, limit %d", errFrameTooLarge, uint32(n), maxBytes)
	case n < minBytes:
		return nil, fmt.Errorf("%w: %d bytes", errFrameTooSmall, n)
	}
	frame := make([]byte, 0, min(int(n), frameChunk))
	for len(frame) < int(n) {
		if len(frame) == cap(frame) {
			frame = slices.Grow(frame, min(int(n)-len(frame), cap(frame)))
		}
		k, err := io.ReadFull(r, frame[len(frame):min(cap(frame), int(n))])
		frame = frame[:len(frame)+k]
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return nil, fmt.Errorf("frame of %d bytes: %w", n, err)
		}
	}
	return frame, nil
}

// requestHeader is the part of a request every API and version shares.
type requestHeader struct {
	key      int16
	version  int16
	corr     int32
	clientID string // empty for a null client id
}

// decodeRequest parses one request frame. It returns errUnknownAPI for a key
// the broker does not speak, errBadVersion for a version outside the
// advertised range and errMalformed for a body that does not decode; in each
// case the header is filled as far as it was read. For ApiVersions a bad
// version is not fatal: the caller answers it (KIP-511).
//
// The request aliases frame: byte fields such as record batches are
// subslices of it.
func decodeRequest(frame []byte) (requestHeader, kmsg.Request, error) {
	var h requestHeader
	if len(frame) < minRequestHeader {
		return h, nil, fmt.Errorf("%w: %d bytes", errFrameTooSmall, len(frame))
	}
	r := kbin.Reader{Src: frame}
	h.key = r.Int16()
	h.version = r.Int16()
	h.corr = r.Int32()
	if id := r.NullableString(); id != nil {
		h.clientID = *id
	}
	if err := r.Complete(); err != nil {
		return h, nil, fmt.Errorf("%w: header cut short", errMalformed)
	}
	a := lookupAPI(h.key)
	if a == nil {
		return h, nil, fmt.Errorf("%w %d", errUnknownAPI, h.key)
	}
	if h.version < a.min || h.version > a.max {
		return h, nil, fmt.Errorf("%w: %s v%d, supported v%d-v%d", errBadVersion, kmsg.NameForKey(h.key), h.version, a.min, a.max)
	}
	req := kmsg.RequestForKey(h.key)
	req.SetVersion(h.version)
	if req.IsFlexible() {
		kmsg.SkipTags(&r)
		if err := r.Complete(); err != nil {
			return h, nil, fmt.Errorf("%w: %s v%d: header tags cut short", errMalformed, kmsg.NameForKey(h.key), h.version)
		}
	}
	if err := req.ReadFrom(r.Src); err != nil {
		// kmsg's only decoding error names a response; say what it means.
		return h, nil, fmt.Errorf("%w: %s v%d: body cut short or a length beyond it", errMalformed, kmsg.NameForKey(h.key), h.version)
	}
	return h, req, nil
}

// appendResponse appends the frame for resp, answering correlation id corr,
// to dst.
func appendResponse(dst []byte, corr int32, resp kmsg.Response) []byte {
	dst = slices.Grow(dst, sizeHint(resp))
	start := len(dst)
	dst = append(dst, 0, 0, 0, 0) // size, filled in below
	dst = binary.BigEndian.AppendUint32(dst, uint32(corr))
	if resp.IsFlexible() && resp.Key() != int16(kmsg.ApiVersions) {
		dst = append(dst, 0) // response header v1: no tagged fields
	}
	dst = resp.AppendTo(dst)
	binary.BigEndian.PutUint32(dst[start:], uint32(len(dst)-start-frameSizeLen))
	return dst
}

// sizeHintSlack is room above sizeHint for what it does not count (error
// messages, tagged fields), so that a buffer of sizeHint+sizeHintSlack
// bytes rarely has to grow while the answer is encoded into it.
const sizeHintSlack = 4 << 10

// sizeHint is a lower bound on the encoded size of resp where most of it is
// record data, so that a large fetch answer is encoded into one buffer of
// the right size instead of one that doubles a dozen times.
func sizeHint(resp kmsg.Response) int {
	var f *kmsg.FetchResponse
	n := 64
	switch r := resp.(type) {
	case *kmsg.FetchResponse:
		f = r
		for i := range f.Topics {
			for j := range f.Topics[i].Partitions {
				n += len(f.Topics[i].Partitions[j].RecordBatches)
			}
		}
	case *fetchAnswer:
		// Its record data is in its parts until AppendTo joins them.
		f, n = r.FetchResponse, n+r.recordBytes()
	default:
		return 0
	}
	for i := range f.Topics {
		n += len(f.Topics[i].Topic) + 32 + 64*len(f.Topics[i].Partitions)
	}
	return n
}

// request is one decoded request on its way through a handler.
type request struct {
	requestHeader
	kreq kmsg.Request
	at   time.Time // when the frame was read; fetch MaxWait counts from here
	host string    // the client's address as Kafka reports it ("/127.0.0.1")
	// listener is the listener the request came in on; answers that name
	// the broker give its advertised address.
	listener *listener
	// principal is who the client is, as ACLs name it: "User:alice", or
	// auth.Anonymous for a client that did not authenticate.
	principal string
	// conn is the connection the request came on; only the SASL handlers,
	// which change its authentication, use it.
	conn *conn

	// ctx ends when the connection is torn down; waits for durability use
	// it. pollCtx also ends when the broker starts shutting down, so that
	// long polls answer at once with what they have.
	ctx     context.Context
	pollCtx context.Context
}

// reply is a handler's answer. Most handlers answer at once with resp. A
// handler that must wait (acks=all produce, long-poll fetch) does its
// ordered work first (the append) and returns finish, which the connection
// runs on its own goroutine so the next request can be read and appended
// meanwhile; responses still go out in request order.
type reply struct {
	resp   kmsg.Response
	finish func() kmsg.Response

	// noResponse is set for acks=0 produce: nothing is written back.
	noResponse bool
	// closeConn asks the connection to close after this request: Kafka
	// does so when an acks=0 produce fails, as the producer could not
	// learn of the failure otherwise.
	closeConn bool
}
