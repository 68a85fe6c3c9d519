package locallog

import "errors"

var (
	// ErrOffsetOutOfRange: the offset is below logStart or above the high watermark.
	ErrOffsetOutOfRange = errors.New("locallog: offset out of range")
	// ErrOutOfOrderSequence: an idempotent batch's sequence does not follow the
	// producer's last one for this partition.
	ErrOutOfOrderSequence = errors.New("locallog: out of order sequence number")
	// ErrInvalidProducerEpoch: the batch's producer epoch is older than the
	// newest epoch seen for its producer id.
	ErrInvalidProducerEpoch = errors.New("locallog: invalid producer epoch")
	// ErrCorrupt: bytes on local disk failed validation.
	ErrCorrupt = errors.New("locallog: corrupt data")
	// ErrClosed: the partition or log has been closed or removed.
	ErrClosed = errors.New("locallog: closed")
	// ErrNotEmpty: SkipTo on a partition that holds records.
	ErrNotEmpty = errors.New("locallog: partition not empty")
)
