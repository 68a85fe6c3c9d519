// Package failpoint kills the process at a named point of the code, for
// crash tests: a binary built with the build tag "failpoints" and started
// with STRATA_CRASH_AT=<name> (or <name>@<n>, the n-th time the point is
// reached) logs "crash failpoint reached: <name>" to stderr and exits with
// status 137 there, as kill -9 would leave it: no deferred work, no flush,
// no fsync. Without the tag, Hit is an empty function the compiler inlines
// away: release builds carry no failpoints.
//
// The points, in the order a record meets them:
//
//	segment-written     locallog: a batch is in its segment file, not yet in the WAL
//	wal-written         locallog: in the WAL too, not yet fsynced
//	wal-synced          locallog: the WAL fsync returned, the high watermark not yet moved
//	sealed              locallog: a segment sealed (fsynced, index written), not yet uploaded
//	after-put           tiering: the segment object stored, not verified
//	after-verify        tiering: verified, not committed to the manifest
//	after-commit        tiering: committed, the local tier not yet told
//	local-retention     locallog: the log start moved, the segment files not yet deleted
//	remote-trim         broker: the manifest trimmed, the objects not yet deleted
//	group-commit        broker: a group's offsets saved locally, neither answered nor in the bucket
package failpoint
