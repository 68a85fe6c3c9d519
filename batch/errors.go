package batch

import "errors"

// Sentinel errors. Functions wrap them with the field and byte position at
// fault; callers test with errors.Is.
var (
	// ErrTruncated reports input that ends inside a batch: a torn log tail
	// or a short read. More bytes may complete it.
	ErrTruncated = errors.New("truncated record batch")

	// ErrCorrupt reports bytes that cannot be a well-formed batch: an
	// impossible length, a CRC mismatch, a bad varint, a record running past
	// its bounds, a stream that does not decompress.
	ErrCorrupt = errors.New("corrupt record batch")

	// ErrInvalidRecord reports a well-formed batch that a producer may not
	// send: no records, a record count or offset deltas that disagree with
	// the records, a control batch, an unknown codec. Kafka answers these
	// with INVALID_RECORD.
	ErrInvalidRecord = errors.New("invalid record batch")
)
