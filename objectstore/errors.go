package objectstore

import "errors"

// The sentinel errors of every Bucket. Backends wrap them with context
// (fmt.Errorf("get %q: %w", key, ErrNotExist)); callers test with errors.Is.
var (
	// ErrNotExist reports that the object does not exist: from Get, GetRange,
	// Head and PutIfMatch. It is final; retrying does not help.
	ErrNotExist = errors.New("object does not exist")

	// ErrPreconditionFailed reports that a conditional write lost: PutIfAbsent
	// found the object present, or PutIfMatch found a different ETag (or no
	// object). The bucket is unchanged by the failed call. It is final;
	// WithRetry never retries it.
	ErrPreconditionFailed = errors.New("object precondition failed")

	// ErrUnavailable reports a transient failure: throttling (503 SlowDown),
	// a 5xx answer, a timeout or a broken connection. The same call may
	// succeed later, and a write that reported it may or may not have
	// happened. Backends mark such errors with Unavailable; WithRetry retries
	// exactly these.
	ErrUnavailable = errors.New("object store unavailable")

	// ErrInvalidKey reports a key that ValidateKey rejects.
	ErrInvalidKey = errors.New("invalid object key")

	// ErrInvalidRange reports a GetRange with a negative offset or length, or
	// an offset beyond the end of the object.
	ErrInvalidRange = errors.New("invalid byte range")
)

// Unavailable marks err as transient: errors.Is(Unavailable(err),
// ErrUnavailable) holds, err stays reachable through errors.Is and
// errors.As, and the message is err's. It returns nil for a nil err.
func Unavailable(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, ErrUnavailable) {
		return err
	}
	return &unavailableError{err: err}
}

type unavailableError struct{ err error }

func (e *unavailableError) Error() string        { return e.err.Error() }
func (e *unavailableError) Unwrap() error        { return e.err }
func (e *unavailableError) Is(target error) bool { return target == ErrUnavailable }
