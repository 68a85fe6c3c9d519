package locallog

import (
	"fmt"
	"strings"
	"time"
)

// FsyncMode says when appended bytes are forced to stable storage.
type FsyncMode int

const (
	// FsyncAlways answers acks=all only after a group-committed fsync, and
	// makes records visible to consumers only once they are durable.
	FsyncAlways FsyncMode = iota
	// FsyncInterval fsyncs every Interval; records are visible and acked as
	// soon as they are written to the file.
	FsyncInterval
	// FsyncNever leaves flushing to the operating system (and Close).
	FsyncNever
)

// FsyncPolicy is the parsed form of the --fsync flag.
type FsyncPolicy struct {
	Mode     FsyncMode
	Interval time.Duration // only for FsyncInterval
}

// ParseFsync parses "always", "never" or "interval:<duration>".
func ParseFsync(s string) (FsyncPolicy, error) {
	switch {
	case s == "always":
		return FsyncPolicy{Mode: FsyncAlways}, nil
	case s == "never":
		return FsyncPolicy{Mode: FsyncNever}, nil
	case strings.HasPrefix(s, "interval:"):
		d, err := time.ParseDuration(strings.TrimPrefix(s, "interval:"))
		if err != nil {
			return FsyncPolicy{}, fmt.Errorf("fsync %q: %w", s, err)
		}
		if d <= 0 {
			return FsyncPolicy{}, fmt.Errorf("fsync %q: interval must be positive", s)
		}
		return FsyncPolicy{Mode: FsyncInterval, Interval: d}, nil
	}
	return FsyncPolicy{}, fmt.Errorf("fsync %q: want always, never or interval:<duration>", s)
}

// String returns the flag form of p.
func (p FsyncPolicy) String() string {
	switch p.Mode {
	case FsyncAlways:
		return "always"
	case FsyncNever:
		return "never"
	}
	return "interval:" + p.Interval.String()
}
