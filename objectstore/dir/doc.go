// Package dir is an objectstore.Bucket kept in a local directory: Strata's
// default bucket, so that a first run needs no object store. It imports only
// objectstore (and golang.org/x/sys for flock and extended attributes).
//
// Layout under the bucket's root directory:
//
//	objects/<key>   one regular file per object; each '/' of a key is a
//	                subdirectory, so objects/topics/t/0/00000000000000000000.seg
//	tmp/            files being written, renamed into objects/ when complete
//	lock            a lock file for flock(2)
//
// Invariants:
//   - An object file is never modified in place: a write goes to a new file
//     in tmp/, which is fsynced, renamed over the object and followed by an
//     fsync of the object's directory (and of any directory the write
//     created). A reader therefore sees a whole old or a whole new object,
//     and a write that returned survives a crash.
//   - Writes and deletes commit under a mutex of the Bucket and an exclusive
//     flock on the lock file, so conditional writes are atomic against every
//     other writer, also one in another process using the same directory
//     (on a local file system; flock over NFS is not to be trusted). Only
//     the rename and the fsyncs happen under the lock, not the copying of
//     the body.
//   - The ETag is the hex of the first 128 bits of the body's SHA-256. It is
//     computed while writing and stored in the extended attribute
//     user.strata.etag of the object file; where the file system has no
//     extended attributes, or a file was put there by hand, it is computed
//     again from the content when needed.
//   - A key maps to a path only after objectstore.ValidateKey, and every path
//     is resolved through os.Root, so no key (or symlink) reaches outside the
//     root. As on MinIO, an object cannot have another object under its key
//     ("a" and "a/b" cannot both exist): such a Put fails with
//     objectstore.ErrInvalidKey. Delete removes the directories it empties.
//   - Temporary files left in tmp/ by a crash are removed by Open once they
//     are an hour old (younger ones may belong to a live writer in another
//     process).
package dir
