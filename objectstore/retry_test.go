package objectstore_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"github.com/strata-io/strata/objectstore"
	"github.com/strata-io/strata/objectstore/faulty"
	"github.com/strata-io/strata/objectstore/mem"
)

// sleeps is a RetryConfig.Sleep that records the delays and returns at once.
type sleeps []time.Duration

func (s *sleeps) sleep(ctx context.Context, d time.Duration) error {
	*s = append(*s, d)
	return ctx.Err()
}

func half() float64 { return 0.5 }

func newRetrying(t *testing.T, cfg objectstore.RetryConfig) (objectstore.Bucket, *faulty.Bucket, *sleeps) {
	t.Helper()
	var s sleeps
	if cfg.Sleep == nil {
		cfg.Sleep = s.sleep
	}
	if cfg.Jitter == nil {
		cfg.Jitter = half
	}
	f := faulty.New(mem.New(), 1)
	return objectstore.WithRetry(f, cfg), f, &s
}

func TestRetryRetriesTransientErrorsWithBackoff(t *testing.T) {
	var retries []string
	b, f, s := newRetrying(t, objectstore.RetryConfig{
		BaseDelay: 100 * time.Millisecond,
		MaxDelay:  300 * time.Millisecond,
		OnRetry: func(op objectstore.Op, attempt int, err error, d time.Duration) {
			retries = append(retries, fmt.Sprintf("%s#%d %v", op, attempt, d))
		},
	})
	ctx := t.Context()
	if _, err := b.Put(ctx, "k", []byte("v")); err != nil {
		t.Fatal(err)
	}
	f.Inject(faulty.FailNth(objectstore.OpGet, 1, nil), faulty.FailNth(objectstore.OpGet, 2, nil),
		faulty.FailNth(objectstore.OpGet, 3, nil), faulty.FailNth(objectstore.OpGet, 4, nil))
	// Four calls fail and the fifth, the last allowed, succeeds.
	body, _, err := b.Get(ctx, "k")
	if err != nil || string(body) != "v" {
		t.Fatalf("Get = %q, %v", body, err)
	}
	if got := f.Calls(objectstore.OpGet); got != 5 {
		t.Errorf("%d calls, want 5", got)
	}
	want := sleeps{50 * time.Millisecond, 100 * time.Millisecond, 150 * time.Millisecond, 150 * time.Millisecond}
	if !slices.Equal(*s, want) {
		t.Errorf("slept %v, want %v (doubling from 100ms, capped at 300ms, times jitter 0.5)", *s, want)
	}
	if len(retries) != 4 || retries[0] != "get#1 50ms" {
		t.Errorf("OnRetry calls %q", retries)
	}
}

func TestRetryGivesUpAfterMaxAttempts(t *testing.T) {
	b, f, s := newRetrying(t, objectstore.RetryConfig{MaxAttempts: 3})
	f.Inject(faulty.FailRate(objectstore.OpPut, 1))
	_, err := b.Put(t.Context(), "k", []byte("v"))
	if !errors.Is(err, objectstore.ErrUnavailable) {
		t.Fatalf("Put: %v, want ErrUnavailable", err)
	}
	if got := f.Calls(objectstore.OpPut); got != 3 || len(*s) != 2 {
		t.Errorf("%d calls and %d sleeps, want 3 and 2", got, len(*s))
	}
}

func TestRetryDoesNotRetryFinalErrors(t *testing.T) {
	b, f, _ := newRetrying(t, objectstore.RetryConfig{})
	ctx := t.Context()
	etag, err := b.Put(ctx, "k", []byte("v"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		op   objectstore.Op
		call func() error
		want error
	}{
		{objectstore.OpGet, func() error { _, _, err := b.Get(ctx, "missing"); return err }, objectstore.ErrNotExist},
		{objectstore.OpHead, func() error { _, err := b.Head(ctx, "missing"); return err }, objectstore.ErrNotExist},
		{objectstore.OpPutIfAbsent, func() error { _, err := b.PutIfAbsent(ctx, "k", nil); return err }, objectstore.ErrPreconditionFailed},
		{objectstore.OpPutIfMatch, func() error { _, err := b.PutIfMatch(ctx, "k", nil, etag+"x"); return err }, objectstore.ErrPreconditionFailed},
		{objectstore.OpPut, func() error { _, err := b.Put(ctx, "/bad", nil); return err }, objectstore.ErrInvalidKey},
		{objectstore.OpGetRange, func() error { _, err := b.GetRange(ctx, "k", 10, 1); return err }, objectstore.ErrInvalidRange},
	} {
		before := f.Calls(tc.op)
		if err := tc.call(); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.op, err, tc.want)
		}
		if n := f.Calls(tc.op) - before; n != 1 {
			t.Errorf("%s: %d calls, want 1", tc.op, n)
		}
	}
	// A halted bucket (a crash) is not transient either.
	f.Halt()
	if _, _, err := b.Get(ctx, "k"); !errors.Is(err, faulty.ErrHalted) || f.Calls(objectstore.OpGet) != 2 {
		t.Errorf("Get on a halted bucket: %v after %d calls", err, f.Calls(objectstore.OpGet))
	}
}

