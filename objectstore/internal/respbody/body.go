package respbody

import (
	"errors"
	"fmt"
	"io"
)

// MaxBytes is the largest announced length Read allocates for (S3's limit
// for a single PUT); a larger one is an error, not an allocation.
const MaxBytes = 5 << 30

// ErrLength reports a body shorter or longer than announced, or an
// announced length over MaxBytes.
var ErrLength = errors.New("response body length")

// Read reads r, whose length was announced as size (-1 if unknown), into a
// slice of exactly that length, allocating once. A body that ends early or
// runs on is an error wrapping ErrLength (and io.ErrUnexpectedEOF when it
// ends early).
func Read(r io.Reader, size int64) ([]byte, error) {
	if size < 0 {
		return io.ReadAll(r)
	}
	if size > MaxBytes {
		return nil, fmt.Errorf("%w: %d bytes announced, more than %d", ErrLength, size, int64(MaxBytes))
	}
	buf := make([]byte, size)
	if n, err := io.ReadFull(r, buf); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, fmt.Errorf("%w: got %d of %d bytes: %w", ErrLength, n, size, err)
	}
	var extra [1]byte
	if n, _ := io.ReadFull(r, extra[:]); n > 0 {
		return nil, fmt.Errorf("%w: more than the %d bytes announced", ErrLength, size)
	}
	return buf, nil
}
