package faulty_test

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"github.com/strata-io/strata/objectstore"
	"github.com/strata-io/strata/objectstore/faulty"
	"github.com/strata-io/strata/objectstore/mem"
	"github.com/strata-io/strata/objectstore/storetest"
)

func TestWithoutRulesConforms(t *testing.T) {
	storetest.Run(t, func(*testing.T) objectstore.Bucket { return faulty.New(mem.New(), 1) })
}

func TestFailNthFailsOnlyThatCall(t *testing.T) {
	inner := mem.New()
	f := faulty.New(inner, 1)
	f.Inject(faulty.FailNth(objectstore.OpPut, 2, nil))
	ctx := t.Context()
	for i := 1; i <= 3; i++ {
		_, err := f.Put(ctx, fmt.Sprint(i), []byte("x"))
		if (i == 2) != (err != nil) {
			t.Fatalf("Put #%d: %v", i, err)
		}
		if i == 2 && !errors.Is(err, objectstore.ErrUnavailable) {
			t.Fatalf("Put #2: %v, want ErrUnavailable", err)
		}
	}
	if _, err := inner.Head(ctx, "2"); !errors.Is(err, objectstore.ErrNotExist) {
		t.Fatalf("the failed Put wrote: %v", err)
	}
	if f.Fired() != 1 || f.Calls(objectstore.OpPut) != 3 {
		t.Fatalf("fired %d, calls %d", f.Fired(), f.Calls(objectstore.OpPut))
	}
}

func TestFailRateIsSeeded(t *testing.T) {
	pattern := func(seed uint64) []bool {
		f := faulty.New(mem.New(), seed)
		f.Inject(faulty.FailRate("", 0.3))
		var failed []bool
		for i := range 200 {
			_, err := f.Put(t.Context(), fmt.Sprint(i), nil)
			failed = append(failed, err != nil)
		}
		return failed
	}
	a, b, c := pattern(7), pattern(7), pattern(8)
	if !slices.Equal(a, b) {
		t.Fatal("the same seed gave different failures")
	}
	if slices.Equal(a, c) {
		t.Fatal("different seeds gave the same failures")
	}
	n := 0
	for _, x := range a {
		if x {
			n++
		}
	}
	if n < 30 || n > 90 {
		t.Fatalf("%d of 200 calls failed at rate 0.3", n)
	}
}

func TestLatencyDelaysCalls(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := faulty.New(mem.New(), 1)
		f.Inject(faulty.Latency(objectstore.OpHead, 250*time.Millisecond))
		start := time.Now()
		_, err := f.Head(t.Context(), "k")
		if !errors.Is(err, objectstore.ErrNotExist) {
			t.Fatal(err)
		}
		if d := time.Since(start); d != 250*time.Millisecond {
			t.Fatalf("Head took %v, want 250ms", d)
		}
	})
}

func TestLoseRaceWritesNothing(t *testing.T) {
	inner := mem.New()
	f := faulty.New(inner, 1)
	f.Inject(faulty.LoseRaceNth(1))
	ctx := t.Context()
	if _, err := f.PutIfAbsent(ctx, "m", []byte("mine")); !errors.Is(err, objectstore.ErrPreconditionFailed) {
		t.Fatalf("PutIfAbsent: %v", err)
	}
	if _, err := inner.Head(ctx, "m"); !errors.Is(err, objectstore.ErrNotExist) {
		t.Fatalf("a lost race wrote: %v", err)
	}
	if _, err := f.PutIfAbsent(ctx, "m", []byte("mine")); err != nil {
		t.Fatalf("second PutIfAbsent: %v", err)
	}
}

func TestCompetingWriteWins(t *testing.T) {
	f := faulty.New(mem.New(), 1)
	ctx := t.Context()
	etag, err := f.Put(ctx, "m", []byte("v1"))
	if err != nil {
		t.Fatal(err)
	}
	f.Inject(faulty.CompetingWriteNth(1, []byte("theirs")))
	if _, err := f.PutIfMatch(ctx, "m", []byte("mine"), etag); !errors.Is(err, objectstore.ErrPreconditionFailed) {
		t.Fatalf("PutIfMatch: %v", err)
	}
	if body, _, _ := f.Get(ctx, "m"); string(body) != "theirs" {
		t.Fatalf("object = %q", body)
	}
}

