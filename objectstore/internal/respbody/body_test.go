package respbody

import (
	"bytes"
	"errors"
	"io"
	"runtime"
	"strings"
	"testing"
)

func TestRead(t *testing.T) {
	for _, tc := range []struct {
		in      string
		size    int64
		want    string
		wantErr bool
	}{
		{"hello", 5, "hello", false},
		{"", 0, "", false},
		{"hello", -1, "hello", false},
		{"hell", 5, "", true},
		{"hello!", 5, "", true},
		{"", 1, "", true},
		{"x", MaxBytes + 1, "", true},
	} {
		got, err := Read(strings.NewReader(tc.in), tc.size)
		if (err != nil) != tc.wantErr || (err == nil && !bytes.Equal(got, []byte(tc.want))) {
			t.Errorf("Read(%q, %d) = %q, %v", tc.in, tc.size, got, err)
		}
		if err != nil && !errors.Is(err, ErrLength) {
			t.Errorf("Read(%q, %d): %v does not wrap ErrLength", tc.in, tc.size, err)
		}
	}
	if _, err := Read(strings.NewReader("ab"), 3); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("short body: %v, want io.ErrUnexpectedEOF", err)
	}
}

func TestReadAllocatesOnlyTheBody(t *testing.T) {
	src := bytes.NewReader(bytes.Repeat([]byte{1}, 8<<20))
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	if _, err := Read(src, src.Size()); err != nil {
		t.Fatal(err)
	}
	runtime.ReadMemStats(&after)
	if got := after.TotalAlloc - before.TotalAlloc; got > 9<<20 {
		t.Errorf("reading 8 MiB allocated %d bytes, want about 8 MiB", got)
	}
}