func TestRetryStopsWhenContextEnds(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	b, f, _ := newRetrying(t, objectstore.RetryConfig{
		Sleep: func(ctx context.Context, _ time.Duration) error {
			cancel()
			return ctx.Err()
		},
	})
	f.Inject(faulty.FailRate(objectstore.OpHead, 1))
	_, err := b.Head(ctx, "k")
	if !errors.Is(err, objectstore.ErrUnavailable) || !errors.Is(err, context.Canceled) {
		t.Fatalf("Head: %v, want ErrUnavailable and context.Canceled", err)
	}
	if got := f.Calls(objectstore.OpHead); got != 1 {
		t.Errorf("%d calls, want 1", got)
	}
}

func TestRetryWaitsWithRealTimers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := faulty.New(mem.New(), 1)
		b := objectstore.WithRetry(f, objectstore.RetryConfig{BaseDelay: time.Second, Jitter: half})
		f.Inject(faulty.FailNth(objectstore.OpPut, 1, nil), faulty.FailNth(objectstore.OpPut, 2, nil))
		start := time.Now()
		if _, err := b.Put(t.Context(), "k", []byte("v")); err != nil {
			t.Fatal(err)
		}
		if got, want := time.Since(start), 1500*time.Millisecond; got != want {
			t.Errorf("took %v of fake time, want %v", got, want)
		}
	})
}

func TestBackoffIsCappedAndJittered(t *testing.T) {
	cfg := objectstore.RetryConfig{BaseDelay: time.Millisecond, MaxDelay: time.Second, Jitter: func() float64 { return 0.999 }}
	for attempt := 1; attempt < 200; attempt++ {
		d := cfg.Backoff(attempt)
		if d <= 0 || d >= time.Second {
			t.Fatalf("Backoff(%d) = %v, want in (0, 1s)", attempt, d)
		}
	}
	cfg.Jitter = nil
	seen := map[time.Duration]bool{}
	for range 20 {
		seen[cfg.Backoff(30)] = true
	}
	if len(seen) < 2 {
		t.Errorf("20 backoffs with the default jitter were all equal: %v", seen)
	}
}

func TestRetryOfAmbiguousPutIfAbsentSucceedsIfItsWriteLanded(t *testing.T) {
	b, f, _ := newRetrying(t, objectstore.RetryConfig{})
	ctx := t.Context()
	f.Inject(faulty.TimeoutAfterWrite(objectstore.OpPutIfAbsent, 1))
	etag, err := b.PutIfAbsent(ctx, "m", []byte("mine"))
	if err != nil {
		t.Fatalf("PutIfAbsent whose first try landed but timed out: %v", err)
	}
	if info, err := b.Head(ctx, "m"); err != nil || info.ETag != etag {
		t.Fatalf("Head = %+v, %v; PutIfAbsent returned ETag %q", info, err, etag)
	}
	// A plain conflict is still a conflict.
	if _, err := b.PutIfAbsent(ctx, "m", []byte("mine")); !errors.Is(err, objectstore.ErrPreconditionFailed) {
		t.Fatalf("second PutIfAbsent: %v", err)
	}
}

func TestRetryOfAmbiguousPutIfMatchSucceedsIfItsWriteLanded(t *testing.T) {
	b, f, _ := newRetrying(t, objectstore.RetryConfig{})
	ctx := t.Context()
	e1, err := b.Put(ctx, "m", []byte("v1"))
	if err != nil {
		t.Fatal(err)
	}
	f.Inject(faulty.TimeoutAfterWrite(objectstore.OpPutIfMatch, 1))
	e2, err := b.PutIfMatch(ctx, "m", []byte("v2"), e1)
	if err != nil {
		t.Fatalf("PutIfMatch whose first try landed but timed out: %v", err)
	}
	body, info, err := b.Get(ctx, "m")
	if err != nil || string(body) != "v2" || info.ETag != e2 {
		t.Fatalf("Get = %q %+v %v, want v2 with ETag %q", body, info, err, e2)
	}
}

func TestRetryOfAmbiguousPutIfMatchLosesToAnotherWriter(t *testing.T) {
	b, f, _ := newRetrying(t, objectstore.RetryConfig{})
	ctx := t.Context()
	e1, err := b.Put(ctx, "m", []byte("v1"))
	if err != nil {
		t.Fatal(err)
	}
	// The first try fails without writing; before the second, another
	// writer replaces the object.
	f.Inject(faulty.FailNth(objectstore.OpPutIfMatch, 1, nil), faulty.CompetingWriteNth(2, []byte("theirs")))
	if _, err := b.PutIfMatch(ctx, "m", []byte("mine"), e1); !errors.Is(err, objectstore.ErrPreconditionFailed) {
		t.Fatalf("PutIfMatch: %v, want ErrPreconditionFailed", err)
	}
	if body, _, _ := b.Get(ctx, "m"); string(body) != "theirs" {
		t.Fatalf("object = %q, want theirs", body)
	}
}

