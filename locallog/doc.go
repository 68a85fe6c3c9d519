// Package locallog is Strata's local tier: the durable write buffer that
// every produced record enters first.
//
// A Log is a directory of partitions; a Partition is a directory of segment
// files named by their base offset (%020d.log), each a run of Kafka record
// batches stored byte-for-byte as the producer sent them after offset
// assignment. Sealed segments carry a metadata file (%020d.idx) with their
// sparse offset and time indexes (package index); the active segment's
// indexes live in memory and are rebuilt by the recovery scan.
//
// Bounds. Each partition keeps three offsets, each only ever growing:
//
//	logStart <= highWatermark <= logEnd
//
// logEnd moves on Append; highWatermark is the end of what consumers may read
// (with FsyncAlways the end of what is durable, moved by the group commit of
// the write-ahead log in WaitDurable and by the Log's flusher; otherwise
// logEnd); logStart moves by retention and DeleteRecords and is checkpointed
// in the file "logstart".
//
// Write-ahead log (FsyncAlways). Every append also goes to one broker-wide
// WAL (wal-%020d.log in the Log's directory) and a group commit fdatasyncs
// only that file, so one fsync acknowledges every partition's appends:
// per-file fsyncs cost one journal commit each on ext4. Segment files are
// fsynced when sealed and at checkpoints, after which older WAL files are
// kept as spares to be overwritten (recycled) or deleted; recovery replays
// WAL records beyond each partition's recovered end.
// The tiering issue adds remoteEnd between logStart and highWatermark.
//
// Read answers from exactly one segment: the one whose range holds the
// offset. It never stitches bytes from two segments together.
//
// Concurrency. Appends to one partition are serialized by Partition.mu;
// reads hold mu only long enough to pick a segment and pin it, then read
// with pread, so they run concurrently with appends. Segment fsyncs are
// serialized by Partition.syncMu, taken before mu when both are held; the
// WAL's syncMu and mu, and Log.pendMu, are leaves taken under a Partition's
// mu, never before it. Segments are
// reference-counted so retention can unlink a segment a reader still uses.
//
// Recovery. Open validates the active (last) segment batch by batch and cuts
// the file at the first torn or corrupt batch; sealed segments are trusted
// through their .idx file, or rescanned when it is missing or damaged.
// Idempotent-producer state is restored from the newest snapshot
// (%020d.snapshot) and the batches after it. A snapshot is written at each
// seal, at the sealed segment's end; the two newest are kept, and in a
// tiered partition also each sealed segment's until the remote end passes
// it, since ReadSealed uploads it with the segment. A partition rebuilt
// from the remote tier gets its producer state from there
// (RestoreProducers).
//
// locallog imports index and batch (the record-batch format), nothing else of
// Strata's, and knows nothing of the Kafka wire protocol.
package locallog
