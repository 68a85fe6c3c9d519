// Package index holds the sparse offset and time indexes of one segment and
// their binary encoding.
//
// An index maps a record batch's position in a segment's bytes so that a
// reader can seek close to an offset or a timestamp and scan forward from
// there. Entries are sparse (one every few KiB of batches), relative to the
// segment's base offset, and strictly increasing in both columns, which is
// what makes Lookup a binary search.
//
// The same encoding is used for local segments (locallog) and for the index
// section of segment objects in the bucket (tiering), since both describe the
// same bytes. index is a leaf: it imports only the standard library.
package index
