package objectstore

import (
	"context"
	"fmt"
	"iter"
	"strings"
	"time"
	"unicode/utf8"
)

// A Bucket stores objects: byte slices under string keys. Every method takes
// the context first and honours its cancellation and deadline. Keys must pass
// ValidateKey; a method given an invalid key returns ErrInvalidKey without
// touching the store. A Bucket is safe for concurrent use.
type Bucket interface {
	// Put stores body under key, replacing any object there, and returns the
	// new object's ETag.
	Put(ctx context.Context, key string, body []byte) (ETag, error)

	// PutIfAbsent stores body under key only if no object is there (a
	// create-only write). If one is, it returns ErrPreconditionFailed and the
	// object is unchanged.
	PutIfAbsent(ctx context.Context, key string, body []byte) (ETag, error)

	// PutIfMatch replaces the object under key with body only if the object's
	// current ETag is etag (compare-and-swap). If the ETag differs or there
	// is no object, it returns ErrPreconditionFailed and the bucket is
	// unchanged.
	PutIfMatch(ctx context.Context, key string, body []byte, etag ETag) (ETag, error)

	// Get returns the whole object under key and its Info, both of the same
	// version of the object. It returns ErrNotExist if there is none.
	Get(ctx context.Context, key string) ([]byte, Info, error)

	// GetRange returns up to n bytes of the object under key, starting at
	// byte off. A range that runs past the end returns the bytes that exist
	// (so off == size returns no bytes); an off beyond the end, or a
	// negative off or n, returns ErrInvalidRange. It returns ErrNotExist if
	// there is no object.
	GetRange(ctx context.Context, key string, off, n int64) ([]byte, error)

	// Head returns the Info of the object under key, or ErrNotExist.
	Head(ctx context.Context, key string) (Info, error)

	// List yields the Info of every object whose key starts with prefix, in
	// strictly increasing byte order of keys ("" lists the whole bucket).
	// Listing is not a snapshot: objects written or deleted during the
	// iteration may or may not appear. On failure it yields one non-nil
	// error with a zero Info and stops. Breaking out of the loop early is
	// fine and releases whatever the listing holds.
	List(ctx context.Context, prefix string) iter.Seq2[Info, error]

	// Delete removes the object under key. Deleting a missing object is not
	// an error, so Delete is idempotent.
	Delete(ctx context.Context, key string) error
}

// ETag identifies one version of one object. It is opaque: compare ETags only
// for equality and only with ETags from the same Bucket. Backends return it
// without the quotes HTTP puts around it.
type ETag string

// Info describes one object.
type Info struct {
	Key          string
	Size         int64
	ETag         ETag
	LastModified time.Time
}

// Op names a Bucket method, for decorators and fault injection.
type Op string

// The Bucket methods.
const (
	OpPut         Op = "put"
	OpPutIfAbsent Op = "put-if-absent"
	OpPutIfMatch  Op = "put-if-match"
	OpGet         Op = "get"
	OpGetRange    Op = "get-range"
	OpHead        Op = "head"
	OpList        Op = "list"
	OpDelete      Op = "delete"
)

// Ops lists every Op in the order the Bucket interface declares them.
var Ops = []Op{OpPut, OpPutIfAbsent, OpPutIfMatch, OpGet, OpGetRange, OpHead, OpList, OpDelete}

// MaxKeyBytes is the longest key a Bucket accepts, S3's limit.
const MaxKeyBytes = 1024

// ValidateKey reports whether key is one every backend stores the same way,
// the portable subset of S3 keys and file paths: 1 to MaxKeyBytes bytes of
// valid UTF-8 without control characters, made of '/'-separated segments of
// which none is empty, "." or "..". So a key neither starts nor ends with '/'
// and has no "//". The error wraps ErrInvalidKey.
//
// One more rule cannot be checked from the key alone: no key should name an
// object and also be the "directory" of others ("a/b" and "a/b/c"). S3
// allows it, the dir backend refuses the second write with ErrInvalidKey,
// and MinIO accepts it but then leaves "a/b/c" out of listings. Strata's
// keys never do it, and storetest does not test it.
func ValidateKey(key string) error {
	if key == "" {
		return fmt.Errorf("%w: empty key", ErrInvalidKey)
	}
	if len(key) > MaxKeyBytes {
		return fmt.Errorf("%w: key of %d bytes is longer than %d", ErrInvalidKey, len(key), MaxKeyBytes)
	}
	if err := validateChars(key); err != nil {
		return fmt.Errorf("%w: key %q: %v", ErrInvalidKey, key, err)
	}
	for seg := range strings.SplitSeq(key, "/") {
		switch seg {
		case "":
			return fmt.Errorf("%w: key %q has an empty segment (leading, trailing or double '/')", ErrInvalidKey, key)
		case ".", "..":
			return fmt.Errorf("%w: key %q has a %q segment", ErrInvalidKey, key, seg)
		}
	}
	return nil
}

// ValidatePrefix reports whether prefix may be passed to List: like a key it
// is valid UTF-8 without control characters and at most MaxKeyBytes long, but
// it may be empty and may end anywhere, also with '/'. The error wraps
// ErrInvalidKey.
func ValidatePrefix(prefix string) error {
	if len(prefix) > MaxKeyBytes {
		return fmt.Errorf("%w: prefix of %d bytes is longer than %d", ErrInvalidKey, len(prefix), MaxKeyBytes)
	}
	if err := validateChars(prefix); err != nil {
		return fmt.Errorf("%w: prefix %q: %v", ErrInvalidKey, prefix, err)
	}
	return nil
}

func validateChars(s string) error {
	if !utf8.ValidString(s) {
		return fmt.Errorf("not valid UTF-8")
	}
	for i, r := range s {
		if r < 0x20 || r == 0x7f {
			return fmt.Errorf("control character %U at byte %d", r, i)
		}
	}
	return nil
}

// ValidateRange checks the arguments of GetRange against an object of size
// bytes and returns the end of the range that exists (off+n, or size if that
// is smaller). The error wraps ErrInvalidRange. Backends that know the size
// use it so that every backend agrees on the edges.
func ValidateRange(off, n, size int64) (end int64, err error) {
	if off < 0 || n < 0 {
		return 0, fmt.Errorf("%w: offset %d, length %d", ErrInvalidRange, off, n)
	}
	if off > size {
		return 0, fmt.Errorf("%w: offset %d is beyond the end of a %d-byte object", ErrInvalidRange, off, size)
	}
	if n > size-off {
		return size, nil
	}
	return off + n, nil
}

// ErrorSeq returns a sequence that yields err once, for List implementations
// that fail before they start.
func ErrorSeq(err error) iter.Seq2[Info, error] {
	return func(yield func(Info, error) bool) { yield(Info{}, err) }
}
