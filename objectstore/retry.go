package objectstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"iter"
	"math/rand/v2"
	"time"
)

// RetryConfig says how WithRetry retries. The zero value is usable: every
// zero field takes the default named in its comment.
type RetryConfig struct {
	// MaxAttempts is the number of tries of one call, the first included
	// (default 5). List counts the tries since it last made progress.
	MaxAttempts int
	// BaseDelay is the backoff before the second try (default 100ms); each
	// later try doubles it, up to MaxDelay.
	BaseDelay time.Duration
	// MaxDelay caps one backoff (default 5s).
	MaxDelay time.Duration
	// Sleep waits for d or until ctx is done, and then returns ctx.Err()
	// (default: a timer). Tests inject one that records d and returns at
	// once.
	Sleep func(ctx context.Context, d time.Duration) error
	// Jitter returns a number in [0, 1) by which a backoff is scaled (full
	// jitter; default math/rand/v2.Float64).
	Jitter func() float64
	// OnRetry, if set, is called before each backoff with the operation, the
	// number of the try that failed (1 for the first), its error and the
	// delay before the next try; use it to count or log retries.
	OnRetry func(op Op, attempt int, err error, delay time.Duration)
	// AttemptTimeout bounds one try of a call other than List (default
	// 2m): a store that stops answering (a hung connection, a stalled
	// server) fails the try as ErrUnavailable, which is retried, instead of
	// holding the caller for ever. It must exceed the time to move the
	// largest object over the slowest link the store is used over.
	AttemptTimeout time.Duration
}

// Defaults of RetryConfig.
const (
	DefaultMaxAttempts    = 5
	DefaultBaseDelay      = 100 * time.Millisecond
	DefaultMaxDelay       = 5 * time.Second
	DefaultAttemptTimeout = 2 * time.Minute
)

func (c RetryConfig) withDefaults() RetryConfig {
	if c.MaxAttempts <= 0 {
		c.MaxAttempts = DefaultMaxAttempts
	}
	if c.BaseDelay <= 0 {
		c.BaseDelay = DefaultBaseDelay
	}
	if c.MaxDelay <= 0 {
		c.MaxDelay = DefaultMaxDelay
	}
	if c.MaxDelay < c.BaseDelay {
		c.MaxDelay = c.BaseDelay
	}
	if c.Sleep == nil {
		c.Sleep = sleep
	}
	if c.AttemptTimeout <= 0 {
		c.AttemptTimeout = DefaultAttemptTimeout
	}
	if c.Jitter == nil {
		c.Jitter = rand.Float64
	}
	return c
}

