// Package batch reads and checks Kafka record batches (magic v2), the unit
// in which producers send records, Strata stores them in log segments and
// consumers fetch them.
//
// The broker calls Validate on every batch a producer sends, then stamps
// the batch with its offset and leader epoch through SetBaseOffset and
// SetLeaderEpoch, which touch only fields the CRC does not cover, so the
// stored bytes stay the producer's bytes. Log recovery walks a segment with
// ScanVerify and cuts the tail at the first batch it reports as truncated
// or corrupt; readers that trust the log walk it with Scan. Records decodes
// one batch's records for code that needs their contents.
//
// Invariants:
//
//   - Bytes from a client, a disk or a bucket never panic this package:
//     every length and varint is bounds checked and failures return
//     ErrTruncated, ErrCorrupt or ErrInvalidRecord, wrapped with the field
//     and byte position at fault. Only the setters, whose callers have
//     already validated the batch, may panic on a short slice.
//   - Allocation is bounded by the input: record counts are checked against
//     the bytes that could hold them before any slice is sized, and a
//     compressed batch may decompress to at most 256 MiB.
//   - Nothing here copies record bytes: Scan hands out subslices of its
//     input, and Records returns keys and values that alias the batch (or
//     its freshly decompressed records).
//
// batch is a leaf: it imports the standard library and the codec libraries
// Kafka clients use (klauspost/compress for gzip, snappy and zstd,
// pierrec/lz4), and nothing of Strata's.
package batch
