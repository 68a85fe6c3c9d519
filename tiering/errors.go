package tiering

import "errors"

// Sentinel errors. Functions wrap them with the object, field or offset at
// fault; callers test with errors.Is.
var (
	// ErrCorrupt reports bytes from the bucket that cannot be what this
	// package wrote: a bad magic, version, length, checksum or field, or a
	// manifest whose entries break its invariants. A reader must not serve
	// what it describes; retrying the read may help if the object is being
	// replaced, otherwise the object needs repair.
	ErrCorrupt = errors.New("tiering: corrupt object")

	// ErrFenced reports that a writer with a higher epoch has taken over the
	// partition's manifest. The Writer that returns it never writes again.
	// The call that returned it did not change the manifest, unless its
	// head write reported a failure yet happened and the newer writer then
	// took over from that head.
	ErrFenced = errors.New("tiering: fenced by a newer writer")

	// ErrOutOfRange reports an offset outside the remote tier,
	// [LogStartOffset, RemoteEnd), given to Lookup, or a bound that would
	// move the tier wrongly: a Trim beyond RemoteEnd, a StartAt below it.
	ErrOutOfRange = errors.New("tiering: offset out of range")

	// ErrNotContiguous reports an Append whose entry does not start at the
	// manifest's RemoteEnd and is not the entry already committed there.
	ErrNotContiguous = errors.New("tiering: entry is not contiguous with the manifest")

	// ErrMissingObject reports a segment object that a manifest entry names but
	// the bucket does not hold: a ranged get answered objectstore.ErrNotExist.
	// Errors wrapping it wrap the bucket's ErrNotExist too. Like ErrCorrupt it
	// means the offsets of the entry cannot be served: the broker answers
	// KAFKA_STORAGE_ERROR and logs it, and never moves a consumer past
	// the entry. Retrying helps only once a newer manifest no longer lists the
	// entry (retention removed it) or the object is restored.
	ErrMissingObject = errors.New("tiering: segment object missing")
)