func TestTimeoutAfterWriteWrites(t *testing.T) {
	f := faulty.New(mem.New(), 1)
	ctx := t.Context()
	f.Inject(faulty.TimeoutAfterWrite(objectstore.OpPut, 1))
	_, err := f.Put(ctx, "k", []byte("v"))
	if !errors.Is(err, faulty.ErrTimeout) || !errors.Is(err, objectstore.ErrUnavailable) {
		t.Fatalf("Put: %v, want ErrTimeout", err)
	}
	if body, _, err := f.Get(ctx, "k"); err != nil || string(body) != "v" {
		t.Fatalf("Get = %q, %v; the write should have happened", body, err)
	}
}

func TestHaltStopsEverything(t *testing.T) {
	inner := mem.New()
	ctx := t.Context()
	for _, tc := range []struct {
		rule      faulty.Rule
		wantWrite bool
	}{
		{faulty.HaltAt(objectstore.OpPut, 2), false},
		{faulty.HaltAfterNth(objectstore.OpPut, 2), true},
	} {
		f := faulty.New(inner, 1)
		f.Inject(tc.rule)
		if _, err := f.Put(ctx, "seg/1", []byte("1")); err != nil {
			t.Fatal(err)
		}
		if _, err := f.Put(ctx, "seg/2", []byte("2")); !errors.Is(err, faulty.ErrHalted) {
			t.Fatalf("%+v: Put #2: %v, want ErrHalted", tc.rule, err)
		}
		if !f.Halted() {
			t.Fatalf("%+v: not halted", tc.rule)
		}
		_, err := inner.Head(ctx, "seg/2")
		if wrote := err == nil; wrote != tc.wantWrite {
			t.Fatalf("%+v: seg/2 written = %v, want %v", tc.rule, wrote, tc.wantWrite)
		}
		if _, _, err := f.Get(ctx, "seg/1"); !errors.Is(err, faulty.ErrHalted) {
			t.Fatalf("Get after the halt: %v", err)
		}
		for _, err := range f.List(ctx, "") {
			if !errors.Is(err, faulty.ErrHalted) {
				t.Fatalf("List after the halt: %v", err)
			}
		}
		f.Clear()
		if _, _, err := f.Get(ctx, "seg/1"); err != nil {
			t.Fatalf("Get after Clear: %v", err)
		}
		if err := inner.Delete(ctx, "seg/2"); err != nil {
			t.Fatal(err)
		}
	}
}

func TestRulesMatchOpAndKeyPrefix(t *testing.T) {
	f := faulty.New(mem.New(), 1)
	ctx := t.Context()
	f.Inject(faulty.Rule{Op: faulty.Conditional, KeyPrefix: "manifest/", Action: faulty.Fail})
	if _, err := f.Put(ctx, "manifest/a", nil); err != nil {
		t.Fatalf("plain Put: %v", err)
	}
	if _, err := f.PutIfAbsent(ctx, "segments/a", nil); err != nil {
		t.Fatalf("PutIfAbsent outside the prefix: %v", err)
	}
	if _, err := f.PutIfAbsent(ctx, "manifest/b", nil); !errors.Is(err, faulty.ErrInjected) {
		t.Fatalf("PutIfAbsent under the prefix: %v", err)
	}
	if _, err := f.PutIfMatch(ctx, "manifest/a", nil, "x"); !errors.Is(err, faulty.ErrInjected) {
		t.Fatalf("PutIfMatch under the prefix: %v", err)
	}
}

func TestListFailsAfterItems(t *testing.T) {
	f := faulty.New(mem.New(), 1)
	ctx := t.Context()
	for i := range 5 {
		if _, err := f.Put(ctx, fmt.Sprint(i), nil); err != nil {
			t.Fatal(err)
		}
	}
	f.Inject(faulty.Rule{Op: objectstore.OpList, Nth: 1, Action: faulty.Fail, AfterItems: 2})
	var keys []string
	var errs []error
	for info, err := range f.List(ctx, "") {
		if err != nil {
			errs = append(errs, err)
			continue
		}
		keys = append(keys, info.Key)
	}
	if !slices.Equal(keys, []string{"0", "1"}) || len(errs) != 1 || !errors.Is(errs[0], faulty.ErrInjected) {
		t.Fatalf("List yielded %q and %v", keys, errs)
	}
}

func TestInjectPanicsOnMeaninglessRules(t *testing.T) {
	for _, r := range []faulty.Rule{{Op: objectstore.OpGet}, {Action: faulty.Fail, Nth: 1, Rate: 0.5}} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("Inject(%+v) did not panic", r)
				}
			}()
			faulty.New(mem.New(), 1).Inject(r)
		}()
	}
}
