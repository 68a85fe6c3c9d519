// Package history reads a partition's history straight from a bucket that a
// Strata broker wrote, without a broker: the operator commands strata
// export and strata replay are built on it.
//
// Given a bucket, a topic ID, a partition and a Range, Partition.Segments
// walks the partition's manifest (tiering.Load, Manifest.Entries), keeps
// the entries that may hold records of the range (by their offsets and
// their min and max timestamps), fetches each segment object whole and
// yields its records, decompressed and filtered to the range, in offset
// order. Every object is verified before any of its records is yielded:
// its size against the manifest entry, the footer, the data and index
// CRCs and every batch's CRC (tiering.DecodeSegment), and the footer's
// offsets against the entry. A missing object wraps
// tiering.ErrMissingObject and a corrupt one tiering.ErrCorrupt; neither is
// ever skipped.
//
// It never writes to the bucket. It imports tiering, batch and objectstore,
// and nothing that knows the Kafka wire protocol.
package history