func TestRetryOfAmbiguousWriteIsUnavailableWhenReadBackFails(t *testing.T) {
	b, f, _ := newRetrying(t, objectstore.RetryConfig{MaxAttempts: 2})
	ctx := t.Context()
	f.Inject(faulty.TimeoutAfterWrite(objectstore.OpPutIfAbsent, 1), faulty.FailRate(objectstore.OpGet, 1))
	_, err := b.PutIfAbsent(ctx, "m", []byte("mine"))
	if !errors.Is(err, objectstore.ErrUnavailable) || errors.Is(err, objectstore.ErrPreconditionFailed) {
		t.Fatalf("PutIfAbsent: %v, want ErrUnavailable only", err)
	}
}

func TestRetryListResumesAfterTheLastKey(t *testing.T) {
	b, f, s := newRetrying(t, objectstore.RetryConfig{MaxAttempts: 2})
	ctx := t.Context()
	var want []string
	for i := range 10 {
		k := fmt.Sprintf("l/%02d", i)
		want = append(want, k)
		if _, err := b.Put(ctx, k, nil); err != nil {
			t.Fatal(err)
		}
	}
	// Three failures in a row at different points: each one after progress,
	// so MaxAttempts (2) is not exhausted.
	f.Inject(
		faulty.Rule{Op: objectstore.OpList, Nth: 1, Action: faulty.Fail, AfterItems: 3},
		faulty.Rule{Op: objectstore.OpList, Nth: 2, Action: faulty.Fail, AfterItems: 5},
		faulty.Rule{Op: objectstore.OpList, Nth: 3, Action: faulty.Fail, AfterItems: 9},
	)
	var got []string
	for info, err := range b.List(ctx, "l/") {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, info.Key)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("List = %q, want %q", got, want)
	}
	if len(*s) != 3 {
		t.Errorf("slept %d times, want 3", len(*s))
	}
}

func TestRetryListGivesUpWithoutProgress(t *testing.T) {
	b, f, _ := newRetrying(t, objectstore.RetryConfig{MaxAttempts: 3})
	ctx := t.Context()
	if _, err := b.Put(ctx, "k", nil); err != nil {
		t.Fatal(err)
	}
	f.Inject(faulty.FailRate(objectstore.OpList, 1))
	var errs []error
	for _, err := range b.List(ctx, "") {
		errs = append(errs, err)
	}
	if len(errs) != 1 || !errors.Is(errs[0], objectstore.ErrUnavailable) || f.Calls(objectstore.OpList) != 3 {
		t.Fatalf("List yielded %v after %d calls, want one ErrUnavailable after 3", errs, f.Calls(objectstore.OpList))
	}
}

// A try that gets no answer within AttemptTimeout (a hung connection, a
// stalled server) fails as ErrUnavailable and is retried, instead of holding
// the caller for ever; a store that never answers fails the call after
// MaxAttempts tries.
func TestRetryTimesOutAHungTry(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := faulty.New(mem.New(), 1)
		b := objectstore.WithRetry(f, objectstore.RetryConfig{AttemptTimeout: 10 * time.Second, BaseDelay: time.Second, Jitter: half})
		ctx := t.Context()
		if _, err := b.Put(ctx, "k", []byte("v")); err != nil {
			t.Fatal(err)
		}
		f.Inject(faulty.Rule{Op: objectstore.OpGet, Nth: 1, Action: faulty.Delay, Latency: time.Hour})
		start := time.Now()
		body, _, err := b.Get(ctx, "k")
		if err != nil || string(body) != "v" {
			t.Fatalf("Get after a hung try = %q, %v", body, err)
		}
		if got, want := time.Since(start), 10*time.Second+500*time.Millisecond; got != want {
			t.Errorf("took %v of fake time, want %v (the timeout, then one backoff)", got, want)
		}

		f.Clear()
		f.Inject(faulty.Rule{Op: objectstore.OpHead, Rate: 1, Action: faulty.Delay, Latency: time.Hour})
		if _, err := b.Head(ctx, "k"); !errors.Is(err, objectstore.ErrUnavailable) {
			t.Fatalf("Head of a store that never answers: %v, want ErrUnavailable", err)
		}
		if got := f.Calls(objectstore.OpHead); got != objectstore.DefaultMaxAttempts {
			t.Errorf("%d tries, want %d", got, objectstore.DefaultMaxAttempts)
		}
	})
}