// Backoff returns the delay after the given failed try (1 for the first):
// BaseDelay doubled attempt-1 times, capped at MaxDelay, scaled by Jitter.
// Loops that retry on their own (an uploader) use it to share the policy.
func (c RetryConfig) Backoff(attempt int) time.Duration {
	c = c.withDefaults()
	d := c.MaxDelay
	if attempt < 1 {
		attempt = 1
	}
	if shift := attempt - 1; shift < 62 && c.BaseDelay<<shift > 0 && c.BaseDelay<<shift < c.MaxDelay {
		d = c.BaseDelay << shift
	}
	return time.Duration(float64(d) * c.Jitter())
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// WithRetry returns a Bucket that retries b's calls that fail with
// ErrUnavailable, with capped, jittered exponential backoff, at most
// cfg.MaxAttempts tries per call and never past the context's end. Other
// errors (ErrNotExist, ErrPreconditionFailed, ErrInvalidKey, …) return at
// once. The last error is returned as it was; if the context ended during a
// backoff, the error also matches the context's error.
//
// A write that failed with ErrUnavailable may still have happened. For Put
// and Delete that is harmless. For the conditional writes it is not: the
// retry of a PutIfAbsent or PutIfMatch whose earlier try succeeded finds its
// own object and fails its precondition. So when a conditional write fails
// its precondition after an earlier try was unavailable, WithRetry reads the
// object: if it holds exactly body, the write is reported as successful with
// the object's ETag; otherwise ErrPreconditionFailed stands (and the earlier
// try may still have happened and since been overwritten). If the read fails
// the call reports ErrUnavailable: its outcome is unknown.
//
// List retries by listing again and skipping the keys it has already
// yielded, so the caller sees each key at most once and in order.
func WithRetry(b Bucket, cfg RetryConfig) Bucket {
	return &retrying{b: b, cfg: cfg.withDefaults()}
}

type retrying struct {
	b   Bucket
	cfg RetryConfig
}

func (r *retrying) String() string { return Describe(r.b) }

// do calls f until it succeeds, fails with an error other than
// ErrUnavailable, the tries run out, or ctx ends. Each try gets a context
// that ends after AttemptTimeout; a try that fails because that ran out
// (ctx itself still running) counts as ErrUnavailable. It reports whether
// any try failed with ErrUnavailable.
func (r *retrying) do(ctx context.Context, op Op, f func(ctx context.Context) error) (unavailableSeen bool, err error) {
	for attempt := 1; ; attempt++ {
		actx, cancel := context.WithTimeout(ctx, r.cfg.AttemptTimeout)
		err = f(actx)
		if err != nil && actx.Err() != nil && ctx.Err() == nil {
			err = Unavailable(fmt.Errorf("%s: no answer within %v: %w", op, r.cfg.AttemptTimeout, err))
		}
		cancel()
		if err == nil || !errors.Is(err, ErrUnavailable) {
			return unavailableSeen, err
		}
		unavailableSeen = true
		if attempt >= r.cfg.MaxAttempts {
			return true, err
		}
		if err := r.backoff(ctx, op, attempt, err); err != nil {
			return true, err
		}
	}
}

// backoff waits before the try after attempt, which failed with err. If
// the context ends first, it returns err joined with the context's error.
func (r *retrying) backoff(ctx context.Context, op Op, attempt int, err error) error {
	if ctx.Err() == nil {
		d := r.cfg.Backoff(attempt)
		if r.cfg.OnRetry != nil {
			r.cfg.OnRetry(op, attempt, err, d)
		}
		if r.cfg.Sleep(ctx, d) == nil {
			return nil
		}
	}
	return fmt.Errorf("%w (not retried: %w)", err, ctx.Err())
}

func (r *retrying) Put(ctx context.Context, key string, body []byte) (etag ETag, err error) {
	_, err = r.do(ctx, OpPut, func(ctx context.Context) (err error) {
		etag, err = r.b.Put(ctx, key, body)
		return err
	})
	return etag, err
}

func (r *retrying) PutIfAbsent(ctx context.Context, key string, body []byte) (etag ETag, err error) {
	ambiguous, err := r.do(ctx, OpPutIfAbsent, func(ctx context.Context) (err error) {
		etag, err = r.b.PutIfAbsent(ctx, key, body)
		return err
	})
	if ambiguous && errors.Is(err, ErrPreconditionFailed) {
		return r.resolve(ctx, key, body, err)
	}
	return etag, err
}

func (r *retrying) PutIfMatch(ctx context.Context, key string, body []byte, match ETag) (etag ETag, err error) {
	ambiguous, err := r.do(ctx, OpPutIfMatch, func(ctx context.Context) (err error) {
		etag, err = r.b.PutIfMatch(ctx, key, body, match)
		return err
	})
	if ambiguous && errors.Is(err, ErrPreconditionFailed) {
		return r.resolve(ctx, key, body, err)
	}
	return etag, err
}

// resolve settles a conditional write that failed its precondition after an
// earlier try had an unknown outcome, by reading back the object.
func (r *retrying) resolve(ctx context.Context, key string, body []byte, precondErr error) (ETag, error) {
	got, info, err := r.Get(ctx, key)
	switch {
	case errors.Is(err, ErrNotExist):
		return "", precondErr
	case err != nil:
		return "", Unavailable(fmt.Errorf("conditional write of %q: outcome unknown (%v), and reading it back failed: %w", key, precondErr, err))
	case bytes.Equal(got, body):
		return info.ETag, nil
	default:
		return "", precondErr
	}
}

func (r *retrying) Get(ctx context.Context, key string) (body []byte, info Info, err error) {
	_, err = r.do(ctx, OpGet, func(ctx context.Context) (err error) {
		body, info, err = r.b.Get(ctx, key)
		return err
	})
	return body, info, err
}

func (r *retrying) GetRange(ctx context.Context, key string, off, n int64) (body []byte, err error) {
	_, err = r.do(ctx, OpGetRange, func(ctx context.Context) (err error) {
		body, err = r.b.GetRange(ctx, key, off, n)
		return err
	})
	return body, err
}

func (r *retrying) Head(ctx context.Context, key string) (info Info, err error) {
	_, err = r.do(ctx, OpHead, func(ctx context.Context) (err error) {
		info, err = r.b.Head(ctx, key)
		return err
	})
	return info, err
}

func (r *retrying) Delete(ctx context.Context, key string) error {
	_, err := r.do(ctx, OpDelete, func(ctx context.Context) error { return r.b.Delete(ctx, key) })
	return err
}

func (r *retrying) List(ctx context.Context, prefix string) iter.Seq2[Info, error] {
	return func(yield func(Info, error) bool) {
		var last string // the last key yielded; keys at or below it are skipped
		started := false
		attempt := 1
		for {
			var failed error
			for info, err := range r.b.List(ctx, prefix) {
				if err != nil {
					failed = err
					break
				}
				if started && info.Key <= last {
					continue
				}
				started, last, attempt = true, info.Key, 1
				if !yield(info, nil) {
					return
				}
			}
			if failed == nil {
				return
			}
			if !errors.Is(failed, ErrUnavailable) || attempt >= r.cfg.MaxAttempts {
				yield(Info{}, failed)
				return
			}
			if err := r.backoff(ctx, OpList, attempt, failed); err != nil {
				yield(Info{}, err)
				return
			}
			attempt++
		}
	}
}
