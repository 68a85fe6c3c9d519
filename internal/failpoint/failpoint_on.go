//go:build failpoints

package failpoint

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
)

var (
	armed, nth = parse(os.Getenv("STRATA_CRASH_AT"))
	hits       atomic.Int64
)

func parse(v string) (string, int64) {
	name, n, ok := strings.Cut(v, "@")
	if !ok {
		return name, 1
	}
	k, err := strconv.ParseInt(n, 10, 64)
	if err != nil || k < 1 {
		fmt.Fprintf(os.Stderr, "STRATA_CRASH_AT=%q: want <name> or <name>@<n> with n >= 1\n", v)
		os.Exit(2)
	}
	return name, k
}

// Hit exits the process with status 137 if name is the armed point and
// this is the n-th time it is reached.
func Hit(name string) {
	if name != armed || hits.Add(1) != nth {
		return
	}
	fmt.Fprintf(os.Stderr, "crash failpoint reached: %s (hit %d)\n", name, nth)
	os.Exit(137)
}

// Enabled reports whether the binary was built with failpoints.
const Enabled = true
