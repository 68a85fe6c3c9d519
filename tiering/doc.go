// Package tiering moves sealed segments from the local tier to object
// storage and keeps the per-partition manifest that says which offsets live
// there.
//
// Bounds. Every partition keeps four offsets, each only ever growing:
//
//	logStart <= remoteEnd <= highWatermark <= logEnd
//
// [logStart, remoteEnd) is the remote tier, described by the partition's
// Manifest and served only from segment objects; [remoteEnd, logEnd) is the
// local tier. The Manifest in the bucket is the source of truth for logStart
// and remoteEnd: remoteEnd moves only by a successful Writer.Append, logStart
// only by Writer.Trim (retention, DeleteRecords), and neither is ever
// derived from local files. highWatermark and logEnd belong to the local
// log. Each offset has exactly one home: Manifest.Lookup resolves an offset
// of the remote tier to exactly one Entry, and nothing here merges or
// deduplicates records from two places.
//
// Objects. Under a partition prefix P ("topics/<topic id>/<partition>/",
// see PartitionPrefix; the bucket adds its own prefix, if any):
//
//	P+"manifest"                                        the head (see encodeHead)
//	P+"chunks/<firstBase %020d>-<random hex>"            immutable runs of entries
//	P+"segments/<base %020d>-<end %020d>-<epoch>-<random hex>"   segment objects
//
// A segment object (EncodeSegment, format SegmentVersion) is the segment's
// record batches byte-for-byte, its indexes, the local tier's producer
// snapshot as of the segment's end (opaque bytes here; version 2), and a
// footer of a size set by its version, whose last bytes have one layout in
// every version, so one ranged get of the last MaxFooterSize bytes reads
// the footer and a second one the index. Reader.ProducerSnapshot reads the
// snapshot of a partition's last segment when a rebuilt broker restores its
// idempotent-producer state; version 1 objects, which have none, still
// read. A commit of one more segment rewrites only the
// head, whose size is bounded by the number of chunk refs plus ChunkSize
// entries; every ChunkSize commits the head's tail moves into a new chunk.
//
// Fencing. The head carries the epoch of the one Writer that may commit.
// Acquire takes the stored epoch plus one by a conditional write; every
// commit is a conditional write on the head's ETag, so a writer whose epoch
// has been superseded loses its next commit, learns of the newer epoch, and
// returns ErrFenced from then on. A crash between a segment upload and its
// commit leaves an orphan object, never a second entry for an offset.
//
// Moving and reading. The Uploader takes sealed local segments (through the
// Source interface the broker implements over the local log) in order:
// put the object under a unique key, verify it, commit the manifest entry,
// and only then tell the local tier its new remote end, so nothing leaves
// the local disk before it is committed; Sweep deletes orphans no commit can
// still reference. The Reader answers a read of the remote tier from the one
// Entry that holds the offset: footer and index through the cache (keys
// K#footer, K#index), data in aligned blocks (K#<start>-<end>) fetched once
// for concurrent readers, read ahead for sequential ones, every returned
// batch's CRC checked.
//
// tiering imports index, batch, cache and objectstore, and nothing that
// knows the Kafka wire protocol.
package tiering
